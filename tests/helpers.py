"""Test helpers: condition waits with deadlines (never bare sleeps) and a recording MQTT client.

Import from test modules as ``from helpers import wait_for, Recorder`` (pytest puts tests/ on
sys.path).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from spark.core.topics import matches

Predicate = Callable[[], bool | Awaitable[bool]]


async def wait_for(
    predicate: Predicate,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str | None = None,
) -> None:
    """Poll ``predicate`` (sync or async) every ``interval`` s until true, else fail after
    ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"not true within {timeout:g}s: {what or predicate}") from None


class Recorder:
    """A paho client on its own network thread that records every message it receives.

    Blocking waits use a ``threading.Condition`` with a deadline; from async code wrap them in
    ``asyncio.to_thread`` (a broker running in the same event loop must keep running).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{username or 'anon'}-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv311,
            clean_session=clean_session,
            reconnect_on_failure=False,
        )
        self.client.max_inflight_messages_set(1000)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages: list[paho.MQTTMessage] = []
        self.connect_rc: ReasonCode | None = None
        self.suback: dict[int, list[ReasonCode]] = {}
        self._cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # ---- callbacks (network thread) -----------------------------------------------------
    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self.connect_rc = rc
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self.suback[mid] = rcs
            self._cond.notify_all()

    # ---- API ------------------------------------------------------------------------------
    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"not true within {timeout:g}s: {what or predicate}")

    def connect(self, timeout: float = 5.0) -> ReasonCode:
        """Connect and return the CONNACK reason code (success or the refusal)."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.wait(lambda: self.connect_rc is not None, timeout, "CONNACK")
        assert self.connect_rc is not None
        return self.connect_rc

    def subscribe(self, *filters: str, qos: int = 1, timeout: float = 5.0) -> list[ReasonCode]:
        _rc, mid = self.client.subscribe([(f, qos) for f in filters])
        assert mid is not None, f"subscribe {filters} failed: {_rc}"
        self.wait(lambda: mid in self.suback, timeout, f"SUBACK for {filters}")
        return self.suback[mid]

    def publish(
        self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False,
        timeout: float = 5.0,
    ) -> None:
        """Publish and wait for the broker's acknowledgement (QoS 1/2)."""
        info = self.client.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise AssertionError(f"{topic}: not acknowledged within {timeout:g}s")

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.messages]

    def received(self, topic_filter: str) -> list[paho.MQTTMessage]:
        with self._cond:
            return [m for m in self.messages if matches(topic_filter, m.topic)]

    def wait_topic(self, topic_filter: str, timeout: float = 5.0) -> paho.MQTTMessage:
        self.wait(lambda: any(matches(topic_filter, m.topic) for m in self.messages), timeout,
                  f"a message on {topic_filter}")
        return self.received(topic_filter)[0]

    def wait_count(self, topic_filter: str, count: int, timeout: float = 5.0) -> None:
        state = {"scanned": 0, "found": 0}  # scan only what arrived since the last wake-up

        def enough() -> bool:
            new = self.messages[state["scanned"] :]
            state["scanned"] += len(new)
            state["found"] += sum(1 for m in new if matches(topic_filter, m.topic))
            return state["found"] >= count

        self.wait(enough, timeout, f"{count} messages on {topic_filter}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # paho closes the wake-up socket pair loop_start() made only in Client.__del__, which a
        # reference cycle can delay until a gc run (then: ResourceWarning, an error here).
        self.client._reset_sockets()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_rc(host: str, port: int, username: str | None, password: str | None) -> ReasonCode:
    """The CONNACK reason code a login gets (the client disconnects right after)."""
    rec = Recorder(host, port, username, password)
    try:
        return rec.connect()
    finally:
        rec.close()

