"""``/assistant``: a chat with the hub's assistant, its answers streamed as the router yields
them, each with its source (backend, tier, model, cached, time to first token, total time,
tokens) and the tool actions it carries; Stop cancels a running answer (the backend's
connection is closed). A user whose role may not ``ask`` (``hub.policy``) sees why.

Every text from the model or the network goes into a label (text, never HTML); the session
keeps the last :data:`~ui.assistant.MAX_SHOWN` messages (:class:`~ui.assistant.History`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from nicegui import background_tasks, ui
from starlette.responses import Response

from spark.core.errors import ServiceError
from spark.core.messages.llm import TIERS, Tier
from spark.hub.llm.errors import LlmError, StreamBroken
from spark.ui.assistant import MAX_SHOWN, MAX_TEXT, Chat, History, Reply, Tuned, clip, source_line
from spark.ui.attrs import data
from spark.ui.pages.frame import CARD, frame, to_login
from spark.ui.panel import Panel

log = logging.getLogger(__name__)
AUTO = "auto"


def cut_note(full_length: int) -> str:
    return f"… cut here: the answer has {full_length} characters; the first {MAX_TEXT} are shown."


def memory_note(turns: int, idle_s: float) -> str:
    if turns == 0:
        return "The assistant remembers nothing between questions."
    idle = f"{idle_s / 60:g} minutes" if idle_s >= 60 else f"{idle_s:g} s"
    return (f"The assistant remembers the last {turns} questions of this conversation until "
            f"it is idle for {idle}; the page keeps the last {MAX_SHOWN} messages.")


class AnswerView:
    """One message on the page; an answer's text grows while it streams."""

    def __init__(self, role: str) -> None:
        mine = role == "user"
        box = ui.column().classes("gap-1 max-w-[85%] rounded px-3 py-2")
        if mine:
            box.classes("self-end bg-primary/30")
        else:
            box.classes("self-start bg-white/10")
        with data(box, "testid", "question" if mine else "answer") as self.box:
            ui.label("You" if mine else "Spark").classes("text-xs opacity-60")
            self.text = data(ui.label("").classes("whitespace-pre-wrap break-words"),
                             "testid", "text")
            self.note = ui.label("").classes("text-xs opacity-70")
            self.note.visible = False
            self.tools = ui.column().classes("gap-0")
            self.error = data(ui.label("").classes("text-negative text-sm whitespace-pre-wrap "
                                                   "break-words"), "testid", "error")
            self.error.visible = False
            self.source = data(ui.label("").classes("text-xs opacity-70"), "testid", "source")
            self.source.visible = False
        self.streamed: list[str] = []
        self.length = 0

    def piece(self, text: str) -> None:
        if self.length > MAX_TEXT:
            self.length += len(text)
            return
        self.streamed.append(text)
        self.length += len(text)
        self.text.set_text(clip("".join(self.streamed))[0])
        if self.box.props.get("data-state") != "streaming":
            data(self.box, "state", "streaming").update()

    def round(self) -> None:
        self.streamed.clear()
        self.length = 0

    def show(self, message: dict[str, Any]) -> None:
        """A finished message as :class:`History` keeps it."""
        self.text.set_text(message["text"])
        if message.get("full_length"):
            self._note(cut_note(message["full_length"]))
        if message.get("stopped"):
            self._note("Stopped.")
        for line in message.get("tools") or []:
            with self.tools:
                data(ui.label(f"tool: {line}").classes("text-xs font-mono opacity-80 "
                                                       "break-all"), "testid", "tool")
        if message.get("error"):
            self.error.set_text(message["error"])
            self.error.visible = True
        source = message.get("source")
        if source:
            self.source.set_text(source_line(source))
            self.source.visible = True
            data(self.source, "tier", source.get("tier", ""))
            data(self.source, "cached", bool(source.get("cached"))).update()
        data(self.box, "state", "error" if message.get("error") else
             "stopped" if message.get("stopped") else "done").update()

    def _note(self, text: str) -> None:
        self.note.set_text(text)
        self.note.visible = True


def register(panel: Panel) -> None:
    @ui.page("/assistant")
    async def assistant() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        chat = Chat(panel.hub, principal)
        history = History(session.store)
        client = ui.context.client
        running: dict[str, asyncio.Task[None]] = {}
        shown: deque[AnswerView] = deque()

        with frame(session, principal, "Assistant"):
            refused = chat.refusal()
            if refused is not None:
                with ui.card().classes(CARD):
                    data(ui.label(refused).classes("text-warning"), "testid", "refused")
                return None
            with ui.row().classes("items-center gap-3 w-full"):
                conversation = data(ui.label("").classes(
                    "text-xs opacity-60 font-mono break-all min-w-0"), "testid", "conversation")
                ui.space()
                tier = data(ui.select({AUTO: "Route: automatic", **{t: f"Prefer {t}"
                                                                   for t in TIERS}},
                                      value=AUTO).props("dense outlined options-dense"),
                            "testid", "tier")
                repeatable = data(ui.switch("Repeatable (temperature 0, cached)"),
                                  "testid", "repeatable")
                ui.link("Routing", "/routing").classes("text-sm")
                data(ui.button("New conversation", icon="add_comment",
                               on_click=lambda: restart()).props("flat dense"),
                     "testid", "new-conversation")
            with data(ui.column().classes("w-full gap-2"), "testid", "chat") as log_box:
                pass
            with ui.row().classes("w-full items-end gap-2 no-wrap"):
                limit = panel.hub.assistant.config.max_question_chars
                area = ui.textarea(placeholder="Ask Spark …").props(
                    "outlined autogrow dense").classes("grow")
                area._props["maxlength"] = int(limit)  # (a number: the props dict, not text)
                question = data(area, "testid", "question-input")
                send_button = data(ui.button(icon="send", on_click=lambda: send()),
                                   "testid", "send")
                stop_button = data(ui.button(icon="stop", color="negative",
                                             on_click=lambda: stop()), "testid", "stop")
                stop_button.visible = False
            config = panel.hub.assistant.config
            ui.label(memory_note(config.max_turns, config.max_age_s)).classes(
                "text-xs opacity-60")
            question.on("keydown.enter.exact.prevent", lambda: send())

        def add_view(role: str) -> AnswerView:
            with log_box:
                view = AnswerView(role)
            shown.append(view)
            while len(shown) > MAX_SHOWN:
                log_box.remove(shown.popleft().box)
            return view

        def show_all() -> None:
            log_box.clear()
            shown.clear()
            conversation.set_text(f"conversation {history.conversation_id}")
            for message in history.messages:
                add_view(message["role"]).show(message)

        def restart() -> None:
            stop()
            history.restart()
            show_all()

        def busy(on: bool) -> None:
            stop_button.visible = on
            send_button.set_enabled(not on)

        async def send() -> None:
            text = (question.value or "").strip()
            if not text or running:
                return
            if await session.principal() is None:
                ui.navigate.to("/login")
                return
            question.set_value("")
            add_view("user").show(history.add("user", text))
            view = add_view("assistant")
            prefer: Tier | None = None if tier.value == AUTO else tier.value
            tuned = Tuned(panel.hub.llm, prefer, bool(repeatable.value), view.piece,
                          view.round) if panel.hub.llm is not None else None
            running["task"] = background_tasks.create(
                answer(view, history.conversation_id, text, tuned), name="panel-assistant")
            busy(True)

        async def answer(view: AnswerView, conversation_id: str, text: str,
                         tuned: Tuned | None) -> None:
            message: dict[str, Any] | None = None

            def keep(text: str, **kw: Any) -> dict[str, Any]:
                return history.add("assistant", text, conversation_id=conversation_id, **kw)

            try:
                if tuned is None:
                    raise ServiceError(chat.refusal() or "the assistant is not available")
                reply: Reply = await chat.ask(conversation_id, text, tuned)
                message = keep(reply.text, source=reply.source, tools=reply.tools)
            except asyncio.CancelledError:
                message = keep("".join(view.streamed), stopped=True)
                raise
            except StreamBroken as exc:
                message = keep(exc.partial, error=str(exc))
            except (LlmError, ServiceError) as exc:
                message = keep("".join(view.streamed), error=str(exc))
            except Exception as exc:
                log.exception("panel: the assistant failed")
                message = keep("", error=f"The assistant failed ({type(exc).__name__}); the "
                               "hub's log has the details.")
            finally:
                running.pop("task", None)
                if not client.is_deleted:
                    if message is not None and not view.box.is_deleted:
                        view.show(message)
                    busy(False)

        def stop() -> None:
            task = running.get("task")
            if task is not None:
                task.cancel()

        client.on_delete(stop)
        show_all()
        return None
