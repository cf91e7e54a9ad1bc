"""PCM helpers: the pipeline works on 16 kHz, 16-bit, mono audio in 30 ms frames.

numpy only (no scipy): a windowed-sinc resampler for WAV files and devices at other rates,
WAV read/write, noise mixing at a given SNR (tests, benchmark) and a small dither that keeps
digitally silent input (synthesised speech, padded files) from upsetting feature normalisation.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spark.nodes.voice.pcm import FRAME_BYTES, FRAME_MS, FRAME_S, FRAME_SAMPLES, RATE

__all__ = ["FRAME_BYTES", "FRAME_MS", "FRAME_S", "FRAME_SAMPLES", "RATE"]


def as_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int = RATE, taps: int = 16
             ) -> np.ndarray:
    """Band-limited resampling (Hann-windowed sinc, ``taps`` zero crossings each side)."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.int16, copy=False)
    x = samples.astype(np.float64)
    ratio = dst_rate / src_rate
    cutoff = min(1.0, ratio)  # low-pass at the lower Nyquist
    n_out = int(len(x) * ratio)
    out = np.empty(n_out)
    half = int(np.ceil(taps / cutoff))
    offsets = np.arange(-half, half + 1)
    block = 4096
    for start in range(0, n_out, block):
        t = np.arange(start, min(n_out, start + block)) / ratio  # positions in input samples
        base = np.floor(t).astype(np.int64)
        idx = base[:, None] + offsets[None, :]
        dist = t[:, None] - idx
        weights = cutoff * np.sinc(cutoff * dist) * (0.5 + 0.5 * np.cos(np.pi * dist / (half + 1)))
        valid = (idx >= 0) & (idx < len(x))
        vals = np.where(valid, x[np.clip(idx, 0, len(x) - 1)], 0.0)
        out[start:start + len(t)] = (vals * weights).sum(axis=1)
    return as_int16(out)


def to_mono(interleaved: np.ndarray, channels: int, channel: int | None = 0) -> np.ndarray:
    """One channel of interleaved samples (``None``: the average of all)."""
    if channels == 1:
        return interleaved
    frames = interleaved[: len(interleaved) - len(interleaved) % channels].reshape(-1, channels)
    if channel is None:
        return as_int16(frames.astype(np.float64).mean(axis=1))
    return np.ascontiguousarray(frames[:, channel])


def decode_wav(data: bytes, channel: int | None = None) -> np.ndarray:
    """WAV bytes -> 16 kHz mono int16 (any rate, 8/16/32-bit PCM, any channel count)."""
    with wave.open(io.BytesIO(data)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width == 2:
        samples = np.frombuffer(raw, dtype="<i2")
    elif width == 4:
        samples = as_int16(np.frombuffer(raw, dtype="<i4") / 65536.0)
    elif width == 1:
        samples = as_int16((np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) * 256)
    else:
        raise ValueError(f"unsupported WAV sample width {width}")
    return resample(to_mono(samples, channels, channel), rate, RATE)


def read_wav(path: Path, channel: int | None = None) -> np.ndarray:
    return decode_wav(Path(path).read_bytes(), channel)


def encode_wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    Path(path).write_bytes(encode_wav(samples, rate))


def frames(samples: np.ndarray, size: int = FRAME_SAMPLES) -> Iterator[bytes]:
    """Whole frames (the last one zero-padded)."""
    for start in range(0, len(samples), size):
        chunk = samples[start:start + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.zeros(size - len(chunk), np.int16)])
        yield chunk.astype(np.int16, copy=False).tobytes()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def dbfs(samples: np.ndarray) -> float:
    level = rms(samples)
    return -120.0 if level <= 0 else 20 * np.log10(level / 32768.0)


def dither(samples: np.ndarray, rng: np.random.Generator, level: float = 8.0) -> np.ndarray:
    """Add Gaussian noise of ``level`` LSB rms (about -72 dBFS at 8)."""
    if level <= 0:
        return samples
    return as_int16(samples.astype(np.float64) + rng.normal(0.0, level, len(samples)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` (looped or cut to length) scaled to ``snr_db`` relative to the
    speech's active level (frames above -50 dBFS, so leading silence does not count)."""
    reps = int(np.ceil(len(speech) / max(1, len(noise))))
    n = np.tile(noise.astype(np.float64), reps)[: len(speech)]
    s = speech.astype(np.float64)
    active = [s[i:i + FRAME_SAMPLES] for i in range(0, len(s), FRAME_SAMPLES)]
    active = [a for a in active if dbfs(a) > -50] or [s]
    p_speech = float(np.mean(np.concatenate(active) ** 2))
    p_noise = float(np.mean(n ** 2)) or 1.0
    gain = np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return as_int16(s + gain * n)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)
