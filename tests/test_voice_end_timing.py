"""Where a command ends, in audio time (issue 18's latency): the endpointer counts the silence
after speech from where the level fell, not from where the voice detector (which hears speech
for 90-110 ms after its end) noticed; a real-time WAV replay delivers frames on a clock, like a
sound card, stamped with when their audio ended."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from spark.nodes.voice.audio import dither, frames, silence, write_wav
from spark.nodes.voice.pcm import FRAME_S, RATE
from spark.nodes.voice.sources.base import AudioFrame, SourceMark
from spark.nodes.voice.sources.wav import WavSource, WavSourceConfig
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vad import Endpointer, WebRtcVad, WebRtcVadConfig

EARLY = 5  # frames of silence (0.15 s) that end a whole command early


def true_end(samples: np.ndarray, floor_db: float = -45.0) -> float:
    """End of the last 10 ms above ``floor_db`` dBFS (the benchmark's truth), seconds."""
    size = RATE // 100
    x = samples[: len(samples) // size * size].astype(np.float64).reshape(-1, size)
    level = 10 * np.log10(np.maximum(1e-12, (x ** 2).mean(axis=1) / 32768.0 ** 2))
    return float((np.flatnonzero(level > floor_db)[-1] + 1) * size / RATE)


def first_end(samples: np.ndarray, drop_db: float) -> tuple[float, float]:
    """(when ``silent`` first reaches EARLY frames, where it says speech ended), seconds."""
    ep = Endpointer(WebRtcVad(WebRtcVadConfig()), end_silence_s=0.45, quiet_drop_db=drop_db)
    for i, frame in enumerate(frames(samples)):
        ep.update(frame)
        if ep.in_speech and ep.silent >= EARLY:
            return (i + 1) * FRAME_S, (i + 1 - ep.silent) * FRAME_S
    raise AssertionError("speech never ended")


@pytest.fixture(scope="module")
def command() -> np.ndarray:
    tts = EspeakTts(EspeakTtsConfig())
    speech = asyncio.run(tts.synthesize("turn on the kitchen lamp"))
    rng = np.random.default_rng(3)
    return dither(np.concatenate([silence(0.4), speech, silence(1.0)]), rng)


def test_silence_counts_from_where_the_level_fell(command: np.ndarray) -> None:
    end = true_end(command)
    late_decision, late_end = first_end(command, drop_db=0)  # the detector's run only
    decision, placed = first_end(command, drop_db=30)
    assert late_end - end >= 0.06  # the detector heard speech for a while after its end
    assert abs(placed - end) <= 0.06  # the level says where it ended
    assert decision <= late_decision - 0.06  # so 0.15 s of silence is over that much sooner
    assert decision - end >= EARLY * FRAME_S - 0.06  # and still 0.15 s after the true end


def test_in_steady_noise_the_detectors_run_decides(command: np.ndarray) -> None:
    """Noise 15 dB under the speech never falls 30 dB below it: no reaching back."""
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1, len(command))
    gain = np.sqrt(np.mean(command.astype(np.float64) ** 2) / 10 ** 1.5)
    noisy = np.clip(command + gain * noise, -32768, 32767).astype(np.int16)
    ep = Endpointer(WebRtcVad(WebRtcVadConfig()), quiet_drop_db=30)
    for frame in frames(noisy):
        ep.update(frame)
        assert ep.quiet == 0 and ep.silent == ep.run


async def test_real_time_replay_is_clocked(tmp_path: Path) -> None:
    samples = dither(silence(0.3), np.random.default_rng(5))
    write_wav(tmp_path / "a.wav", samples)
    source = WavSource(WavSourceConfig(path=tmp_path, watch=False, gap_s=0.0, realtime=True))
    await source.open()
    got: list[tuple[AudioFrame, float]] = []
    mark = None
    async for item in source.items():
        if isinstance(item, SourceMark):
            mark = item
            break
        assert isinstance(item, AudioFrame)
        got.append((item, time.monotonic()))
    assert mark is not None and mark.started is not None
    stamps = [f.at for f, _ in got]
    assert len(stamps) == round(0.3 / FRAME_S)
    # the frames' times are the clock's, not the sleeps' (which drift): exactly a frame apart
    assert np.allclose(np.diff(stamps), FRAME_S, atol=1e-9)
    assert stamps[0] == pytest.approx(mark.started + FRAME_S, abs=1e-9)
    # and none is handed over before its audio has ended
    assert all(seen >= f.at - 0.002 for f, seen in got)
    assert all(f.live for f, _ in got)
