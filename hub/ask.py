"""The hub's ``ask`` and ``generate`` RPC methods: questions from nodes (the voice node first)
answered by the LLM router, with a short memory per conversation.

``generate`` takes a raw :class:`~core.messages.llm.LlmRequest` (its wire form as the params)
and answers the :class:`~core.messages.llm.LlmResult` (text, ``done_reason``, ``source``).
``ask`` takes ``{"question": "...", "conversation_id": "..." (optional)}`` and answers
``{"answer": "...", "conversation_id": "...", "source": {...}}``; a request without an id
starts a conversation, whose id comes back for the follow-ups. Both go through the caller
policy first (``hub.policy``: the ``llm`` list of a grant; the voice account has ``ask`` by
default, other nodes nothing). The hub gets the router as an
:class:`~hub.llm.service.LlmService` (``Hub.attach_llm``); without one, both answer "no LLM
backend configured".

Conversations are kept per (caller, conversation id), so one account never reads another's
history, and bounded: at most ``max_conversations`` (the least recently used goes first),
``max_turns`` question/answer pairs each (the oldest go first), and a conversation idle for
``max_age_s`` is forgotten.

What answers is an :class:`Agent`. This slice has one, :class:`PlainAgent`: the system prompt,
the history and the question, one ``generate``, the text back. The next slice plugs in the
tool-calling conversation agent behind the same interface, in the way Home Assistant's Ollama
integration works:

1. Tools from the registry's services (turn_on / turn_off / toggle, set_value, select_option,
   press, get_state) over the entities the user exposes (config: by area, platform or entity;
   none until chosen), each with a JSON schema whose ``entity_id`` is an enum of the exposed ids.
2. A loop of at most 10 rounds: ``generate`` with ``tools``; each tool call validated against
   its schema (malformed arguments repaired when unambiguous, otherwise refused back to the model
   as a tool message), then run through the same checked path as the panel
   (``Services.call(..., caller=<the asking caller>)``: ``hub.policy`` still decides), the
   result appended as a ``tool`` message; a plain answer ends the loop.
3. Locks, alarms and covers are not acted on directly: the agent answers with a confirmation
   question and keeps the pending call in the conversation; the next ``ask`` on the same
   conversation that says yes runs it (no, or anything else, drops it).
4. The conversation store below keeps the tool messages too, so follow-ups ("and the other one")
   see what was done.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, ValidationError

from spark.core.config.base import StrictModel
from spark.core.errors import ServiceError
from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest, LlmResult
from spark.hub.policy import Caller, Policy

if TYPE_CHECKING:
    from spark.hub.llm.service import LlmService

NO_BACKEND = "no LLM backend configured (the hub runs without an llm section)"
SYSTEM_PROMPT = ("You are Spark, the voice assistant of a home lab. Answer in one or two short "
                 "spoken sentences, without markup.")


class AskConfig(StrictModel):
    """How the hub's ``ask`` answers: the system prompt, the answer length, the memory."""

    system_prompt: str = Field(SYSTEM_PROMPT, min_length=1, max_length=4000,
                               description="The assistant's instructions, first in every ask.")
    model: str = Field("default", min_length=1, max_length=100,
                       description="Model role asked (mapped per backend in llm.backends).")
    max_tokens: int = Field(200, ge=1, le=4096, description="Longest answer, in tokens.")
    temperature: float = Field(0.7, ge=0, le=5, description="Sampling temperature (0: "
                               "deterministic, cached).")
    max_question_chars: int = Field(2000, ge=1, le=100_000, description="Longer questions "
                                    "are refused.")
    max_conversations: int = Field(64, ge=1, le=10_000, description="Conversations kept; the "
                                   "least recently used is forgotten first.")
    max_turns: int = Field(8, ge=0, le=100, description="Question/answer pairs kept per "
                           "conversation (0: no memory).")
    max_age_s: float = Field(300.0, gt=0, description="A conversation idle this long is "
                             "forgotten.")


@dataclass(slots=True)
class Conversation:
    messages: list[ChatMessage] = field(default_factory=list)
    used: float = 0.0


class Conversations:
    """History per (caller, conversation id), bounded in count, length and age. ``clock``:
    monotonic seconds (a test passes its own)."""

    def __init__(self, config: AskConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._items: OrderedDict[tuple[str, str], Conversation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self) -> None:
        limit = self._clock() - self.config.max_age_s
        for key in [k for k, c in self._items.items() if c.used < limit]:
            del self._items[key]

    def history(self, caller: str, conversation_id: str) -> list[ChatMessage]:
        self._expire()
        item = self._items.get((caller, conversation_id))
        return list(item.messages) if item is not None else []

    def add(self, caller: str, conversation_id: str, *messages: ChatMessage) -> None:
        self._expire()
        key = (caller, conversation_id)
        item = self._items.pop(key, None) or Conversation()
        item.messages.extend(messages)
        keep = 2 * self.config.max_turns
        item.messages = item.messages[-keep:] if keep else []
        item.used = self._clock()
        self._items[key] = item  # most recently used last
        while len(self._items) > self.config.max_conversations:
            self._items.popitem(last=False)


class Agent(Protocol):
    """Answers one question given the history (the tool-calling agent plugs in here)."""

    async def answer(self, llm: LlmService, history: list[ChatMessage], question: str,
                     caller: Caller) -> tuple[LlmResult, list[ChatMessage]]:
        """The result and the messages to remember (the question, tool turns, the answer)."""
        ...


class PlainAgent:
    """No tools: system prompt + history + question, one ``generate``."""

    def __init__(self, config: AskConfig) -> None:
        self.config = config

    async def answer(self, llm: LlmService, history: list[ChatMessage], question: str,
                     caller: Caller) -> tuple[LlmResult, list[ChatMessage]]:
        asked = ChatMessage(role="user", content=question)
        request = LlmRequest(
            model=self.config.model,
            messages=[ChatMessage(role="system", content=self.config.system_prompt),
                      *history, asked],
            options=LlmOptions(temperature=self.config.temperature,
                               num_predict=self.config.max_tokens))
        result = await llm.generate(request)
        return result, [asked, ChatMessage(role="assistant", content=result.text)]


class Assistant:
    """The RPC handlers behind ``ask`` and ``generate``; ``llm`` is set by ``Hub.attach_llm``."""

    def __init__(self, policy: Policy, config: AskConfig | None = None,
                 agent: Agent | None = None) -> None:
        self.policy = policy
        self.config = config or AskConfig()
        self.agent: Agent = agent or PlainAgent(self.config)
        self.conversations = Conversations(self.config)
        self.llm: LlmService | None = None

    def _service(self) -> LlmService:
        if self.llm is None:
            raise ServiceError(NO_BACKEND)
        return self.llm

    async def rpc_generate(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.policy.check_method(Caller.account(caller), "generate")
        llm = self._service()
        try:
            request = LlmRequest.model_validate({**params, "stream": False})
        except ValidationError as exc:
            raise ServiceError(f"bad generate request: {exc.errors()[0]['msg']}") from None
        return (await llm.generate(request)).model_dump(mode="json", exclude_none=True)

    async def rpc_ask(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        who = Caller.account(caller)
        self.policy.check_method(who, "ask")
        llm = self._service()
        question = params.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ServiceError("ask needs a non-empty 'question' string")
        if len(question) > self.config.max_question_chars:
            raise ServiceError(f"question longer than {self.config.max_question_chars} "
                               "characters")
        conversation_id = params.get("conversation_id") or uuid.uuid4().hex
        if not isinstance(conversation_id, str) or len(conversation_id) > 128:
            raise ServiceError("'conversation_id' must be a string of at most 128 characters")
        history = self.conversations.history(caller, conversation_id)
        result, remember = await self.agent.answer(llm, history, question.strip(), who)
        self.conversations.add(caller, conversation_id, *remember)
        return {"answer": result.text.strip(), "conversation_id": conversation_id,
                "done_reason": result.done_reason,
                "source": result.source.model_dump(mode="json", exclude_none=True)}
