"""A TCP proxy in front of an engine whose fault tests switch at run time.

``FaultProxy`` is a small real asyncio server (an async context manager: it listens on entry,
closes every connection it holds on exit). Each new connection gets the mode current when it was
accepted; switching modes does not touch connections already running.

- ``PASS``: a plain pipe both ways.
- ``REFUSE``: the listening socket is closed, so a connect is refused (the port stays reserved
  for us: it is bound again, same port, when the mode leaves ``REFUSE``).
- ``BLACKHOLE``: accepts, reads and drops what the client sends, never answers.
- ``DIE_MID_STREAM``: a pipe that closes both sides after ``after_bytes`` bytes of the response.
- ``HTTP_500``: reads the request head, answers ``500`` with an OpenAI-style error body, closes.
- ``SLOW_FIRST_BYTE``: a pipe that holds the first byte of the response for ``delay`` seconds.

``accepted`` counts connections per mode (a router's breaker is checked by this: it must stop
connecting to a dead backend). Bounded: at most ``max_connections`` at once (more are closed at
accept) and at most ``MAX_HEAD`` bytes read for a request head in ``HTTP_500``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import socket
from collections import Counter
from dataclasses import dataclass
from types import TracebackType

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024


class Mode(enum.StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"
    DIE_MID_STREAM = "die_mid_stream"
    HTTP_500 = "http_500"
    SLOW_FIRST_BYTE = "slow_first_byte"


@dataclass(frozen=True)
class Fault:
    mode: Mode = Mode.PASS
    after_bytes: int = 0  # DIE_MID_STREAM: response bytes passed before the close
    delay: float = 0.0  # SLOW_FIRST_BYTE: seconds before the first response byte


ERROR_500 = json.dumps({"error": {"message": "injected fault: internal server error",
                                  "type": "server_error", "code": 500}}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class FaultProxy:
    """``async with FaultProxy(upstream_host, upstream_port) as proxy: proxy.url ...``"""

    def __init__(self, upstream_host: str, upstream_port: int, *, max_connections: int = 64
                 ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = _free_port()
        self.max_connections = max_connections
        self.fault = Fault()
        self.accepted: Counter[Mode] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def mode(self) -> Mode:
        return self.fault.mode

    async def __aenter__(self) -> FaultProxy:
        await self._listen()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._close_listener()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def set_fault(self, mode: Mode, *, after_bytes: int = 0, delay: float = 0.0) -> None:
        """Switch the mode for connections accepted from now on."""
        self.fault = Fault(Mode(mode), after_bytes, delay)
        if self.fault.mode is Mode.REFUSE:
            await self._close_listener()
        elif self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        if self.fault.mode is Mode.REFUSE:
            return
        self._server = await asyncio.start_server(self._accept, HOST, self.port,
                                                  reuse_address=True)

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # stops listening at once; held connections are ours to close

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= self.max_connections:
            writer.transport.abort()
            return
        fault = self.fault
        self.accepted[fault.mode] += 1
        self._writers.add(writer)
        task = asyncio.get_running_loop().create_task(self._serve(fault, reader, writer),
                                                      name=f"fault-proxy-{fault.mode}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, fault: Fault, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            if fault.mode is Mode.BLACKHOLE:
                while await reader.read(CHUNK):
                    pass
            elif fault.mode is Mode.HTTP_500:
                await self._answer_500(reader, writer)
            else:
                await self._pipe(fault, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _answer_500(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            return
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = min(int(value.strip() or 0), MAX_HEAD)
        if length:
            await reader.readexactly(length)
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
                     b"content-length: " + str(len(ERROR_500)).encode() +
                     b"\r\nconnection: close\r\n\r\n" + ERROR_500)
        await writer.drain()

    async def _pipe(self, fault: Fault, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            async with asyncio.TaskGroup() as group:
                upstream = group.create_task(self._copy(reader, up_writer), name="to-engine")
                with contextlib.suppress(ConnectionError):
                    await self._respond(fault, up_reader, writer)
                upstream.cancel()
        finally:
            up_writer.transport.abort()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    @staticmethod
    async def _respond(fault: Fault, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        """Copy the engine's response to the client, applying the fault."""
        first, sent = True, 0
        while data := await reader.read(CHUNK):
            if first and fault.mode is Mode.SLOW_FIRST_BYTE:
                await asyncio.sleep(fault.delay)  # the fault itself: hold the first byte
            first = False
            if fault.mode is Mode.DIE_MID_STREAM:
                data = data[: max(fault.after_bytes - sent, 0)]
            writer.write(data)
            await writer.drain()
            sent += len(data)
            if fault.mode is Mode.DIE_MID_STREAM and sent >= fault.after_bytes:
                return
