"""What the web layer (``/api/llm/*``, ``/api/routing/stats``), the hub's ``ask`` RPC and the
voice path call: :class:`LlmService`, a protocol :class:`~hub.llm.router.LlmRouter` implements
(the web layer reads it through the hub's view, never by importing the router)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from spark.core.messages.llm import LlmEvent, LlmRequest, LlmResult, Tier
from spark.hub.llm.router import BackendModels, Embeddings
from spark.hub.llm.stats import RoutingStats


class LlmService(Protocol):
    async def generate(self, request: LlmRequest) -> LlmResult: ...

    def stream(self, request: LlmRequest) -> AsyncIterator[LlmEvent]: ...

    async def models(self) -> list[BackendModels]: ...

    async def embed(self, inputs: list[str], model: str = "embed",
                    prefer: Tier | None = None) -> Embeddings: ...

    def stats(self) -> RoutingStats: ...
