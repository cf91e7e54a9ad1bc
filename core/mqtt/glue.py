"""Drive paho-mqtt's socket from the asyncio loop (``add_reader`` / coalesced writes).

Paho calls these hooks from the loop thread, except during ``connect`` (run in an executor
thread): those calls are handed to the loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

_READ_BURST = 500  # packets handled per readiness event before yielding to other tasks
_PUBLISH, _PUBACK, _DISCONNECT = 0x30, 0x40, 0xE0
_PUBACK_PACK = struct.Struct("!BBH").pack


def queue_pubacks(client: paho.Client, mids: list[int]) -> None:
    """Queue the PUBACKs of ``mids`` as one buffer (paho would build and queue a packet per
    message): type, remaining length 2, packet id, the bytes paho sends for 3.1.1 and 5."""
    if mids:
        data = b"".join([_PUBACK_PACK(_PUBACK, 2, mid) for mid in mids])
        client._packet_queue(_PUBACK, data, 0, 0)


def coalesce(out: Any) -> None:
    """Join runs of paho's queued packets into one buffer, so they leave in one ``send``.

    paho writes each queued packet with its own ``send`` call: a burst of 1,000 QoS 1
    acknowledgements costs 1,000 syscalls here and wakes the broker 1,000 times. Only packets
    paho does nothing with once written are joined (acknowledgements, QoS 1/2 publishes, whose
    completion is the broker's PUBACK, subscribes, pings); a QoS 0 publish (paho then marks it
    published) or a DISCONNECT (paho then closes) stays a packet of its own, in order, and so
    does a packet already partly written.
    """
    if len(out) < 2:
        return
    merged: list[Any] = []
    run: list[Any] = []

    def close_run() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            merged.append(_packet(b"".join(bytes(p["packet"]) for p in run)))
        run.clear()

    for pkt in out:
        cmd = pkt["command"] & 0xF0
        if pkt["pos"] or cmd == _DISCONNECT or (cmd == _PUBLISH and pkt["qos"] == 0):
            close_run()
            merged.append(pkt)
        else:
            run.append(pkt)
    close_run()
    if len(merged) < len(out):
        out.clear()
        out.extend(merged)


class BufferedRecv:
    """paho reads each packet with three or four ``recv`` calls (command byte, each length
    byte, body); installed as the client's ``_sock_recv``, this serves them from one ``recv``
    of up to 64 KiB. Data it holds is invisible to the loop's readiness events: the reader
    checks :attr:`pending` before it yields."""

    __slots__ = ("_buf", "_pos", "_recv")

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buf = b""
        self._pos = 0

    @property
    def pending(self) -> bool:
        return self._pos < len(self._buf)

    def __call__(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._recv(max(bufsize, 65536))  # BlockingIOError when empty; b"" at EOF
            if not buf:
                return buf
            self._buf, pos = buf, 0
        self._pos = pos + bufsize
        return buf[pos:pos + bufsize]


def _packet(data: bytes) -> dict[str, Any]:
    return {"command": _PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
            "packet": data, "info": None}


class SocketGlue:
    """Mixin for :class:`~core.mqtt.client.MqttClient`: the paho socket callbacks."""

    _loop: asyncio.AbstractEventLoop | None
    _loop_thread: int
    _paho: paho.Client | None
    _write_pending: bool
    _disconnected: asyncio.Event

    def _in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` now when on the loop thread (paho called us from the loop), else hand it
        over thread-safely (paho's connect runs in an executor thread)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        # Small packets (commands, acks) must not wait for Nagle + delayed ACK (~40 ms).
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if callable(getattr(_c, "_sock_recv", None)):
            _c._sock_recv = BufferedRecv(_c._sock_recv)  # type: ignore[method-assign]
        self._in_loop(self._watch, sock, True, False)

    def _on_socket_close(self, c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._remove_fd, sock, c)

    def _on_socket_register_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._schedule_write, sock)

    def _schedule_write(self, sock: Any) -> None:
        """Coalesce writes: everything paho queued while handling a burst of incoming packets
        (QoS 1 acks, replies) goes out in one ``send`` at the end of this loop pass, instead of
        an ``add_writer``/``remove_writer`` pair and an extra loop pass per packet."""
        if not self._write_pending and self._loop is not None:
            self._write_pending = True
            self._loop.call_soon(self._flush_write, sock)

    def _flush_write(self, sock: Any) -> None:
        self._write_pending = False
        client = self._paho
        if client is None or sock.fileno() < 0 or client.socket() is not sock:
            return
        out = getattr(client, "_out_packet", None)
        if out is not None:
            coalesce(out)
        client.loop_write()
        if client.want_write():  # the socket buffer is full: wait until it drains
            self._watch(sock, False, True)

    def _on_socket_unregister_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._watch, sock, False, False)

    def _watch(self, sock: Any, read: bool, write: bool) -> None:
        assert self._loop is not None
        if sock.fileno() < 0:
            return
        try:
            if read:
                self._loop.add_reader(sock, self._read)
            elif write:
                self._loop.add_writer(sock, self._write)
            else:
                self._loop.remove_writer(sock)
        except (OSError, ValueError):
            pass

    def _remove_fd(self, sock: Any, client: paho.Client | None = None) -> None:
        assert self._loop is not None
        if sock.fileno() >= 0:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
        # Only the current connection's end counts: a late close of an earlier socket must not
        # tear down the new link (the broker would then publish our will after our "online").
        if client is None or client is self._paho:
            self._disconnected.set()

    def _read(self) -> None:
        """Read every packet already buffered, not one per loop pass (paho 2.x's ``loop_read``
        reads a single packet whatever ``max_packets`` says)."""
        client = self._paho
        if client is None:
            return
        read_packet = getattr(client, "_packet_read", None)
        if read_packet is None:  # another paho: one packet per readiness event
            client.loop_read()
            return
        for _ in range(_READ_BURST):
            if client.socket() is None:
                return
            rc = read_packet()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                client._loop_rc_handle(rc)
                return
        recv = getattr(client, "_sock_recv", None)
        if isinstance(recv, BufferedRecv) and recv.pending and self._loop is not None:
            self._loop.call_soon(self._read)  # the rest is in our buffer, not the socket's

    def _write(self) -> None:
        """Writable again after a full socket buffer."""
        if self._paho is not None:
            self._paho.loop_write()

    # ---- connection lifecycle ---------------------------------------------------------
