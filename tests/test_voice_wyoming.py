"""The voice node on Wyoming services: a Wyoming server the test starts (the ``wyoming``
package's own server classes) wraps our pocketsphinx speech-to-text and espeak-ng synthesis;
the node's ``stt`` and ``tts`` point at it. Spoken command end to end, the reply synthesised by
the server, a server that dies mid-stream, and hostile server input.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from broker_fixture import RunningBroker
from helpers import wait_for
from test_voice_e2e import LAMP, voice_lab

from spark.nodes.voice.audio import read_wav, silence, write_wav
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vocab import build_vocabulary
from spark.nodes.voice.wake.sphinx import SphinxKwsWake, SphinxKwsWakeConfig
from spark.nodes.voice.wyoming import Limits, WyomingError, WyomingLink, WyomingServerConfig


@pytest.fixture
def broker(fresh_broker: RunningBroker) -> RunningBroker:
    """A broker of this test's own: the session's broker keeps other tests' retained
    discovery (sim2, sim3, the simulated devices ...), whose names the voice node would hear
    too and its gate would weigh against the lamp (seen only in whole-suite runs)."""
    return fresh_broker

with warnings.catch_warnings():  # wyoming.audio imports audioop, deprecated in 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.asr import Transcript as WyTranscript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.event import Event
    from wyoming.server import AsyncEventHandler, AsyncTcpServer
    from wyoming.tts import Synthesize
    from wyoming.wake import Detection

pytestmark = pytest.mark.slow
ENTITIES = [{"entity_id": LAMP, "name": "Sim one lamp", "platform": "switch",
             "device_id": "sim1", "state": "off"}]


@dataclass
class Behaviour:
    die_mid_stream: bool = False  # close the connection instead of answering
    transcripts: int = 0
    syntheses: int = 0


class OurBackends(AsyncEventHandler):
    """A Wyoming server's handler around our own pocketsphinx STT and espeak-ng TTS."""

    def __init__(self, stt: PocketsphinxStt, tts: EspeakTts, how: Behaviour,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.stt, self.tts, self.how = stt, tts, how
        self.audio: list[bytes] = []

    async def handle_event(self, event: Event) -> bool:
        if event.type == "describe":
            await self.write_event(Event("info", {
                "asr": [{"name": "spark-sphinx", "installed": True, "models": []}],
                "tts": [{"name": "spark-espeak", "installed": True, "voices": []}]}))
        elif AudioStart.is_type(event.type):
            self.audio = []
        elif AudioChunk.is_type(event.type):
            self.audio.append(AudioChunk.from_event(event).audio)
        elif AudioStop.is_type(event.type):
            if self.how.die_mid_stream:
                return False  # the connection closes: no transcript
            transcript = await asyncio.to_thread(self.stt.decode, b"".join(self.audio))
            self.how.transcripts += 1
            await self.write_event(WyTranscript(text=transcript.text).event())
        elif Synthesize.is_type(event.type):
            samples = await self.tts.synthesize(Synthesize.from_event(event).text)
            pcm = samples.tobytes()
            fmt = {"rate": 16000, "width": 2, "channels": 1}
            await self.write_event(AudioStart(**fmt).event())
            if self.how.die_mid_stream:
                await self.write_event(AudioChunk(audio=pcm[:4096], **fmt).event())
                return False
            for i in range(0, len(pcm), 4096):
                await self.write_event(AudioChunk(audio=pcm[i:i + 4096], **fmt).event())
            await self.write_event(AudioStop().event())
            self.how.syntheses += 1
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def wyoming_server(how: Behaviour) -> AsyncIterator[int]:
    stt = PocketsphinxStt(PocketsphinxSttConfig(), ["hey spark"])
    await asyncio.to_thread(stt.open)
    stt.set_vocabulary(build_vocabulary(ENTITIES, None, stt.lexicon()))
    tts = EspeakTts(EspeakTtsConfig())
    port = free_port()
    server = AsyncTcpServer("127.0.0.1", port)
    await server.start(lambda r, w: OurBackends(stt, tts, how, r, w))
    try:
        yield port
    finally:
        await server.stop()


async def test_spoken_command_through_wyoming_stt_and_tts(broker: RunningBroker,
                                                           tmp_path: Path) -> None:
    how = Behaviour()
    async with wyoming_server(how) as port:
        link = {"host": "127.0.0.1", "port": port, "timeout_s": 30}
        async with voice_lab(broker, tmp_path, stt={"type": "wyoming", **link},
                             tts={"type": "wyoming", **link}) as lab:
            await lab.say("hey spark, turn on the sim one lamp", "en-us", 175)
            await wait_for(lambda: lab.state(LAMP) == "on", 60, what="lamp on")
            handled = await lab.reply()
            assert handled.data["reply"] == "Turned on the sim one lamp."
            await wait_for(lambda: any(lab.outbox.glob("reply-*.wav")), 30,
                           what="the reply synthesised by the Wyoming server")
            reply = read_wav(next(lab.outbox.glob("reply-*.wav")))
            assert len(reply) > 16000 * 0.5 and how.transcripts == 1 and how.syntheses == 1

            # The server dies mid-stream: no transcript, no action, an error; the node stays.
            how.die_mid_stream = True
            await lab.say("hey spark, turn off the sim one lamp", "en-us", 175)
            failed = await lab.reply(1, timeout=60)
            assert failed.data["executed"] is False
            assert lab.state(LAMP) == "on"
            await wait_for(lambda: any(e.data.get("code") == "tts" for e in lab.events("error")),
                           30, what="the reply that could not be synthesised reported")

            # Back: the link reconnects (backoff) and the next command works.
            how.die_mid_stream = False
            await lab.say("hey spark, turn off the sim one lamp", "en-us", 175)
            await wait_for(lambda: lab.state(LAMP) == "off", 60, what="lamp off after")


class OurWakeWord(AsyncEventHandler):
    """A Wyoming wake word server's handler around our pocketsphinx keyphrase spotter."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.spotter = SphinxKwsWake(SphinxKwsWakeConfig(phrase="bumblebee"))
        self.pending = b""
        self.samples = 0

    async def handle_event(self, event: Event) -> bool:
        if event.type == "describe":
            await self.write_event(Event("info", {"wake": [{"name": "spark-kws",
                                                             "models": []}]}))
        elif AudioChunk.is_type(event.type):
            self.pending += AudioChunk.from_event(event).audio
            while len(self.pending) >= 960:
                frame, self.pending = self.pending[:960], self.pending[960:]
                self.samples += 480
                if self.spotter.feed(frame) is not None:
                    await self.write_event(Detection(name="bumblebee",
                                                     timestamp=self.samples // 16).event())
        return True


async def test_wake_word_from_a_wyoming_server(broker: RunningBroker, tmp_path: Path) -> None:
    port = free_port()
    server = AsyncTcpServer("127.0.0.1", port)
    await server.start(OurWakeWord)
    try:
        wake = {"type": "wyoming", "host": "127.0.0.1", "port": port, "names": ["bumblebee"],
                "phrases": ["bumblebee"]}
        source = {"type": "wav", "path": str(tmp_path / "in"), "gap_s": 0.8, "realtime": True}
        async with voice_lab(broker, tmp_path, wake=wake, source=source) as lab:
            # the wake word, a pause (the detection comes back over the network), the command
            wake_word = await lab.tts.synthesize("bumblebee", voice="en-us", speed=165)
            command = await lab.tts.synthesize("turn on the sim one lamp", voice="en-us",
                                               speed=165)
            write_wav(tmp_path / "cmd.tmp", np.concatenate([wake_word, silence(1.0), command]))
            (tmp_path / "cmd.tmp").rename(lab.inbox / "001.wav")
            await wait_for(lambda: lab.state(LAMP) == "on", 60, what="lamp on")
            assert lab.events("wake")[0].data["phrase"] == "bumblebee"
    finally:
        await server.stop()


async def hostile(payload: bytes) -> tuple[int, Exception | None]:
    """A server that answers describe with ``payload``; what the link makes of it."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(payload)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            await reader.read()  # keep it open: the client must not wait forever
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = WyomingLink(WyomingServerConfig(host="127.0.0.1", port=port,
                                           connect_timeout_s=2.0), Limits(line=1024,
                                                                          payload=4096))
    try:
        async with asyncio.timeout(10):
            await link._connect()
        return port, None
    except (WyomingError, TimeoutError) as exc:
        return port, exc
    finally:
        await link._close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("payload", "why"), [
    (b"x" * 5000 + b"\n", "longer than 1024"),
    (b'{"type": "info", "payload_length": 99999999}\n', "bad payload_length"),
    (b'{"type": "info", "data_length": -5}\n', "bad data_length"),
    (b'[1, 2, 3]\n', "without a type"),
    (b'{"type": "info", "data_length": 10}\n{"a": 1}', ""),  # then silence: a timeout
    (b"\xff\xfe not json\n", "not JSON"),
])
async def test_hostile_server_input_is_bounded(payload: bytes, why: str) -> None:
    _, exc = await hostile(payload)
    assert exc is not None
    assert why in str(exc) or isinstance(exc, TimeoutError)


async def test_the_link_speaks_the_one_link_vocabulary() -> None:
    """``core.link.LinkState`` (issue 14: one vocabulary for every external link): idle, up once
    the server described itself, backoff while it is gone, closed when stopped."""
    from spark.core.link import LinkState
    from spark.nodes.voice.wyoming import WyEvent

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # describe
        writer.write(WyEvent("info", {}).encode())
        await writer.drain()
        writer.close()  # then hang up: the next request breaks the link

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = WyomingLink(WyomingServerConfig(host="127.0.0.1", port=port, connect_timeout_s=2.0,
                                           timeout_s=2.0, backoff_max_s=1.0))
    assert link.state is LinkState.IDLE
    task = asyncio.create_task(link.run())
    try:
        await wait_for(lambda: link.state is LinkState.UP, 10, what="up after describe")
        server.close()
        await server.wait_closed()
        with pytest.raises(WyomingError):
            await link.transcribe(b"\0\0" * 160)
        await wait_for(lambda: link.state is LinkState.BACKOFF, 10, what="backoff, server gone")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert link.state is LinkState.CLOSED
