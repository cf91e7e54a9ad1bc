"""The Assistant page's logic without a browser (tests/test_ui_assistant.py drives it in
Chromium): the bounded history a browser session keeps, the source line, and how the page's
choices tune the agent's requests."""

from __future__ import annotations

from typing import Any

from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest, LlmSource
from spark.ui.assistant import (
    MAX_SHOWN,
    MAX_TEXT,
    STORE_KEY,
    History,
    Tuned,
    action_line,
    source_line,
)

SOURCE = LlmSource(backend="edge", tier="edge", model="tiny", ttft_ms=41.24, total_ms=212.9,
                   input_tokens=18, output_tokens=8, route=["edge"])


def test_the_history_keeps_the_last_messages_each_clipped() -> None:
    store: dict[str, Any] = {}
    history = History(store)
    first = history.conversation_id
    for i in range(MAX_SHOWN + 7):
        history.add("user", f"question {i}")
    long = history.add("assistant", "x" * (MAX_TEXT + 10), source=SOURCE)
    kept = history.messages
    assert len(kept) == MAX_SHOWN and kept[0]["text"] == "question 8"
    assert len(long["text"]) == MAX_TEXT and long["full_length"] == MAX_TEXT + 10
    assert kept[-1]["source"]["tier"] == "edge" and "note" not in kept[-1]["source"]
    assert History(store).conversation_id == first  # another tab of the same browser


def test_a_restarted_conversation_drops_a_late_answer_of_the_old_one() -> None:
    store: dict[str, Any] = {}
    history = History(store)
    old = history.conversation_id
    history.add("user", "hello")
    history.restart()
    assert history.conversation_id != old and history.messages == []
    history.add("assistant", "late", conversation_id=old, stopped=True)
    assert history.messages == []


def test_a_broken_store_starts_over() -> None:
    store: dict[str, Any] = {STORE_KEY: {"id": 3, "messages": "x"}}
    assert History(store).messages == [] and isinstance(History(store).conversation_id, str)


def test_the_source_line() -> None:
    assert source_line(SOURCE.model_dump(mode="json", exclude_none=True)) == (
        "edge (edge tier) · tiny · not cached · first token 41 ms · total 213 ms · "
        "tokens 18 in / 8 out")
    cached = SOURCE.model_copy(update={"cached": True, "ttft_ms": 0.42, "total_ms": 0.42,
                                       "input_tokens": None, "route": ["edge", "cloud"],
                                       "note": "VPN down: edge only", "model": "m" * 500})
    line = source_line(cached.model_dump(mode="json", exclude_none=True))
    assert " · cached · first token 0.4 ms · total 0.4 ms · tokens – in / 8 out" in line
    assert line.endswith("tried edge → cloud · VPN down: edge only")
    assert "m" * 121 not in line


def test_the_page_choices_tune_each_request() -> None:
    request = LlmRequest(messages=[ChatMessage(role="user", content="hi")],
                         options=LlmOptions(temperature=0.7, num_predict=200))
    tuned = Tuned(None, "cloud", True, print, print)  # type: ignore[arg-type]
    out = tuned.tune(request)
    assert out.prefer == "cloud" and out.options.temperature == 0 and out.deterministic
    assert out.options.num_predict == 200 and out.cache_key() == request.model_copy(
        update={"options": LlmOptions(temperature=0, num_predict=200)}).cache_key()
    assert Tuned(None, None, False, print, print).tune(request) is request  # type: ignore[arg-type]


def test_each_action_in_words() -> None:
    assert action_line({"tool": "turn_on", "entity_id": "switch.lamp", "data": {}, "ok": True,
                        "state": "on"}) == "turn_on switch.lamp: ok, state on"
    assert action_line({"tool": "set_value", "entity_id": "number.sp", "data": {"value": 21.5},
                        "ok": True, "repairs": ["a number as a string"]}) == (
        'set_value number.sp {"value":21.5}: ok (repaired: a number as a string)')
    assert action_line({"tool": "unlock", "entity_id": "lock.door", "data": {}, "ok": None,
                        "pending": True}) == "unlock lock.door: asked to confirm"
    assert action_line({"tool": "toggle", "entity_id": None, "ok": False,
                        "error": "unknown entity 'x'"}) == "toggle: not done: unknown entity 'x'"
