"""Request/response over MQTT with correlation ids (Zigbee2MQTT ``bridge/request`` style).

Request on ``<base>/<node>/request/<caller>/<method>``: ``{"id": "...", "params": {...}}``.
Response on ``<base>/<node>/response/<caller>/<method>``:
``{"id": "...", "status": "ok", "data": ...}``
or ``{"id": "...", "status": "error", "error": "..."}``.

``<caller>`` is the sender's broker account: the generated ACL lets an account publish
requests only under its own name, so a server learns who asks from the topic (and must not
trust anything in the payload for that). Handlers get it as their second argument.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spark.core.errors import PayloadError, SparkError
from spark.core.mqtt import Message, MqttClient
from spark.core.topics import TopicLayout, valid_segment

log = logging.getLogger(__name__)

MAX_PENDING = 256  # requests answered at once per server; more are refused ("busy"), not queued
RpcHandler = Callable[[dict[str, Any], str], Awaitable[Any]]  # (params, caller account)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump())

    @classmethod
    def from_payload(cls, payload: bytes | bytearray) -> Request:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"bad request: {exc.errors()[0]['msg']}") from None


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    status: str = "ok"
    data: Any = None
    error: str | None = None

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(exclude_none=True))

    @classmethod
    def from_payload(cls, payload: bytes | bytearray) -> Response:
        return cls.model_validate_json(payload)


class RpcError(SparkError):
    """The remote side answered with an error, or did not answer in time."""


class RpcServer:
    """Answers requests addressed to ``node_id``."""

    def __init__(self, client: MqttClient, layout: TopicLayout, node_id: str) -> None:
        self._client = client
        self._layout = layout
        self._node_id = node_id
        self._methods: dict[str, RpcHandler] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        client.subscribe(layout.node_requests(node_id), self._on_request, qos=1)

    def register(self, method: str, handler: RpcHandler) -> None:
        self._methods[method] = handler

    def _on_request(self, msg: Message) -> None:
        parsed = self._layout.parse_request(msg.topic)
        if parsed is None:
            return
        if parsed.node_id != self._node_id:
            return
        if len(self._tasks) >= MAX_PENDING:
            log.warning("%s: %d requests pending; refusing %s from %s", self._node_id,
                        len(self._tasks), parsed.method, parsed.caller)
            self._client.publish(self._layout.response(self._node_id, parsed.method, parsed.caller),
                                 Response(status="error", error="busy: too many requests")
                                 .to_payload(), 1)
            return
        task = asyncio.create_task(self._answer(parsed.caller, parsed.method, msg.payload),
                                   name=f"rpc-{self._node_id}-{parsed.method}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, caller: str, method: str, payload: bytes | bytearray) -> None:
        topic = self._layout.response(self._node_id, method, caller)
        try:
            request = Request.from_payload(payload)
        except PayloadError as exc:
            log.warning("%s: rejected request %s from %s: %s", self._node_id, method, caller, exc)
            self._client.publish(topic, Response(status="error", error=str(exc)).to_payload(), 1)
            return
        handler = self._methods.get(method)
        if handler is None:
            response = Response(id=request.id, status="error", error=f"unknown method {method!r}")
        else:
            try:
                response = Response(id=request.id, data=await handler(request.params, caller))
            except (SparkError, ValueError, KeyError) as exc:
                response = Response(id=request.id, status="error", error=str(exc))
            except Exception as exc:
                log.exception("%s: request %s from %s failed", self._node_id, method, caller)
                response = Response(id=request.id, status="error", error=f"internal error: {exc}")
        self._client.publish(topic, response.to_payload(), 1)


class RpcClient:
    """Sends requests as ``caller`` (the broker account ``client`` logged in with: the broker
    drops requests under any other name) and waits for the matching response."""

    def __init__(self, client: MqttClient, layout: TopicLayout, caller: str) -> None:
        self._client = client
        self._layout = layout
        self.caller = valid_segment(caller, "caller")
        self._waiting: dict[str, asyncio.Future[Response]] = {}
        self._subscribed: set[str] = set()

    def _on_response(self, msg: Message) -> None:
        try:
            response = Response.from_payload(msg.payload)
        except ValidationError:
            log.warning("malformed response on %s", msg.topic)
            return
        fut = self._waiting.pop(response.id or "", None)
        if fut is not None and not fut.done():
            fut.set_result(response)

    async def call(
        self, node_id: str, method: str, params: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> Any:
        response_filter = self._layout.all_responses(node_id, self.caller)
        if response_filter not in self._subscribed:
            self._subscribed.add(response_filter)
            self._client.subscribe(response_filter, self._on_response, qos=1)
        request = Request(params=params or {})
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = fut
        try:
            self._client.publish(self._layout.request(node_id, method, self.caller),
                                 request.to_payload(), 1)
            async with asyncio.timeout(timeout):
                response = await fut
        except TimeoutError:
            raise RpcError(f"{node_id} did not answer {method} within {timeout}s") from None
        finally:
            self._waiting.pop(request.id, None)
        if response.status != "ok":
            raise RpcError(response.error or "request failed")
        return response.data
