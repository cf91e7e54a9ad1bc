"""The paho-mqtt internals the asyncio glue uses (``core/mqtt/paho_private.py``): the installed
paho has them, exactly (a changed paho fails here, loudly, and at client construction); the
batching helpers work on packets paho itself built and against a real Mosquitto, through our
client's public API; one ``recv`` serves paho's small reads."""

from __future__ import annotations

import asyncio
import inspect
import re
import select
import time
import tomllib
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from broker_fixture import ADMIN, RunningBroker
from helpers import Recorder, wait_for
from packaging.requirements import Requirement
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from spark.core.mqtt import Message, MqttClient
from spark.core.mqtt.paho_private import (
    METHODS,
    OUT_PACKET_KEYS,
    SUPPORTED,
    BufferedRecv,
    PahoInternalsError,
    check_internals,
    coalesce_queued,
)

ROOT = Path(__file__).resolve().parents[1]


# ---- the installed paho is the one paho_private was written against -------------------------
def test_installed_paho_is_the_pinned_minor_with_our_internals() -> None:
    pins = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())
            ["project"]["dependencies"] if r.startswith("paho-mqtt")]
    assert [str(p) for p in pins] == [str(Requirement(SUPPORTED))], "pyproject pin != SUPPORTED"
    assert pins[0].specifier.contains(paho_version), (
        f"installed paho-mqtt {paho_version} is outside {SUPPORTED}: check "
        "spark/core/mqtt/paho_private.py against its source, then move the pin")
    check_internals()


def _method_source(name: str) -> str:
    return inspect.getsource(getattr(paho.Client, name))


def test_paho_uses_its_internals_the_way_paho_private_relies_on() -> None:
    """What the helpers assume about paho's own code, read from that code."""
    client_src = inspect.getsource(paho.Client)
    # BufferedRecv sees every byte: the MQTT socket is read only in _sock_recv, which
    # _packet_read calls for the command byte, each length byte and the body.
    assert client_src.count("self._sock.recv(") == 1
    assert "self._sock.recv(" in _method_source("_sock_recv")
    assert _method_source("_packet_read").count("self._sock_recv(") == 3
    # coalesce: _packet_write reads only the packet keys we keep, and does post-send work
    # only for a QoS 0 PUBLISH and a DISCONNECT (the two a joined run never holds).
    write_src = _method_source("_packet_write")
    assert set(re.findall(r"packet\[['\"](\w+)['\"]\]", write_src)) <= OUT_PACKET_KEYS
    conditions = re.findall(r"if \(packet\['command'\] & 0xF0\) == (\w+)(.*):", write_src)
    assert conditions == [("PUBLISH", " and packet['qos'] == 0"), ("DISCONNECT", "")]
    # read_burst: loop_read is _packet_read + _loop_rc_handle, one packet per call.
    read_src = _method_source("loop_read")
    assert "self._packet_read()" in read_src and "self._loop_rc_handle(rc)" in read_src


class _RenamedRead(paho.Client):
    def _packet_read(self, max_bytes: int) -> Any:  # type: ignore[override]
        return super()._packet_read()


class _ListQueue(paho.Client):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._out_packet = []  # type: ignore[assignment]


@pytest.mark.parametrize(("cls", "what"), [
    (_RenamedRead, "Client._packet_read(self, max_bytes) is not (self)"),
    (_ListQueue, "Client._out_packet is list, not a deque"),
])
def test_a_changed_paho_is_refused_naming_the_supported_range(cls: type[paho.Client],
                                                              what: str) -> None:
    assert set(METHODS) <= set(dir(paho.Client))
    with pytest.raises(PahoInternalsError) as err:
        check_internals(cls)
    assert what in str(err.value) and SUPPORTED in str(err.value)


# ---- coalescing, on packets paho built, against the broker ------------------------------------
def _pump(client: paho.Client, until: Any, timeout: float = 5.0) -> None:
    """Drive a paho client by hand (as an external event loop does) until ``until()``."""
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        assert left > 0, f"not true within {timeout:g}s: {until}"
        sock = client.socket()
        assert sock is not None, "connection closed"
        readable, _, _ = select.select([sock], [], [], min(left, 0.1))
        if readable:
            client.loop_read()
        while client.want_write():
            client.loop_write()


def test_coalesced_packets_leave_in_order_and_paho_finishes_each(broker: RunningBroker) -> None:
    topic = f"spark/gluetest/{uuid.uuid4().hex[:6]}"
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as rec:
        rec.connect()
        rec.subscribe(f"{topic}/#", qos=1)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"glue-{topic[-6:]}")
        client.username_pw_set(**broker.login(ADMIN))
        client.on_socket_register_write = lambda *_: None  # an external loop: paho only queues
        disconnected: list[Any] = []
        client.on_disconnect = lambda *args: disconnected.append(args)
        client.connect(broker.host, broker.port)
        _pump(client, client.is_connected)
        infos = [client.publish(f"{topic}/{i}", str(i), qos=qos)
                 for i, qos in enumerate((1, 1, 0, 1, 1, 0))]
        queued = len(client._out_packet)
        coalesce_queued(client)
        # [p0 p1] [p2] [p3 p4] [p5]: a QoS 0 publish stays alone (paho marks it published)
        assert (queued, len(client._out_packet)) == (6, 4)
        _pump(client, lambda: all(info.is_published() for info in infos))  # broker's PUBACKs
        rec.wait_count(f"{topic}/#", 6)
        assert rec.topics() == [f"{topic}/{i}" for i in range(6)]

        more = [client.publish(f"{topic}/{i}", str(i), qos=1) for i in (6, 7)]
        client.disconnect()
        coalesce_queued(client)
        assert len(client._out_packet) == 2  # [p6 p7] [DISCONNECT]: paho closes after it
        while client.want_write():
            client.loop_write()
        assert disconnected and client.socket() is None
        assert all(info.rc == 0 for info in more)


async def test_a_burst_of_mixed_publishes_arrives_in_order(broker: RunningBroker) -> None:
    """One loop pass of publishes (QoS 0 and 1) leaves as coalesced writes; every one arrives,
    in order; confirmed publishes (QoS 0 and 1) resolve."""
    topic = f"spark/gluetest/{uuid.uuid4().hex[:6]}"
    rec = Recorder(broker.host, broker.port, **broker.login(ADMIN))
    await asyncio.to_thread(rec.connect)
    await asyncio.to_thread(rec.subscribe, f"{topic}/#", qos=1)
    try:
        async with MqttClient(broker.mqtt_config(ADMIN), "glue") as client:
            await client.wait_connected(10)
            for i in range(300):
                client.publish(f"{topic}/{i}", str(i), qos=i % 2)
            async with asyncio.timeout(10):
                await asyncio.gather(*(client.publish_confirmed(f"{topic}/c/{i}", "c", qos=i % 2)
                                       for i in range(20)))
            await asyncio.to_thread(rec.wait_count, f"{topic}/#", 320, 10)
        plain = [int(t.rsplit("/", 1)[1]) for t in rec.topics() if "/c/" not in t]
        assert sorted(plain) == list(range(300))
        for qos in (0, 1):  # MQTT keeps the order of one QoS (the broker may interleave two)
            assert [i for i in plain if i % 2 == qos] == list(range(qos, 300, 2))
    finally:
        await asyncio.to_thread(rec.close)


async def test_ack_many_acknowledges_a_window_at_once(broker: RunningBroker) -> None:
    """With manual acks the broker stops at its in-flight window; ``ack_many`` (one buffer of
    PUBACKs) opens it again, until every message came, each once."""
    topic = f"spark/gluetest/{uuid.uuid4().hex[:6]}"
    got: list[Message] = []
    client = MqttClient(broker.mqtt_config(ADMIN), "acks", manual_ack=True)
    client.subscribe(topic, got.append, qos=1)
    async with client:
        await client.wait_connected(10)
        with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as pub:
            await asyncio.to_thread(pub.connect)
            for i in range(400):
                pub.client.publish(topic, str(i), qos=1)
            acked = 0

            def more() -> bool:
                return len(got) > acked

            while acked < 400:
                await wait_for(more, 10, what=f"more than {acked} messages")
                assert acked or len(got) < 400, "no in-flight window held the rest back"
                acked += client.ack_many(got[acked:])
        assert [m.payload for m in got] == [str(i).encode() for i in range(400)]


# ---- one recv for paho's small reads ----------------------------------------------------------
def test_buffered_recv_serves_small_reads_from_one_recv() -> None:
    chunks = deque([b"\x30\x05hello\x40", b"\x02\x00\x01"])
    calls: list[int] = []

    def recv(n: int) -> bytes:
        calls.append(n)
        if not chunks:
            raise BlockingIOError
        return chunks.popleft()

    r = BufferedRecv(recv)
    assert r(1) == b"\x30" and r(1) == b"\x05" and r.pending
    assert r(5) == b"hello" and r(1) == b"\x40" and not r.pending
    assert len(calls) == 1 and calls[0] >= 65536
    assert r(10) == b"\x02\x00\x01"  # a short read: paho asks again for the rest
    with pytest.raises(BlockingIOError):
        r(1)


def test_buffered_recv_passes_end_of_stream_on() -> None:
    r = BufferedRecv(lambda n: b"")
    assert r(1) == b""
