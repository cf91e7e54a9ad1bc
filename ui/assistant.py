"""The panel's chat with the hub's assistant (``/assistant``), without the widgets: who may
ask, one question answered through the hub's own agent and conversation memory as the
signed-in user, the pieces streamed to the page as the router yields them, and the bounded
history a browser session keeps.

The answer comes from ``hub.assistant.agent`` (:class:`~hub.ask.Agent`: the hub's tool agent,
which acts on the exposed entities with the asking user's rights, or the plain one) with the
conversation's history and pending confirmations, as ``Assistant.ask`` does for the REST API.
The agent gets the router wrapped in :class:`Tuned`, which applies the page's choices (tier
preference, repeatable answers) and turns each ``generate`` into the router's ``stream`` (tool
rounds too: their calls come with the result) so the page sees the tokens as they come. The
actions the agent ran or tried, and the calls waiting for a yes, are shown under the answer.

Everything in a reply is untrusted (model output, model names and error text from the
network): the page puts it in text elements only, clipped to :data:`MAX_TEXT` characters.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from spark.core.errors import ServiceError
from spark.core.messages.llm import LlmChunk, LlmEvent, LlmRequest, LlmResult, LlmSource, Tier
from spark.hub.llm.errors import LlmError
from spark.hub.llm.router import BackendModels, Embeddings
from spark.hub.llm.service import LlmService
from spark.hub.llm.stats import RoutingStats
from spark.hub.policy import Caller
from spark.hub.view import HubView
from spark.ui.api.auth import Principal

MAX_SHOWN = 50  # messages a browser session keeps and shows (questions and answers)
MAX_TEXT = 4000  # characters of one message shown; the rest is cut with a note
MAX_TOOLS = 10  # tool lines shown under one answer
MAX_TOOL_TEXT = 300
MAX_FIELD = 120  # a model name or backend name from the network
STORE_KEY = "assistant"
STREAMED_FIELDS = frozenset({"model", "messages", "prompt", "system", "options", "stream",
                             "prefer", "cache", "tools", "tool_choice"})
NOT_CONFIGURED = ("No LLM backend is configured: add at least one under llm.backends in the "
                  "config (see the README, 'Assistant / LLM router').")


def clip(text: str, limit: int = MAX_TEXT) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and its full length when it was cut (else 0)."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text))


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def source_line(source: dict[str, Any]) -> str:
    """Who answered, how fast, at what cost: one line of text under an answer."""
    model, _ = clip(str(source.get("model", "")), MAX_FIELD)
    tokens_in, tokens_out = source.get("input_tokens"), source.get("output_tokens")
    parts = [f"{source.get('backend', '?')} ({source.get('tier', '?')} tier)", model,
             "cached" if source.get("cached") else "not cached",
             f"first token {ms(source.get('ttft_ms'))}", f"total {ms(source.get('total_ms'))}",
             f"tokens {'–' if tokens_in is None else tokens_in} in / "
             f"{'–' if tokens_out is None else tokens_out} out"]
    route = source.get("route") or []
    if len(route) > 1:
        parts.append("tried " + " → ".join(str(r) for r in route))
    if source.get("note"):
        parts.append(str(source["note"]))
    return " · ".join(parts)


@dataclass(slots=True)
class Reply:
    text: str
    source: LlmSource | None  # None: answered without the LLM (e.g. a confirmation)
    tools: list[str] = field(default_factory=list)


class Tuned:
    """The router as the agent sees it from the page: the page's tier preference and
    "repeatable" choice applied to every request; each ``generate`` streamed, each piece to
    ``on_piece`` (``on_round`` first: the agent makes one call per tool round). A request with
    a field the router's stream does not know is passed on whole."""

    def __init__(self, llm: LlmService, prefer: Tier | None, repeatable: bool,
                 on_piece: Callable[[str], None], on_round: Callable[[], None]) -> None:
        self.llm, self.prefer, self.repeatable = llm, prefer, repeatable
        self.on_piece, self.on_round = on_piece, on_round

    def tune(self, request: LlmRequest) -> LlmRequest:
        update: dict[str, Any] = {}
        if self.prefer is not None:
            update["prefer"] = self.prefer
        if self.repeatable:
            update["options"] = request.options.model_copy(update={"temperature": 0.0})
        return request.model_copy(update=update) if update else request

    async def generate(self, request: LlmRequest) -> LlmResult:
        request = self.tune(request)
        if not set(request.model_dump(exclude_defaults=True)) <= STREAMED_FIELDS:
            return await self.llm.generate(request)  # tools: the agent reads the whole answer
        self.on_round()
        result: LlmResult | None = None
        streamed = self.llm.stream(request.model_copy(update={"stream": True}))
        async with contextlib.aclosing(streamed) as events:  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, LlmChunk):
                    self.on_piece(event.text)
                else:
                    result = event
        if result is None:
            raise LlmError("the answer ended without its result")
        return result

    def stream(self, request: LlmRequest) -> AsyncIterator[LlmEvent]:
        return self.llm.stream(self.tune(request))

    async def models(self) -> list[BackendModels]:
        return await self.llm.models()

    async def embed(self, inputs: list[str], model: str = "embed",
                    prefer: Tier | None = None) -> Embeddings:
        return await self.llm.embed(inputs, model, prefer or self.prefer)

    def stats(self) -> RoutingStats:
        return self.llm.stats()


class Chat:
    """One panel user asking the hub's assistant (``hub.policy``'s ``ask`` right, as the
    REST routes check theirs); the memory is the hub's, under ``panel/<user>``."""

    def __init__(self, hub: HubView, principal: Principal) -> None:
        self.hub = hub
        self.principal = principal
        self.caller = Caller.user(principal.username, principal.role)
        self.memory_key = f"panel/{principal.username}"  # no broker account has a '/'

    def refusal(self) -> str | None:
        """Why this user cannot ask now, or None."""
        try:
            self.hub.assistant.policy.check_method(self.caller, "ask")
        except ServiceError as exc:
            return f"Your role cannot use the assistant: {exc}."
        if self.hub.llm is None:
            return NOT_CONFIGURED
        return None

    async def ask(self, conversation_id: str, question: str, tuned: Tuned) -> Reply:
        """The answer, its pieces streamed through ``tuned``. Raises ServiceError (refused,
        question too long) or LlmError (NoBackend, StreamBroken)."""
        assistant = self.hub.assistant
        refused = self.refusal()
        if refused is not None:
            raise ServiceError(refused)
        limit = assistant.config.max_question_chars
        if len(question) > limit:
            raise ServiceError(f"The question is longer than {limit} characters.")
        return await self._answer(conversation_id, question, tuned)

    async def _answer(self, conversation_id: str, question: str, tuned: Tuned) -> Reply:
        """The hub's agent with its memory: the one place that knows the agent's interface."""
        assistant = self.hub.assistant
        key = self.memory_key
        history = assistant.conversations.history(key, conversation_id)
        pending = assistant.conversations.pending(key, conversation_id)
        answer = await assistant.agent.answer(tuned, history, question, self.caller, pending)
        assistant.conversations.add(key, conversation_id, *answer.remember,
                                    pending=answer.pending)
        lines = [action_line(a) for a in answer.actions[-MAX_TOOLS:]]
        lines += [f"waiting for a yes: {p.service} {p.entity_id}" for p in answer.pending]
        return Reply(answer.text.strip(), answer.source,
                     [clip(line, MAX_TOOL_TEXT)[0] for line in lines[-MAX_TOOLS:]])


def action_line(action: dict[str, Any]) -> str:
    """One action the agent ran or tried, in words (``tool``, ``entity_id``, ``data``, ``ok``,
    ``state`` / ``error``, ``repairs``: all from the model or the registry: text only)."""
    what = f"{action.get('tool', '?')} {action.get('entity_id') or ''}".strip()
    if action.get("data"):
        what += " " + orjson.dumps(action["data"]).decode()[:100]
    if action.get("pending"):
        outcome = "asked to confirm"
    elif action.get("ok"):
        outcome = f"ok, state {action['state']}" if "state" in action else "ok"
    else:
        outcome = f"not done: {action.get('error') or 'failed'}"
    repairs = action.get("repairs")
    return f"{what}: {outcome}" + (f" (repaired: {'; '.join(map(str, repairs))})"
                                   if repairs else "")


class History:
    """The messages one browser session shows, in its server-side storage (shared by the
    browser's tabs, read afresh each time): a conversation id and at most :data:`MAX_SHOWN`
    messages, each clipped (plain JSON values only)."""

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self.store = store

    def _kept(self) -> dict[str, Any]:
        kept = self.store.get(STORE_KEY)
        if not isinstance(kept, dict) or not isinstance(kept.get("id"), str) \
                or not isinstance(kept.get("messages"), list):
            kept = {"id": uuid.uuid4().hex, "messages": []}
            self.store[STORE_KEY] = kept
        return kept

    @property
    def conversation_id(self) -> str:
        return str(self._kept()["id"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self._kept()["messages"])[-MAX_SHOWN:]

    def add(self, role: str, text: str, *, source: LlmSource | None = None,
            tools: list[str] | None = None, error: str | None = None,
            stopped: bool = False, conversation_id: str | None = None) -> dict[str, Any]:
        """Keep a message (not when ``conversation_id`` is given and was restarted since)."""
        shown, full = clip(text)
        message: dict[str, Any] = {"role": role, "text": shown, "full_length": full,
                                   "source": None if source is None else
                                   source.model_dump(mode="json", exclude_none=True),
                                   "tools": list(tools or [])[:MAX_TOOLS],
                                   "error": None if error is None else clip(error, 1000)[0],
                                   "stopped": stopped}
        kept = self._kept()
        if conversation_id is not None and conversation_id != kept["id"]:
            return message
        messages = [*kept["messages"], message][-MAX_SHOWN:]
        self.store[STORE_KEY] = {"id": kept["id"], "messages": messages}  # set: NiceGUI saves
        return message

    def restart(self) -> None:
        self.store[STORE_KEY] = {"id": uuid.uuid4().hex, "messages": []}
