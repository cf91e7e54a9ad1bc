"""The socket glue's two batching helpers, on their own: queued packets joined for one ``send``
(order kept, paho's post-send work intact) and one ``recv`` serving paho's small reads."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from spark.core.mqtt.glue import BufferedRecv, coalesce


def pkt(command: int, data: bytes, qos: int = 1, pos: int = 0) -> dict[str, Any]:
    return {"command": command, "mid": 1, "qos": qos, "pos": pos,
            "to_process": len(data) - pos, "packet": data, "info": object()}


def test_coalesce_joins_runs_and_keeps_what_paho_finishes_alone() -> None:
    qos0 = pkt(0x30, b"P0", qos=0)
    disconnect = pkt(0xE0, b"D")
    out = deque([pkt(0x40, b"a1"), pkt(0x40, b"a2"), pkt(0x32, b"p1"), qos0,
                 pkt(0x40, b"a3"), disconnect, pkt(0xC0, b"ping")])
    coalesce(out)
    got = list(out)
    assert [p["packet"] for p in got] == [b"a1a2p1", b"P0", b"a3", b"D", b"ping"]
    assert got[1] is qos0 and got[3] is disconnect  # paho marks / closes after these
    assert got[0]["to_process"] == 6 and got[0]["pos"] == 0
    assert got[0]["command"] & 0xF0 not in (0x30, 0xE0)  # no post-send work for the join


def test_coalesce_leaves_a_partly_written_packet_first() -> None:
    partial = pkt(0x32, b"xxxx", pos=2)
    out = deque([partial, pkt(0x40, b"a"), pkt(0x40, b"b")])
    coalesce(out)
    assert out[0] is partial and [p["packet"] for p in out] == [b"xxxx", b"ab"]


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
