"""An asyncio MQTT client on paho-mqtt, with one supervised reconnect loop.

Why not aiomqtt: it costs about 2x paho per received message (see shared PERF-NOTES) and the hub's
registry is a hot path. This module runs paho's socket I/O directly on the asyncio loop
(``add_reader``/``add_writer``), so handlers run in the loop thread with no queue hop.

Behaviour:
  * ``async with MqttClient(...)`` starts the supervisor task; it connects, re-subscribes, runs the
    on-connect hooks (availability, discovery, state), then flushes what was queued while offline.
  * ``publish`` never blocks and never drops silently: while disconnected messages wait in a
    bounded queue (a newer retained message for the same topic supersedes a queued one).
  * Reconnects back off exponentially with jitter; a refused login is logged with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from spark.core.backoff import Backoff
from spark.core.config.mqtt import MqttConfig
from spark.core.errors import MqttError
from spark.core.link import LinkState
from spark.core.mqtt.factory import Session, Will, build_paho
from spark.core.mqtt.glue import SocketGlue
from spark.core.mqtt.offline import OfflineQueue, Payload, Pending
from spark.core.mqtt.paho_private import check_internals, close_socket, queue_pubacks
from spark.core.topics import valid_publish_topic, valid_subscribe_filter

log = logging.getLogger(__name__)

Message = paho.MQTTMessage
Handler = Callable[[Message], None]
ConnectHook = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Subscription:
    topic_filter: str
    qos: int
    handlers: list[Handler] = field(default_factory=list)


def make_client_id(prefix: str, name: str) -> str:
    """Unique per process: duplicate client ids make clients kick each other off the broker."""
    return f"{prefix}-{name}-{uuid.uuid4().hex[:8]}"


class MqttClient(SocketGlue):
    def __init__(
        self,
        config: MqttConfig,
        name: str,
        *,
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        clean_session: bool = True,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
    ) -> None:
        """``clean_session=False`` with a stable ``client_id`` keeps subscriptions and
        unacknowledged QoS 1 messages at the broker across reconnects (either protocol).
        ``manual_ack=True``: QoS 1 messages are acknowledged only by :meth:`ack`, e.g. after
        a durable commit. ``receive_maximum`` (MQTT 5) is the window of unacknowledged
        messages the broker may send. A client asked for MQTT 5 that the broker turns away for
        its protocol (e.g. amqtt, 3.1.1 only) falls back to 3.1.1 for the rest of its life,
        with a warning. Raises PahoInternalsError when the installed paho-mqtt is not one
        whose internals ``paho_private`` uses."""
        check_internals()
        self.config = config
        self.name = name
        self.client_id = client_id or make_client_id(config.client_id_prefix, name)
        self._will = will
        self._session = Session(config.protocol, clean_session, receive_maximum)
        self._manual_ack = manual_ack
        self._username = username if username is not None else config.username
        self._password = password if password is not None else config.secret()
        self._subs: dict[str, _Subscription] = {}
        self._hooks: list[ConnectHook] = []
        self._queue = OfflineQueue(config.offline_queue)
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._paho: paho.Client | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._connect_result: asyncio.Future[tuple[ReasonCode, bool]] | None = None
        self.state = LinkState.IDLE
        self.rejected_oversize = 0
        self.connect_count = 0
        self._misc_task: asyncio.Task[None] | None = None
        # While on-connect hooks run (availability, discovery, state) their messages go out
        # ahead of what was queued while offline: configs before states, as HA needs.
        self._announcing = False
        self._default_handler: Handler | None = None
        self._write_pending = False
        self._conn_started = 0.0

    # ---- public API -------------------------------------------------------------------
    async def __aenter__(self) -> MqttClient:
        if self._supervisor is not None:
            raise MqttError("MqttClient is not re-entrant")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"mqtt-{self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self.state is LinkState.UP

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    def on_connect(self, hook: ConnectHook) -> None:
        """Run ``hook`` after every (re)connect, after re-subscribing, before the queue flush."""
        self._hooks.append(hook)

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        valid_subscribe_filter(topic_filter)
        sub = self._subs.get(topic_filter)
        is_new = sub is None
        if sub is None:
            sub = self._subs[topic_filter] = _Subscription(topic_filter, qos)
        if not sub.handlers and self._paho is not None:
            self._paho.message_callback_add(topic_filter, self._dispatcher(sub))
        sub.handlers.append(handler)
        if is_new and (link := self._link_up()) is not None:
            link.subscribe(topic_filter, qos)

    def _link_up(self) -> paho.Client | None:
        """The paho client once the broker accepted us (CONNACK), even if the on-connect work is
        still running: subscriptions made from then on must be sent now, not at the next
        reconnect. None while the link is down."""
        if self._paho is not None and self.state in (
                LinkState.CONNECTING, LinkState.UP) and self._paho.is_connected():
            return self._paho
        return None

    def set_default_handler(self, handler: Handler) -> None:
        """Handle messages matched by no filter with handlers (see :meth:`subscribe_many`)."""
        self._default_handler = handler
        if self._paho is not None:
            self._paho.on_message = self._default_dispatcher

    def subscribe_many(self, topics: list[str], qos: int = 1) -> None:
        """Subscribe to topics whose messages go to the default handler (one SUBSCRIBE packet).

        The hub uses this for thousands of entity topics: one dict lookup per message instead
        of a per-filter callback.
        """
        new = []
        for topic in topics:
            valid_subscribe_filter(topic)
            if topic not in self._subs:
                self._subs[topic] = _Subscription(topic, qos)
                new.append((topic, qos))
        if new and (link := self._link_up()) is not None:
            for i in range(0, len(new), 500):
                link.subscribe(new[i : i + 500])

    def unsubscribe_many(self, topics: list[str]) -> None:
        gone = [t for t in topics if self._subs.pop(t, None) is not None]
        if gone and (link := self._link_up()) is not None:
            link.unsubscribe(gone)

    def unsubscribe(self, topic_filter: str) -> None:
        if self._subs.pop(topic_filter, None) is not None and self._paho is not None:
            self._paho.message_callback_remove(topic_filter)
            if self.connected:
                self._paho.unsubscribe(topic_filter)

    def ack(self, msg: Message) -> bool:
        """Acknowledge a QoS 1 message received with ``manual_ack=True``; False when the
        connection it came on is gone (the broker redelivers it on reconnect)."""
        if msg.qos == 0:
            return True
        client = self._paho
        live = self.state in (LinkState.CONNECTING, LinkState.UP)  # redeliveries come
        if client is None or not live or msg.timestamp < self._conn_started:  # before SUBACK
            return False
        return client.ack(msg.mid, msg.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, msgs: list[Message]) -> int:
        """:meth:`ack` for many messages at once: their PUBACKs queued as one buffer (paho
        would build and queue a packet per message). Returns how many were acknowledged."""
        client = self._paho
        if client is None:
            return sum(self.ack(m) for m in msgs)  # QoS 0 ones count, as with ack()
        if self.state not in (LinkState.CONNECTING, LinkState.UP):
            return 0
        started = self._conn_started  # earlier connections' messages are redelivered anyway
        mids = [m.mid for m in msgs if m.qos == 1 and m.timestamp >= started]
        queue_pubacks(client, mids)
        return len(mids) + sum(self.ack(m) for m in msgs if m.qos != 1)

    def publish(self, topic: str, payload: Payload, qos: int = 0, retain: bool = False) -> None:
        """Publish now, or queue while disconnected. Raises TopicError for wildcard topics."""
        valid_publish_topic(topic)
        if self.connected and self._paho is not None and (not self._queue or self._announcing):
            self._paho.publish(topic, payload, qos, retain)
            return
        self._enqueue(Pending(topic, payload, qos, retain))

    async def publish_confirmed(
        self, topic: str, payload: Payload, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and wait until the broker acknowledged it (QoS 1/2) or it was written (QoS 0)."""
        valid_publish_topic(topic)
        assert self._loop is not None, "use inside 'async with'"
        fut: asyncio.Future[None] = self._loop.create_future()
        if self.connected and self._paho is not None and (not self._queue or self._announcing):
            self._send(Pending(topic, payload, qos, retain, fut))
        else:
            self._enqueue(Pending(topic, payload, qos, retain, fut))
        await fut

    async def close(self) -> None:
        """Disconnect cleanly (the will is not sent) and stop the supervisor."""
        if self.state is LinkState.CLOSED:
            return
        prev, self.state = self.state, LinkState.CLOSED
        if self._paho is not None and prev is LinkState.UP:
            with contextlib.suppress(Exception):
                self._paho.disconnect()
                await self._wait_socket_closed(1.0)
        for task in (self._supervisor, self._misc_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._teardown_socket()
        err = MqttError(f"{self.name}: client closed")
        for fut in list(self._inflight.values()):
            if not fut.done():
                fut.set_exception(err)
        for pending in self._queue:
            if pending.future is not None and not pending.future.done():
                pending.future.set_exception(err)
        self._inflight.clear()

    # ---- queue ------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Messages dropped from the full offline queue since start."""
        return self._queue.dropped

    def _enqueue(self, pending: Pending) -> None:
        for victim in self._queue.put(pending):
            if self._queue.dropped == 1 or self._queue.dropped % 1000 == 0:
                log.warning("%s: offline queue full (%d); dropped %d oldest message(s) so far",
                            self.name, self._queue.limit, self._queue.dropped)
            if victim.future is not None and not victim.future.done():
                victim.future.set_exception(MqttError("dropped from full offline queue"))

    def _flush_queue(self) -> None:
        while self.connected:
            pending = self._queue.pop()
            if pending is None:
                return
            self._send(pending)

    def _send(self, pending: Pending) -> None:
        assert self._paho is not None
        info = self._paho.publish(pending.topic, pending.payload, pending.qos, pending.retain)
        if pending.future is None:
            return
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS and info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
            pending.future.set_exception(MqttError(f"publish failed: {paho.error_string(info.rc)}"))
        elif info.is_published():
            pending.future.set_result(None)
        else:
            self._inflight[info.mid] = pending.future

    # ---- paho callbacks (all run in the loop thread, or are marshalled to it) ----------
    def _dispatcher(self, sub: _Subscription) -> Callable[[paho.Client, Any, Message], None]:
        max_payload = self.config.max_payload

        def dispatch(_client: paho.Client, _userdata: Any, msg: Message) -> None:
            if len(msg.payload) > max_payload:
                self.rejected_oversize += 1
                log.warning(
                    "%s: dropped %d-byte payload on %s (limit mqtt.max_payload=%d)",
                    self.name, len(msg.payload), msg.topic, max_payload,
                )
                return
            for handler in sub.handlers:
                try:
                    handler(msg)
                except Exception:
                    log.exception("%s: handler for %s failed on %s", self.name,
                                  sub.topic_filter, msg.topic)

        return dispatch

    def _default_dispatcher(self, _client: paho.Client, _userdata: Any, msg: Message) -> None:
        handler = self._default_handler
        if handler is None:
            return
        if len(msg.payload) > self.config.max_payload:
            self.rejected_oversize += 1
            log.warning("%s: dropped %d-byte payload on %s (limit mqtt.max_payload=%d)",
                        self.name, len(msg.payload), msg.topic, self.config.max_payload)
            return
        try:
            handler(msg)
        except Exception:
            log.exception("%s: default handler failed on %s", self.name, msg.topic)

    def _on_connect(
        self, c: paho.Client, _u: Any, _flags: Any, rc: ReasonCode, _props: Any
    ) -> None:
        self._in_loop(self._connect_outcome, c, rc, False)

    def _on_disconnect(
        self, c: paho.Client, _u: Any, _flags: Any, rc: ReasonCode, _props: Any
    ) -> None:
        self._in_loop(self._connect_outcome, c, rc, True)

    def _connect_outcome(self, client: paho.Client, rc: ReasonCode, lost: bool) -> None:
        if client is not self._paho:
            return  # an earlier connection's late callback
        if self._connect_result is not None and not self._connect_result.done():
            self._connect_result.set_result((rc, lost))
        if lost:
            self._disconnected.set()

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, rcs: Any, _p: Any) -> None:
        fut = self._subacks.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)
        refused = [rc for rc in rcs if getattr(rc, "is_failure", False)]
        if refused:
            log.warning("%s: broker refused %d subscription(s): %s", self.name, len(refused),
                        refused[0])

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _props: Any) -> None:
        fut = self._inflight.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _make_client(self) -> paho.Client:
        client = build_paho(self.config, self.client_id, self._username, self._password,
                            self._will, session=self._session, manual_ack=self._manual_ack)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        for sub in self._subs.values():
            if sub.handlers:
                client.message_callback_add(sub.topic_filter, self._dispatcher(sub))
        if self._default_handler is not None:
            client.on_message = self._default_dispatcher
        return client

    async def _connect_once(self) -> None:
        assert self._loop is not None
        self.state = LinkState.CONNECTING
        self._teardown_socket()
        self._paho = client = self._make_client()
        self._conn_started = time.monotonic()  # paho stamps messages with time.monotonic()
        self._disconnected.clear()
        self._connect_result = self._loop.create_future()
        try:
            await self._loop.run_in_executor(None, functools.partial(
                client.connect, self.config.host, self.config.port, self.config.keepalive,
                **self._session.connect_args()))
        except (OSError, socket.gaierror, ssl.SSLError) as exc:
            raise MqttError(f"cannot reach {self.config.host}:{self.config.port}: {exc}") from exc
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                rc, lost = await self._connect_result
        except TimeoutError:
            self._maybe_fall_back(None, True)
            raise MqttError(f"no CONNACK from {self.config.host}:{self.config.port} within "
                            f"{self.config.connect_timeout:g}s") from None
        if rc.is_failure:
            self._maybe_fall_back(rc, lost)
            raise MqttError(f"broker refused {self.name} ({self._username or 'anonymous'}): {rc}")
        self.connect_count += 1
        # Subscriptions are acknowledged before the link counts as connected, so whoever waits
        # for "connected" knows commands sent from then on reach us.
        subs = [(s.topic_filter, s.qos) for s in self._subs.values()]
        acks: list[asyncio.Future[None]] = []
        for i in range(0, len(subs), 500):
            sub_rc, mid = client.subscribe(subs[i : i + 500])
            if sub_rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                fut = self._loop.create_future()
                self._subacks[mid] = fut
                acks.append(fut)
        if acks:
            async with asyncio.timeout(max(10.0, self.config.keepalive)):
                await asyncio.gather(*acks)
        self.state = LinkState.UP
        self._connected.set()
        log.info("%s: connected to %s:%d as %s", self.name, self.config.host, self.config.port,
                 self.client_id)
        self._announcing = True
        try:
            for hook in list(self._hooks):
                try:
                    await hook()
                except Exception:
                    log.exception("%s: on-connect hook failed", self.name)
        finally:
            self._announcing = False
        self._flush_queue()

    def _maybe_fall_back(self, rc: ReasonCode | None, lost: bool) -> None:
        """A 3.1.1-only broker turned MQTT 5 away: use 3.1.1 from now on."""
        if not self._session.refused_for_protocol(rc, lost):
            return
        log.warning("%s: %s:%d does not take MQTT 5 (%s); using MQTT 3.1.1, whose receive "
                    "window is the broker's max_inflight_messages", self.name, self.config.host,
                    self.config.port, rc or "no CONNACK")
        s = self._session
        self._session = Session("3.1.1", s.clean_session, None)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._paho is not None:
                self._paho.loop_misc()

    async def _supervise(self) -> None:
        self._misc_task = asyncio.create_task(self._misc_loop(), name=f"mqtt-misc-{self.name}")
        backoff = Backoff(self.config.reconnect_min, self.config.reconnect_max)
        while self.state is not LinkState.CLOSED:
            try:
                await self._connect_once()
                backoff.reset()
                await self._disconnected.wait()
                if self.state is LinkState.CLOSED:
                    return
                log.warning("%s: connection to broker lost; reconnecting", self.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, backoff.delay)
            finally:
                self._connected.clear()
            if self.state is LinkState.CLOSED:
                return
            self.state = LinkState.BACKOFF
            self._teardown_socket()
            await backoff.wait()

    async def _wait_socket_closed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._disconnected.wait()

    def _teardown_socket(self) -> None:
        client = self._paho
        if client is None:
            return
        sock = client.socket()
        if sock is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
        close_socket(client)
