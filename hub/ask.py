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

What answers is an :class:`Agent`: :class:`PlainAgent` (the system prompt, the history and
the question, one ``generate``) when the hub has no registry to act on, else the tool-calling
conversation agent (``hub/agent.py``, :class:`~hub.agent.ToolAgent`), in the way Home
Assistant's Ollama integration works: the registry's services become tools over the entities
the user exposes (``expose``, ``hub/tools.py``; none until chosen), at most ``max_rounds``
rounds of tool calls, each call checked (repaired when unambiguous, else refused back to the
model) and run through ``Services.call(..., caller=<the asking caller>)`` so ``hub.policy``
still decides; locks, alarms and covers are asked to confirm first (the pending calls are kept
in the conversation; the next ``ask`` that says yes runs them).

The answer of ``ask`` also lists the ``actions`` run (tool, entity, data, outcome) and a
``pending`` confirmation, if any. Conversations keep whole turns (the question, the tool calls
and their results, the answer), at most ``max_turns`` of them and ``max_history_messages``
messages in all, so a turn is never cut in the middle of its tool calls.
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
from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest, LlmResult, LlmSource
from spark.hub.policy import Caller, Policy
from spark.hub.tools import Checked, ExposeConfig

if TYPE_CHECKING:
    from spark.hub.llm.service import LlmService

NO_BACKEND = "no LLM backend configured (the hub runs without an llm section)"
SYSTEM_PROMPT = ("You are Spark, the voice assistant of a home lab. Answer in one or two short "
                 "spoken sentences, without markup.")


class AskConfig(StrictModel):
    """``hub.ask``: how the hub's ``ask`` answers: the system prompt, the answer length, the
    memory, the entities the agent may act on and the bounds of its tool loop."""

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
    max_turns: int = Field(8, ge=0, le=100, description="Question/answer turns kept per "
                           "conversation, with their tool calls (0: no memory).")
    max_history_messages: int = Field(120, ge=1, le=2000, description="Messages kept per "
                                      "conversation in all; the oldest whole turns go first.")
    max_age_s: float = Field(300.0, gt=0, description="A conversation idle this long is "
                             "forgotten (a pending confirmation with it).")
    expose: ExposeConfig = Field(default_factory=ExposeConfig, description="Entities the "
                                 "agent may read and act on, by area, platform or entity id; "
                                 "none until chosen (then it only talks).")
    max_rounds: int = Field(10, ge=1, le=10, description="Rounds of tool calls per question; "
                            "then it answers that it could not finish.")
    max_calls_per_round: int = Field(8, ge=1, le=32, description="Tool calls run per round; "
                                     "further ones are refused back to the model.")
    max_argument_chars: int = Field(2000, ge=16, le=64_000, description="Longest arguments "
                                    "of one tool call (JSON text).")
    call_timeout: float = Field(5.0, gt=0, le=60, description="Seconds a service call waits "
                                "for the device to confirm.")


@dataclass(slots=True)
class Conversation:
    turns: list[list[ChatMessage]] = field(default_factory=list)
    pending: list[Checked] = field(default_factory=list)
    used: float = 0.0


class Conversations:
    """History per (caller, conversation id), bounded in count, turns, messages and age, with
    the calls waiting for a confirmation. ``clock``: monotonic seconds (a test passes its
    own)."""

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
        return [m for turn in item.turns for m in turn] if item is not None else []

    def pending(self, caller: str, conversation_id: str) -> list[Checked]:
        """The calls waiting for a yes (empty when none)."""
        self._expire()
        item = self._items.get((caller, conversation_id))
        return list(item.pending) if item is not None else []

    def add(self, caller: str, conversation_id: str, *messages: ChatMessage,
            pending: list[Checked] | None = None) -> None:
        """One turn (its messages), and the calls it leaves waiting for a confirmation (none:
        a pending confirmation is dropped)."""
        self._expire()
        key = (caller, conversation_id)
        item = self._items.pop(key, None) or Conversation()
        if messages:
            item.turns.append(list(messages))
        item.turns = item.turns[-self.config.max_turns:] if self.config.max_turns else []
        while item.turns and sum(len(t) for t in item.turns) > \
                self.config.max_history_messages:
            item.turns.pop(0)
        item.pending = list(pending or [])
        item.used = self._clock()
        self._items[key] = item  # most recently used last
        while len(self._items) > self.config.max_conversations:
            self._items.popitem(last=False)


@dataclass(slots=True)
class Answer:
    """What an agent answers: the text, the last LLM result (None when answered without the
    LLM: a confirmation), the messages to remember, the calls left waiting for a yes, and the
    actions run (for the caller to show)."""

    text: str
    result: LlmResult | None
    remember: list[ChatMessage]
    pending: list[Checked] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    source: LlmSource | None = None


class Agent(Protocol):
    """Answers one question given the conversation so far."""

    async def answer(self, llm: LlmService, history: list[ChatMessage], question: str,
                     caller: Caller, pending: list[Checked]) -> Answer:
        """The answer; ``pending``: the calls the last answer asked to confirm."""
        ...


class PlainAgent:
    """No tools: system prompt + history + question, one ``generate``."""

    def __init__(self, config: AskConfig) -> None:
        self.config = config

    async def answer(self, llm: LlmService, history: list[ChatMessage], question: str,
                     caller: Caller, pending: list[Checked]) -> Answer:
        asked = ChatMessage(role="user", content=question)
        request = LlmRequest(
            model=self.config.model,
            messages=[ChatMessage(role="system", content=self.config.system_prompt),
                      *history, asked],
            options=LlmOptions(temperature=self.config.temperature,
                               num_predict=self.config.max_tokens))
        result = await llm.generate(request)
        return Answer(result.text, result,
                      [asked, ChatMessage(role="assistant", content=result.text)],
                      source=result.source)


class Assistant:
    """The RPC handlers behind ``ask`` and ``generate``; ``llm`` is set by ``Hub.attach_llm``.
    ``agent``: what answers (the hub passes its :class:`~hub.agent.ToolAgent`, which acts
    through the registry and services; without one, :class:`PlainAgent` only talks)."""

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
        return await self.ask(params.get("question"), params.get("conversation_id"),
                              Caller.account(caller), caller)

    async def ask(self, question: Any, conversation_id: Any, who: Caller, key: str
                  ) -> dict[str, Any]:
        """One question from ``who``; ``key`` keeps its conversations apart from every other
        caller's (the account for RPC, ``user:<name>`` for the REST API)."""
        self.policy.check_method(who, "ask")
        llm = self._service()
        if not isinstance(question, str) or not question.strip():
            raise ServiceError("ask needs a non-empty 'question' string")
        if len(question) > self.config.max_question_chars:
            raise ServiceError(f"question longer than {self.config.max_question_chars} "
                               "characters")
        conversation_id = conversation_id or uuid.uuid4().hex
        if not isinstance(conversation_id, str) or len(conversation_id) > 128:
            raise ServiceError("'conversation_id' must be a string of at most 128 characters")
        history = self.conversations.history(key, conversation_id)
        pending = self.conversations.pending(key, conversation_id)
        answer = await self.agent.answer(llm, history, question.strip(), who, pending)
        self.conversations.add(key, conversation_id, *answer.remember, pending=answer.pending)
        reply: dict[str, Any] = {"answer": answer.text.strip(),
                                 "conversation_id": conversation_id,
                                 "done_reason": answer.result.done_reason if answer.result
                                 else None,
                                 "actions": answer.actions,
                                 "pending": [{"service": p.service, "entity_id": p.entity_id,
                                              "data": p.data} for p in answer.pending]}
        if answer.source is not None:
            reply["source"] = answer.source.model_dump(mode="json", exclude_none=True)
        return reply
