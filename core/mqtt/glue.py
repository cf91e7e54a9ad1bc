"""Drive paho-mqtt's socket from the asyncio loop (``add_reader`` / coalesced writes).

Paho calls these hooks from the loop thread, except during ``connect`` (run in an executor
thread): those calls are handed to the loop thread-safely. Only paho's public API is used here;
what needs its internals (batched reads and writes) is in ``paho_private.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from spark.core.mqtt.paho_private import coalesce_queued, install_buffered_recv, read_burst

_READ_BURST = 500  # packets handled per readiness event before yielding to other tasks


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
        install_buffered_recv(_c)
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
        coalesce_queued(client)
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
        if read_burst(client, _READ_BURST) and self._loop is not None:
            self._loop.call_soon(self._read)  # the rest is in our buffer, not the socket's

    def _write(self) -> None:
        """Writable again after a full socket buffer."""
        if self._paho is not None:
            self._paho.loop_write()

    # ---- connection lifecycle ---------------------------------------------------------
