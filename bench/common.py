"""Shared bench plumbing: a throwaway Mosquitto on our generated config, a lean publisher,
figures.

The broker is the production one: :func:`hub.broker.generate_files` writes ``mosquitto.conf``,
``passwd`` and ``acl`` from a :class:`SparkConfig` (password auth, per-node ACLs, the configured
queue limits) into a temporary directory, and :class:`hub.broker.MosquittoProcess` runs it on a
free loopback port. Only ``sys_interval`` is shortened (1 s) so ``$SYS`` counters are fresh.

The publisher speaks MQTT 3.1.1 over a plain socket with pre-encoded packets: the consumers are
paused while it publishes, so its own speed only shortens the run, and a Python client would
compete for the two cores with Mosquitto for nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.app.config.models import SparkConfig
from spark.core.errors import BrokerError
from spark.hub.broker import MosquittoProcess, find_mosquitto, mosquitto_process, resolve_passwords

HOST = "127.0.0.1"
HUB_ID = "hub"
OBSERVER = "observer"  # reads $SYS only
RESULTS = Path(__file__).resolve().parent / "results"


class BenchError(Exception):
    """A bench could not run or its figures are not trustworthy; the message says why."""


# ---- config and broker -------------------------------------------------------------------------
def bench_config(data_dir: Path, port: int, node_accounts: Sequence[str] = (),
                 nodes: Sequence[dict[str, Any]] = (), recorder: bool = True,
                 users: Sequence[dict[str, Any]] = ()) -> SparkConfig:
    """The lab the bench runs: hub ``hub``, the given node accounts and nodes, our broker; the
    hub's recorder (on by default, as deployed) writes SQLite next to the broker's files."""
    return SparkConfig.model_validate({
        "recorder": {"enabled": recorder, "url": f"sqlite:///{data_dir.parent / 'history.db'}"},
        "mqtt": {"host": HOST, "port": port},
        "hub": {"id": HUB_ID},
        "broker": {
            "mode": "mosquitto",
            "data_dir": str(data_dir),
            "listen_host": HOST,
            "node_accounts": list(node_accounts),
            "users": [{"username": OBSERVER, "read": ["$SYS/#"]}, *users],
            "sys_interval": 1,
        },
        "nodes": list(nodes),
        "log_level": "WARNING",
    })


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Broker:
    config: SparkConfig
    passwords: dict[str, str]
    process: MosquittoProcess
    data_dir: Path

    @property
    def port(self) -> int:
        return self.config.mqtt.port

    def login(self, username: str) -> tuple[str, str]:
        return username, self.passwords[username]


@contextlib.contextmanager
def throwaway_broker(node_accounts: Sequence[str], nodes: Sequence[dict[str, Any]] = (),
                     recorder: bool = True, attempts: int = 3,
                     users: Sequence[dict[str, Any]] = ()) -> Iterator[Broker]:
    """Mosquitto on our generated files in a temp dir and a free port; stopped at the end."""
    if find_mosquitto() is None:
        raise BenchError("mosquitto is not installed (apt install mosquitto)")
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        data_dir = Path(tmp) / "broker"
        last: BrokerError | None = None
        for _ in range(attempts):  # a free port can be taken between probe and bind
            cfg = bench_config(data_dir, free_port(), node_accounts, nodes, recorder, users)
            process = mosquitto_process(cfg.broker_settings())  # generates conf, passwd, acl
            try:
                process.start_blocking()  # polls the port with a deadline
            except BrokerError as exc:
                last = exc
                continue
            try:
                yield Broker(cfg, resolve_passwords(cfg.broker_settings()), process, data_dir)
            finally:
                process.stop_blocking()
            return
        raise BenchError(f"could not start mosquitto: {last}")


# ---- MQTT 3.1.1 wire, just enough to publish fast -----------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id: str, username: str, password: str, keepalive: int = 60) -> bytes:
    flags = 0x80 | 0x40 | 0x02  # username, password, clean session
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    body += _str(client_id) + _str(username) + _str(password)
    return b"\x10" + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, retain: bool, mid: int) -> bytes:
    body = _str(topic) + (struct.pack("!H", mid) if qos else b"") + payload
    return bytes([0x30 | qos << 1 | int(retain)]) + _varint(len(body)) + body


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class RawPublisher:
    """One MQTT connection that sends pre-encoded PUBLISH packets and waits until the broker has
    taken them: every PUBACK for QoS 1, a PINGRESP after the last one for QoS 0 (the broker
    handles a connection's packets in order, so by then it has routed them all)."""

    def __init__(self, port: int, username: str, password: str, host: str = HOST) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        client_id = f"bench-pub-{uuid.uuid4().hex[:8]}"
        self.sock.sendall(connect_packet(client_id, username, password))
        kind, body = self._packet()
        if kind != 0x20 or len(body) < 2 or body[1] != 0:
            raise BenchError(f"broker refused publisher {username!r}: CONNACK {body.hex()}")

    def _packet(self) -> tuple[int, bytes]:
        while True:
            if len(self._buf) >= 2:
                length, mult, i = 0, 1, 1
                while i < len(self._buf):
                    byte = self._buf[i]
                    length += (byte & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not byte & 0x80:
                        break
                else:
                    i = -1
                if i > 0 and len(self._buf) >= i + length:
                    head, body = self._buf[0], self._buf[i:i + length]
                    self._buf = self._buf[i + length:]
                    return head & 0xF0, body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("broker closed the publisher's connection (ACL or limit?)")
            self._buf += chunk

    def send(self, data: bytes, count: int, qos: int) -> float:
        """Send ``count`` pre-encoded PUBLISH packets (``data``, all at ``qos``) and wait until
        the broker took them all; returns the seconds that took."""
        t0 = time.perf_counter()
        if qos == 0:
            data += PINGREQ
        error: list[BaseException] = []

        def writer() -> None:
            try:
                view = memoryview(data)
                for i in range(0, len(view), 1 << 20):
                    self.sock.sendall(view[i:i + (1 << 20)])
            except BaseException as exc:  # reported by the reading side
                error.append(exc)

        thread = threading.Thread(target=writer, name="bench-publisher", daemon=True)
        thread.start()
        acks = 0
        while qos == 0 or acks < count:
            kind, _body = self._packet()
            if kind == 0x40:
                acks += 1
            elif kind == 0xD0 and qos == 0:
                break
        thread.join()
        if error:
            raise BenchError(f"publisher failed: {error[0]}")
        return time.perf_counter() - t0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(DISCONNECT)
        self.sock.close()


def encode(messages: Iterable[tuple[str, bytes, bool]], qos: int) -> list[bytes]:
    """PUBLISH packets for ``(topic, payload, retain)`` messages (packet ids 1..65535 cycling;
    the broker keeps no state for incoming QoS 1 ids)."""
    return [publish_packet(topic, payload, qos, retain, mid % 65535 + 1)
            for mid, (topic, payload, retain) in enumerate(messages)]


def publish(port: int, login: tuple[str, str], messages: Iterable[tuple[str, bytes, bool]],
            qos: int = 1) -> float:
    """Publish ``(topic, payload, retain)`` messages in order at ``qos`` and wait until the
    broker took them; returns the seconds that took."""
    packets = encode(messages, qos)
    if not packets:
        return 0.0
    pub = RawPublisher(port, *login)
    try:
        return pub.send(b"".join(packets), len(packets), qos)
    finally:
        pub.close()


class SysObserver:
    """Follows ``$SYS/broker/publish/messages/dropped`` for the whole run. (Subscribe early and
    stay: with our config, Mosquitto 2.0.11 stopped handing the retained ``$SYS`` values to new
    subscribers about a minute after start, and it republishes a counter only when it changes.)"""

    DROPPED = "$SYS/broker/publish/messages/dropped"
    UPTIME = "$SYS/broker/uptime"

    def __init__(self, port: int, login: tuple[str, str]) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.dropped: int | None = None
        self._ticks = 0
        self._cond = threading.Condition()
        self._client = client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bench-sys-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv311)
        client.username_pw_set(*login)
        client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(
            [(self.DROPPED, 0), (self.UPTIME, 0)])
        client.on_message = self._on_message
        client.connect(HOST, port, 60)
        client.loop_start()
        self.wait_fresh(10.0, rounds=1)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._cond:
            if msg.topic == self.DROPPED:
                self.dropped = int(msg.payload)
            else:
                self._ticks += 1
            self._cond.notify_all()

    def wait_fresh(self, timeout: float = 5.0, rounds: int = 2) -> int:
        """Wait for ``rounds`` more ``$SYS`` rounds (two: every counter change so far has been
        sent); return the dropped counter (0 if it never changed)."""
        with self._cond:
            goal = self._ticks + rounds
            if not self._cond.wait_for(lambda: self._ticks >= goal, timeout):
                raise BenchError(f"no $SYS update within {timeout:.0f}s")
            return self.dropped or 0

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# ---- processes and figures ------------------------------------------------------------------
def pause(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def resume(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[k])
