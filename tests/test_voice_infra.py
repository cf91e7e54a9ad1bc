"""Voice node infrastructure (issue 18): the recognisers in a worker process that may crash,
end of speech in audio time, the continuous-noise detectors.

Speech is made now with espeak-ng; the broker, hub and simulated lamp are real.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from broker_fixture import RunningBroker
from helpers import wait_for
from test_voice_e2e import LAMP, voice_lab

from spark.nodes.voice.audio import FRAME_SAMPLES, RATE, dither, frames, mix_at_snr, silence
from spark.nodes.voice.config import VoiceNodeConfig
from spark.nodes.voice.pcm import FRAME_S
from spark.nodes.voice.pipeline import Signal
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vad import (
    Endpointer,
    RelativeVad,
    RelativeVadConfig,
    SileroVad,
    SileroVadConfig,
)
from spark.nodes.voice.vocab import Vocabulary
from spark.nodes.voice.worker import PipelineProcess, WorkerDied, build_pipeline


@pytest.fixture
def broker(fresh_broker: RunningBroker) -> RunningBroker:
    """A broker of this test's own: the session's broker keeps other tests' retained
    discovery (sim2, sim3, the simulated devices ...), whose names the voice node would hear
    too and its gate would weigh against the lamp (seen only in whole-suite runs)."""
    return fresh_broker

pytestmark = pytest.mark.slow
ENTITIES = [{"entity_id": LAMP, "name": "Sim one lamp", "platform": "switch",
             "device_id": "sim1", "state": "off"}]


async def speech(text: str, voice: str = "en-us+f3", speed: int = 175) -> np.ndarray:
    return await EspeakTts(EspeakTtsConfig(voice=voice, speed=speed)).synthesize(text)


def voiced_end(samples: np.ndarray, offset: float) -> float:
    """Where speech ends in ``samples`` (seconds, plus ``offset``): the end of the last 10 ms
    louder than -45 dBFS."""
    hop = RATE // 100
    levels = [float(np.sqrt(np.mean(samples[i:i + hop].astype(np.float64) ** 2)))
              for i in range(0, len(samples) - hop + 1, hop)]
    loud = [i for i, level in enumerate(levels) if level > 32768 * 10 ** (-45 / 20)]
    return offset + (loud[-1] + 1) * hop / RATE


def stream(*parts: np.ndarray) -> np.ndarray:
    return dither(np.concatenate(parts), np.random.default_rng(1))


def config(**extra: object) -> VoiceNodeConfig:
    return VoiceNodeConfig.model_validate({"id": "voice", "array": {"type": "none"},
                                           "wake": {"type": "pocketsphinx"},  # "hey spark"
                                           **extra})


async def test_speech_end_is_where_the_audio_ended_not_when_decoding_did() -> None:
    """The speech-end signal carries the capture time of the last voiced frame: audio time,
    before the silence waited and the decoding (they count in the response time)."""
    command = await speech("hey spark, turn on the sim one lamp")
    true_end = voiced_end(command, 1.0)
    audio = stream(silence(1.0), command, silence(1.5))
    pipeline = build_pipeline(config())
    pipeline.open()
    pipeline.set_vocabulary(pipeline.build_vocabulary(ENTITIES))
    t0 = 1000.0  # a capture clock of our own: frame k ended at t0 + (k + 1) * 30 ms
    got: list[Signal] = []
    for k, frame in enumerate(frames(audio)):
        got += pipeline.feed(frame, t0 + (k + 1) * FRAME_S)
    end = next(s for s in got if s.kind == "speech-end")
    utterance = next(s for s in got if s.kind == "utterance")
    assert utterance.transcript is not None
    assert utterance.transcript.text == "turn on the sim one lamp"
    assert abs(end.data["audio_end_s"] - true_end) < 0.2, (end.data, true_end)
    assert abs(end.wall - (t0 + true_end)) < 0.2
    assert end.data["silence_s"] > 0.1  # waited after the end, not counted as speech


async def test_a_crashed_worker_raises_and_a_new_one_has_the_vocabulary() -> None:
    """SIGSEGV in the recognisers' process mid-utterance: the call says so (exit code,
    signal); a restarted worker has the vocabulary again and hears the next command."""
    wake = await speech("hey spark")
    command = await speech("turn on the sim one lamp")
    audio = stream(silence(0.8), wake, silence(0.8), command, silence(1.2))
    worker = PipelineProcess(config(), timeout_s=60)
    await asyncio.to_thread(worker.start)
    try:
        vocab: Vocabulary = worker.build_vocabulary(ENTITIES)
        worker.set_vocabulary(vocab)
        pid = worker.pid
        assert pid is not None and pid != os.getpid()
        died: WorkerDied | None = None
        for frame in frames(audio):
            try:
                signals = worker.feed(frame)
            except WorkerDied as exc:
                died = exc
                break
            if any(s.kind == "speech-start" for s in signals):
                os.kill(pid, signal.SIGSEGV)  # mid-utterance
        assert died is not None and died.exit_code == -signal.SIGSEGV
        assert died.signal_name == "SIGSEGV"
        await asyncio.to_thread(worker.start)
        assert worker.pid != pid and worker.starts == 2
        texts = [s.transcript.text for f in frames(audio) for s in worker.feed(f)
                 if s.transcript is not None]
        assert texts == ["turn on the sim one lamp"]
    finally:
        worker.close()
    assert not worker.alive


async def test_node_survives_a_recogniser_crash_and_answers_the_next_command(
        broker: RunningBroker, tmp_path: Path) -> None:
    realtime = {"source": {"type": "wav", "path": str(tmp_path / "in"), "gap_s": 0.8,
                           "realtime": True}}
    async with voice_lab(broker, tmp_path, **realtime) as lab:
        node = lab.voice
        worker = node.pipeline
        assert isinstance(worker, PipelineProcess) and worker.pid is not None
        first_pid = worker.pid
        await lab.say("hey spark. turn on the sim one lamp", "en-us+f3", 175)
        await wait_for(lambda: lab.events("speech-start"), 30, what="speech start")
        os.kill(first_pid, signal.SIGSEGV)
        await wait_for(lambda: lab.events("error"), 30, what="the crash reported")
        error = lab.events("error")[0]
        assert error.data["code"] == "recogniser-crash"
        assert error.data["signal"] == "SIGSEGV"
        await wait_for(lambda: lab.state("sensor.voice_recogniser_crashes") == "1", 10,
                       what="the crash counted")
        assert not lab.events("handled")  # the utterance failed, nothing was done
        assert lab.state(LAMP) == "off"
        await wait_for(lambda: worker.alive and worker.pid != first_pid, 60,
                       what="a new worker")
        # The node answers the next command (its wall-clock response time counts from
        # where the audio ended: the silence waited, wake word and speech-to-text included).
        await lab.say("hey spark, turn on the sim one lamp", "en-us", 185)
        await wait_for(lambda: lab.state(LAMP) == "on", 60, what="lamp on after the crash")
        handled = await lab.reply()
        end = next(e for e in lab.events("speech-end") if e.run == handled.run)
        transcript = next(e for e in lab.events("transcript") if e.run == handled.run)
        took = handled.timings["speech_end_to_done_ms"]
        assert took >= end.data["silence_s"] * 1000 + transcript.timings["stt_ms"]
        assert took < 60_000
        await wait_for(lambda: lab.state("sensor.voice_response_time") not in (None, "None",
                                                                               "unknown"),
                       10, what="the response time entity")


def test_relative_detector_finds_the_end_of_a_command_over_a_talking_tv() -> None:
    """A TV 10 dB below the speaker talks before, during and after the command: speech
    detection alone hears speech throughout; the level against the room's background ends
    the command within a second of its end."""
    loop = asyncio.new_event_loop()
    try:
        command = loop.run_until_complete(speech("turn on the sim one lamp"))
        tv = loop.run_until_complete(speech(
            "and now the weather for the weekend, with sunshine in the south and some rain "
            "moving in from the west later on saturday, temperatures around twenty degrees, "
            "and in sport tonight the home team won again", "en-gb+m3", 160))
    finally:
        loop.close()
    lead = 4.0
    voice = np.concatenate([silence(lead), command, silence(3.0)])
    room = np.tile(tv, int(np.ceil(len(voice) / len(tv))))[:len(voice)]
    quiet_speech = np.concatenate([silence(lead), command])
    # the TV at 10 dB below the command's level
    mixed = mix_at_snr(quiet_speech, room[:len(quiet_speech)], 10.0)
    tv_gain = (mixed.astype(np.float64) - quiet_speech).std() / max(1.0, room[:len(
        quiet_speech)].astype(np.float64).std())
    audio = np.clip(voice + tv_gain * room, -32768, 32767).astype(np.int16)
    true_end = voiced_end(command, lead)
    ep = Endpointer(RelativeVad(RelativeVadConfig()), end_silence_s=0.45)
    edges = [(k * FRAME_S, e) for k, f in enumerate(frames(audio)) if (e := ep.update(f))]
    starts = [t for t, e in edges if e == "start" and lead - 0.5 < t < true_end]
    ends = [t for t, e in edges if e == "end" and t > (starts[0] if starts else 1e9)]
    assert starts and ends, edges
    assert true_end < ends[0] + FRAME_SAMPLES / RATE < true_end + 1.0, (edges, true_end)


def test_silero_hears_speech_and_a_side_look_leaves_the_detectors_alone() -> None:
    loop = asyncio.new_event_loop()
    try:
        command = loop.run_until_complete(speech("turn on the sim one lamp"))
    finally:
        loop.close()
    quiet = list(frames(stream(silence(1.0))))
    spoken = list(frames(stream(command)))
    silero = SileroVad(SileroVadConfig())
    assert not any(silero.is_speech(f) for f in quiet)
    assert sum(silero.is_speech(f) for f in spoken) > len(spoken) // 3
    relative = RelativeVad(RelativeVadConfig())
    for f in quiet:
        relative.is_speech(f)
    background, probability = relative.background, silero.probability
    side = relative.spare()
    assert [side.is_speech(f) for f in spoken].count(True) > 0
    assert relative.background == background  # the side look did not move the room's level
    silero_side = silero.spare()
    for f in spoken:
        silero_side.is_speech(f)
    assert silero.probability == probability
