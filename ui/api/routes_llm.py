"""``/api/llm/*`` and ``/api/routing/stats``: the LLM router as the hub's view offers it
(``HubView.llm``, an :class:`~hub.llm.service.LlmService`; never the router's module).

Operators generate and embed (the role's grant in ``hub.policy`` must list ``generate`` under
``llm``, as the default operator and admin grants do); viewers read the models and the stats.
Without ``llm.backends`` every route answers 503 naming the key to set.

Streaming (``POST /api/llm/generate/stream``) is NDJSON (``application/x-ndjson``): one JSON
object per line, ``{"kind": "chunk", "index": 0, "text": "..."}`` for each piece, then one
``{"kind": "result", "text": <all of it>, "done_reason": ..., "source": {...}}`` with the
source metadata (backend, tier, model, cached, ttft_ms, total_ms, tokens, route). A failure
after the first chunk ends the stream with ``{"kind": "error", "error": "...", "partial":
"..."}`` (no failover once tokens were sent); one before it is the route's 503.

``POST /api/llm/ask`` is the hub's conversation agent (``hub/ask.py``, ``hub/agent.py``), as the
voice node's ``ask`` RPC: ``{"question": "...", "conversation_id": "..." (optional)}`` ->
``{"answer", "conversation_id", "done_reason", "actions": [...], "pending": [...], "source"}``.
It acts for the signed-in user: ``hub.policy``'s grant of the user's role must list ``ask``
under ``llm`` (403 otherwise), and each action the agent takes passes the same role's service
grant (a refused action is in ``actions`` with its reason, never done). Conversations are kept
per user (``user:<name>``), apart from every other user's and account's.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spark.core.errors import ServiceError
from spark.core.messages.llm import LlmEvent, LlmRequest, LlmResult, LlmSource, Tier
from spark.hub.llm.errors import LlmError, NoBackend, StreamBroken
from spark.hub.llm.router import BackendModels, Embeddings
from spark.hub.llm.service import LlmService
from spark.hub.llm.stats import RoutingStats
from spark.hub.services import Caller, PolicyError
from spark.ui.api.auth import AuthService, Principal
from spark.ui.api.deps import guards
from spark.ui.api.view import HubQueries

MAX_MESSAGES = 64
MAX_CONTENT = 32_000  # characters per message (and of prompt, system)
MAX_TOTAL = 128_000  # characters over all messages
MAX_TOKENS = 4096
MAX_INPUTS = 64
NOT_CONFIGURED = ("no LLM backend configured: add at least one backend under llm.backends "
                  "in the config (see README, 'Assistant / LLM router')")
NDJSON = "application/x-ndjson"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiMessage(_Body):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(max_length=MAX_CONTENT)


class ApiOptions(_Body):
    temperature: float | None = Field(None, ge=0, le=2, description="0: deterministic "
                                      "(cached).")
    seed: int | None = None
    num_predict: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Max output tokens.")
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=8)


class GenerateBody(_Body):
    model: str = Field("default", min_length=1, max_length=100, description="Model role "
                       "(mapped per backend) or an engine's model name.")
    messages: list[ApiMessage] | None = Field(None, min_length=1, max_length=MAX_MESSAGES)
    prompt: str | None = Field(None, max_length=MAX_CONTENT, description="Instead of messages.")
    system: str | None = Field(None, max_length=MAX_CONTENT, description="With prompt only.")
    options: ApiOptions = Field(default_factory=ApiOptions)
    prefer: Tier | None = Field(None, description="Try this tier first when the route has it.")
    cache: bool | None = Field(None, description="True: cache even when sampling; False: never.")

    @model_validator(mode="after")
    def _bounded(self) -> "GenerateBody":
        total = sum(len(m.content) for m in self.messages or [])
        if total > MAX_TOTAL:
            raise ValueError(f"messages hold {total} characters; at most {MAX_TOTAL}")
        return self

    def request(self, stream: bool) -> LlmRequest:
        try:
            return LlmRequest.model_validate({**self.model_dump(exclude_none=True),
                                              "stream": stream})
        except ValidationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                "; ".join(str(e["msg"]) for e in exc.errors())) from None


class EmbedBody(_Body):
    input: list[Annotated[str, Field(max_length=MAX_CONTENT)]] = Field(
        min_length=1, max_length=MAX_INPUTS, description="Texts to embed.")
    model: str = Field("embed", min_length=1, max_length=100)
    prefer: Tier | None = None


class AskBody(_Body):
    question: str = Field(min_length=1, max_length=MAX_CONTENT, description="What the user "
                          "says or asks.")
    conversation_id: str | None = Field(None, min_length=1, max_length=128, description="The "
                                        "conversation to go on with (from an earlier answer); "
                                        "none: a new one.")


class AskAnswer(BaseModel):
    answer: str
    conversation_id: str
    done_reason: str | None = None
    actions: list[dict[str, Any]] = Field(description="What the agent did or tried: tool, "
                                          "entity_id, data, ok, state or error, repairs.")
    pending: list[dict[str, Any]] = Field(description="Calls waiting for the user's yes "
                                          "(locks, alarms, covers).")
    source: LlmSource | None = Field(None, description="Who answered (the last round's "
                                     "backend; tokens and time of every round); none when "
                                     "answered without the LLM (a confirmation).")


def _unavailable(exc: LlmError) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))


def llm_router(view: HubQueries, auth: AuthService) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["llm"])
    require = guards(auth)
    Viewer = Annotated[Principal, Depends(require("viewer"))]
    Operator = Annotated[Principal, Depends(require("operator"))]
    errors: dict[int | str, dict[str, Any]] = {
        503: {"description": "No LLM backend configured, or none answered"}}

    def service() -> LlmService:
        llm = view.hub.llm
        if llm is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_CONFIGURED)
        return llm

    def generating(principal: Principal) -> LlmService:
        """The service, once ``hub.policy`` lets this user's role generate (checked first)."""
        services = view.hub.services
        if services is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the hub is starting")
        try:
            services.policy.check_method(Caller.user(principal.username, principal.role),
                                         "generate")
        except PolicyError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
        return service()

    @router.post("/llm/generate", response_model=LlmResult, responses=errors)
    async def generate(body: GenerateBody, _p: Operator) -> LlmResult:
        """One answer with its ``source`` (who answered, how fast, tokens)."""
        llm = generating(_p)
        try:
            return await llm.generate(body.request(stream=False))
        except LlmError as exc:
            raise _unavailable(exc) from None

    @router.post("/llm/generate/stream", response_class=StreamingResponse, responses={
        200: {"content": {NDJSON: {}}, "description": "NDJSON: chunk lines, then a result "
              "line with the source (or an error line)"}, **errors})
    async def generate_stream(body: GenerateBody, _p: Operator) -> StreamingResponse:
        events = generating(_p).stream(body.request(stream=True))
        try:  # the first event decides between 200 and 503 (failover happens before it)
            first = await anext(events)
        except StopAsyncIteration:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "empty answer") from None
        except LlmError as exc:
            raise _unavailable(exc) from None
        return StreamingResponse(_lines(first, events), media_type=NDJSON)

    @router.post("/llm/ask", response_model=AskAnswer, responses={
        403: {"description": "The role's hub.policy grant does not list 'ask'"}, **errors})
    async def ask(body: AskBody, _p: Viewer) -> AskAnswer:
        """The conversation agent: an answer, and the actions it ran on exposed entities
        (``hub.ask.expose``) with this user's rights."""
        who = Caller.user(_p.username, _p.role)
        try:
            reply = await view.hub.assistant.ask(body.question, body.conversation_id, who,
                                                 f"user:{_p.username}")
        except PolicyError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
        except LlmError as exc:
            raise _unavailable(exc) from None
        except ServiceError as exc:
            if view.hub.llm is None:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_CONFIGURED) from None
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        return AskAnswer.model_validate(reply)

    @router.get("/llm/models", response_model=list[BackendModels])
    async def models(_p: Viewer) -> list[BackendModels]:
        """Per backend: its models, the loaded ones, its health and breaker."""
        return await service().models()

    @router.post("/llm/embeddings", response_model=Embeddings, responses=errors)
    async def embeddings(body: EmbedBody, _p: Operator) -> Embeddings:
        try:
            return await generating(_p).embed(body.input, body.model, body.prefer)
        except LlmError as exc:
            raise _unavailable(exc) from None

    @router.get("/routing/stats", response_model=RoutingStats)
    async def routing_stats(_p: Viewer) -> RoutingStats:
        """Per backend: requests, failures, breaker, p50/p95 latency and time to first
        token, tokens; the cache's hit rate."""
        return service().stats()

    return router


async def _lines(first: LlmEvent, rest: AsyncIterator[LlmEvent]) -> AsyncIterator[bytes]:
    try:
        yield first.to_payload() + b"\n"
        async for event in rest:
            yield event.to_payload() + b"\n"
    except (StreamBroken, NoBackend) as exc:
        partial = exc.partial if isinstance(exc, StreamBroken) else ""
        yield orjson.dumps({"kind": "error", "error": str(exc), "partial": partial}) + b"\n"
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
