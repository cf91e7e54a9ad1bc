"""A client for Wyoming services (the protocol of Home Assistant's voice satellites and servers:
wyoming-faster-whisper, piper, openWakeWord), written from rhasspy/wyoming's description.

An event on the wire is one JSON line ``{"type", "version", "data_length", "payload_length"}``
(older peers put ``data`` in the line itself), then ``data_length`` bytes of JSON data, then
``payload_length`` bytes of payload (audio). The events used here: ``describe`` -> ``info``;
``transcribe`` + ``audio-start`` / ``audio-chunk`` / ``audio-stop`` -> ``transcript``;
``synthesize`` -> ``audio-start`` / ``audio-chunk`` ... / ``audio-stop``.

Everything a server sends is hostile: the line, the data and the payload have size limits
(:class:`Limits`), fields are type-checked, text is cut to ``max_text``, a reply's audio is
bounded in total, and every wait has a timeout.

:class:`WyomingLink` is one server: a supervisor loop (:meth:`WyomingLink.run`) connects, asks
``describe``, keeps the connection, and after any failure closes it, backs off
(``core/backoff.py``) and connects again. Requests (:meth:`WyomingLink.transcribe`,
:meth:`WyomingLink.synthesize`) take the connection one at a time; a request that fails breaks
the connection (a stream left mid-event cannot be trusted) and raises :class:`WyomingError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import Field

from spark.core.backoff import Backoff
from spark.core.link import LinkState
from spark.nodes.voice.errors import VoiceError
from spark.nodes.voice.pcm import RATE
from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
PROTOCOL_VERSION = "1.5.0"  # what we say we speak; peers ignore versions they do not know
CHUNK_BYTES = 2048  # audio we send per audio-chunk (1024 samples, 64 ms)


class WyomingError(VoiceError):
    """A Wyoming server is unreachable, too slow, or sent something out of bounds."""


class WyomingServerConfig(StageConfig):
    host: str = Field(description="Wyoming server host name or address.")
    port: int = Field(ge=1, le=65535, description="Its TCP port (faster-whisper 10300, "
                      "piper 10200, openWakeWord 10400).")
    connect_timeout_s: float = Field(5.0, gt=0, le=60, description="Connect and describe.")
    timeout_s: float = Field(15.0, gt=0, le=300, description="A request's answer.")
    backoff_max_s: float = Field(30.0, ge=1, le=600, description="Longest wait between "
                                 "reconnects.")


@dataclass(frozen=True, slots=True)
class Limits:
    line: int = 64 * 1024  # the JSON header line
    data: int = 1024 * 1024  # its JSON data
    payload: int = 1024 * 1024  # one event's payload (an audio chunk)
    audio: int = 32 * 1024 * 1024  # a whole reply's audio (~12 min at 22 kHz)
    events: int = 100_000  # events in one reply
    text: int = 2000  # characters of a transcript kept


@dataclass(slots=True)
class WyEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes | None = None

    def encode(self) -> bytes:
        header: dict[str, Any] = {"type": self.type, "version": PROTOCOL_VERSION}
        body = json.dumps(self.data, ensure_ascii=False).encode() if self.data else b""
        if body:
            header["data_length"] = len(body)
        if self.payload:
            header["payload_length"] = len(self.payload)
        return json.dumps(header).encode() + b"\n" + body + (self.payload or b"")


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise WyomingError(f"bad {key} {str(value)[:40]!r} (limit {limit})")
    return value


async def read_event(reader: asyncio.StreamReader, limits: Limits = Limits()) -> WyEvent:
    """One event, within ``limits``; :class:`WyomingError` on anything else (also EOF).
    The reader's own ``limit`` must be at least ``limits.line``."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise WyomingError(f"event line longer than {limits.line} bytes") from exc
    except asyncio.IncompleteReadError as exc:
        raise WyomingError("the server closed the connection") from exc
    if len(line) > limits.line:
        raise WyomingError(f"event line longer than {limits.line} bytes")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise WyomingError("event line is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("type"), str) or not (
            0 < len(header["type"]) <= 64):
        raise WyomingError("event without a type")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise WyomingError(f"{header['type']}: data is not an object")
    n_data = _length(header, "data_length", limits.data)
    n_payload = _length(header, "payload_length", limits.payload)
    try:
        if n_data:
            more = json.loads(await reader.readexactly(n_data))
            if not isinstance(more, dict):
                raise WyomingError(f"{header['type']}: data is not an object")
            data.update(more)
        payload = await reader.readexactly(n_payload) if n_payload else None
    except asyncio.IncompleteReadError as exc:
        raise WyomingError("the server closed the connection mid-event") from exc
    except ValueError as exc:
        raise WyomingError(f"{header['type']}: data is not JSON") from exc
    return WyEvent(header["type"], data, payload)


def audio_format(data: dict[str, Any]) -> tuple[int, int, int]:
    """(rate, width, channels) of an audio event, checked."""
    rate, width, channels = data.get("rate"), data.get("width"), data.get("channels")
    for name, value, low, high in (("rate", rate, 4000, 192_000), ("width", width, 1, 4),
                                   ("channels", channels, 1, 8)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise WyomingError(f"audio: bad {name} {str(value)[:20]!r}")
    assert isinstance(rate, int) and isinstance(width, int) and isinstance(channels, int)
    return rate, width, channels


class WyomingLink:
    """One Wyoming server: a supervised connection and the requests that use it."""

    def __init__(self, config: WyomingServerConfig, limits: Limits = Limits()) -> None:
        self.cfg = config
        self.limits = limits
        self.state = LinkState.IDLE
        self.info: dict[str, Any] = {}  # the server's answer to describe
        self.failures = 0
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._up = asyncio.Event()
        self._broken = asyncio.Event()
        self._busy = asyncio.Lock()

    @property
    def name(self) -> str:
        return f"wyoming://{self.cfg.host}:{self.cfg.port}"

    async def run(self) -> None:
        """The supervisor loop: connect, wait until the connection breaks, back off, again."""
        backoff = Backoff(0.5, self.cfg.backoff_max_s)
        try:
            while True:
                try:
                    self.state = LinkState.CONNECTING
                    await self._connect()
                    self.state = LinkState.UP
                    backoff.reset()
                    self._up.set()
                    await self._broken.wait()
                except (OSError, TimeoutError, WyomingError) as exc:
                    self.failures += 1
                    log.warning("%s: %s; again in %.1f s", self.name,
                                exc or type(exc).__name__, backoff.delay)
                await self._close(LinkState.BACKOFF)
                await backoff.wait()
        finally:  # stopped (cancelled), also while it waits out a backoff
            await self._close(LinkState.CLOSED)

    async def _connect(self) -> None:
        async with asyncio.timeout(self.cfg.connect_timeout_s):
            reader, writer = await asyncio.open_connection(
                self.cfg.host, self.cfg.port, limit=self.limits.line)
            self._streams = (reader, writer)
            self._broken.clear()
            writer.write(WyEvent("describe").encode())
            await writer.drain()
            while (event := await read_event(reader, self.limits)).type != "info":
                pass  # a server may say other things first; bounded by the timeout
            self.info = event.data

    async def _close(self, state: LinkState = LinkState.DOWN) -> None:
        self._up.clear()
        self.state = state
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()
            with contextlib.suppress(Exception):
                await streams[1].wait_closed()

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        """The connection for one request; any failure in it breaks the connection."""
        async with self._busy:
            try:
                async with asyncio.timeout(self.cfg.connect_timeout_s):
                    await self._up.wait()
            except TimeoutError:
                raise WyomingError(f"{self.name} is not connected") from None
            assert self._streams is not None
            try:
                async with asyncio.timeout(self.cfg.timeout_s):
                    yield self._streams
            except (OSError, TimeoutError, WyomingError) as exc:
                self.failures += 1
                self._up.clear()
                self._broken.set()
                if isinstance(exc, WyomingError):
                    raise
                raise WyomingError(f"{self.name}: {exc or type(exc).__name__}") from exc

    # ---- requests -----------------------------------------------------------------------
    async def transcribe(self, pcm: bytes, language: str | None = None) -> str:
        """The server's transcript of ``pcm`` (16 kHz mono int16)."""
        fmt = {"rate": RATE, "width": 2, "channels": 1}
        async with self._session() as (reader, writer):
            events = [WyEvent("transcribe", {"language": language} if language else {}),
                      WyEvent("audio-start", fmt)]
            events += [WyEvent("audio-chunk", fmt, pcm[i:i + CHUNK_BYTES])
                       for i in range(0, len(pcm), CHUNK_BYTES)]
            events.append(WyEvent("audio-stop"))
            writer.write(b"".join(e.encode() for e in events))
            await writer.drain()
            for _ in range(self.limits.events):
                event = await read_event(reader, self.limits)
                if event.type == "transcript":
                    text = event.data.get("text", "")
                    if not isinstance(text, str):
                        raise WyomingError("transcript: text is not a string")
                    return text[:self.limits.text]
            raise WyomingError(f"no transcript in {self.limits.events} events")

    async def synthesize(self, text: str, voice: str | None = None) -> tuple[bytes, int, int,
                                                                             int]:
        """(audio, rate, width, channels) of ``text`` spoken by the server."""
        data: dict[str, Any] = {"text": text}
        if voice:
            data["voice"] = {"name": voice}
        async with self._session() as (reader, writer):
            writer.write(WyEvent("synthesize", data).encode())
            await writer.drain()
            audio: list[bytes] = []
            size, fmt = 0, None
            for _ in range(self.limits.events):
                event = await read_event(reader, self.limits)
                if event.type == "audio-start":
                    fmt = audio_format(event.data)
                elif event.type == "audio-chunk":
                    chunk_fmt = audio_format(event.data)
                    fmt = fmt or chunk_fmt
                    if chunk_fmt != fmt:
                        raise WyomingError("audio-chunk: the format changed mid-stream")
                    size += len(event.payload or b"")
                    if size > self.limits.audio:
                        raise WyomingError(f"reply audio over {self.limits.audio} bytes")
                    audio.append(event.payload or b"")
                elif event.type == "audio-stop":
                    if fmt is None:
                        raise WyomingError("audio-stop without audio")
                    return b"".join(audio), *fmt
            raise WyomingError(f"no audio-stop in {self.limits.events} events")

    async def detect(self, names: list[str], audio: asyncio.Queue[bytes],
                     found: Callable[[str, int | None], None]) -> None:
        """Stream ``audio`` (16 kHz mono int16 chunks) to the wake word detector until
        cancelled; ``found(name, timestamp_ms)`` for every detection. Returns (or raises
        :class:`WyomingError`) when the connection breaks: call again (the supervisor
        reconnects meanwhile)."""
        async with self._busy:
            try:
                async with asyncio.timeout(self.cfg.connect_timeout_s):
                    await self._up.wait()
            except TimeoutError:
                raise WyomingError(f"{self.name} is not connected") from None
            assert self._streams is not None
            reader, writer = self._streams
            fmt = {"rate": RATE, "width": 2, "channels": 1}
            try:
                writer.write(WyEvent("detect", {"names": names} if names else {}).encode()
                             + WyEvent("audio-start", fmt).encode())
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._send_audio(writer, audio, fmt))
                    tg.create_task(self._detections(reader, found))
            except* (OSError, TimeoutError, WyomingError) as group:
                self.failures += 1
                self._up.clear()
                self._broken.set()
                raise WyomingError(f"{self.name}: {group.exceptions[0]}") from None

    async def _send_audio(self, writer: asyncio.StreamWriter, audio: asyncio.Queue[bytes],
                          fmt: dict[str, Any]) -> None:
        while True:
            chunk = await audio.get()
            writer.write(WyEvent("audio-chunk", fmt, chunk).encode())
            async with asyncio.timeout(self.cfg.timeout_s):
                await writer.drain()

    async def _detections(self, reader: asyncio.StreamReader,
                          found: Callable[[str, int | None], None]) -> None:
        while True:
            event = await read_event(reader, self.limits)
            if event.type == "detection":
                name, stamp = event.data.get("name"), event.data.get("timestamp")
                found(name[:100] if isinstance(name, str) else "",
                      stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None)


class LinkThread:
    """A :class:`WyomingLink` for synchronous callers (the recognisers run synchronously in
    their worker): its own event loop in a daemon thread runs the supervisor loop; :meth:`call`
    runs a request there and waits for it."""

    def __init__(self, config: WyomingServerConfig) -> None:
        self.cfg = config
        self.loop = asyncio.new_event_loop()
        self.link: WyomingLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"wyoming-{config.port}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.link = WyomingLink(self.cfg)
        self._task = self.loop.create_task(self.link.run(), name=f"wyoming-{self.cfg.port}")
        self._ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._task)
        self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.cfg.timeout_s + self.cfg.connect_timeout_s + 5)
        except TimeoutError as exc:
            future.cancel()
            raise WyomingError(f"{self.cfg.host}:{self.cfg.port}: no answer in time") from exc

    def close(self) -> None:
        if self._task is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5.0)


class WyomingWakeConfig(WyomingServerConfig):
    type: Literal["wyoming"] = "wyoming"
    names: list[str] = Field(default_factory=list, max_length=20, description="Wake word "
                             "models to detect (e.g. okay_nabu); empty: the server's.")
    phrases: list[str] = Field(default_factory=lambda: ["okay nabu"], min_length=1,
                               description="What the wake words say (dictionary words): "
                               "speech-to-text drops them before a command.")
