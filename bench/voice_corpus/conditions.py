"""The conditions an utterance is heard in: clean, pink noise, synthesised music (no
recordings) or a TV talking, each at 10 dB SNR, and where its speech starts and ends."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.voice_corpus import RATE


def speech_bounds(samples: np.ndarray, floor_db: float = -45.0) -> tuple[int, int]:
    """(first, last + 1) sample of speech: 10 ms frames above ``floor_db`` dBFS."""
    size = RATE // 100
    n = len(samples) // size
    if n == 0:
        return 0, len(samples)
    x = samples[: n * size].astype(np.float64).reshape(n, size)
    level = 10 * np.log10(np.maximum(1e-12, (x ** 2).mean(axis=1) / 32768.0 ** 2))
    loud = np.flatnonzero(level > floor_db)
    if len(loud) == 0:
        return 0, len(samples)
    return int(loud[0] * size), int((loud[-1] + 1) * size)


# ---- noise and music --------------------------------------------------------------------------
def pink(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    p = np.fft.irfft(spectrum / np.sqrt(np.maximum(1, np.arange(n // 2 + 1))), n)
    return p / (np.std(p) or 1.0)


def music(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Synthesised music: a chord progression (additive tones with a few harmonics and a
    decay per beat), a bass line and a hi-hat / kick beat at 100-130 bpm. No recordings."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    bpm = float(rng.uniform(100, 130))
    beat = 60 / bpm
    roots = [57, 53, 60, 55] if rng.random() < 0.5 else [60, 57, 53, 55]  # MIDI notes
    out = np.zeros(n)
    bar = 4 * beat
    for i in range(int(seconds / bar) + 1):
        root = roots[i % len(roots)]
        start, stop = int(i * bar * RATE), min(n, int((i + 1) * bar * RATE))
        if start >= n:
            break
        tt = t[start:stop] - i * bar
        env = np.exp(-(tt % beat) * 2.5)
        for note in (root, root + 4 if i % 2 == 0 else root + 3, root + 7, root - 12):
            f = 440.0 * 2 ** ((note - 69) / 12)
            for h, a in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[start:stop] += a * env * np.sin(2 * np.pi * f * h * tt)
    for k in range(int(seconds / (beat / 2)) + 1):
        s = int(k * beat / 2 * RATE)
        if s >= n:
            break
        m = min(n - s, int(0.05 * RATE))
        decay = np.exp(-np.arange(m) / (0.01 * RATE))
        out[s:s + m] += 0.3 * rng.normal(0, 1, m) * decay  # hi-hat
        if k % 2 == 0:
            out[s:s + m] += 1.5 * np.sin(2 * np.pi * 55 * np.arange(m) / RATE) * decay * 3
    return out / (np.std(out) or 1.0)


@dataclass
class Utterance:
    """One file for the node: ``samples`` and where the spoken command truly ends."""

    samples: np.ndarray
    speech_end_s: float  # audio time of the end of the command (clean speech)
    extra: dict[str, float] = field(default_factory=dict)


CONDITIONS = ("clean", "pink 10 dB", "TV 10 dB", "music 10 dB")


def compose(speech: np.ndarray, condition: str, rng: np.random.Generator,
            tv: np.ndarray | None = None) -> Utterance:
    """``speech`` (one utterance, wake phrase included) in a condition: 0.4 s lead and 1 s
    tail (TV: 2 s each, the TV talking throughout), noise at 10 dB SNR over the whole file."""
    from spark.nodes.voice.audio import as_int16

    first, last = speech_bounds(speech)
    speech = speech[first:last]
    lead, tail = (2.0, 2.0) if condition.startswith("TV") else (0.4, 1.0)
    pad = np.zeros(int(lead * RATE), np.int16), np.zeros(int(tail * RATE), np.int16)
    whole = np.concatenate([pad[0], speech, pad[1]]).astype(np.float64)
    end = (len(pad[0]) + len(speech)) / RATE
    if condition == "clean":
        return Utterance(as_int16(whole), end)
    seconds = len(whole) / RATE
    if condition.startswith("pink"):
        noise = pink(seconds + 0.1, rng)
    elif condition.startswith("music"):
        noise = music(seconds + 0.1, rng)
    elif condition.startswith("TV"):
        assert tv is not None and len(tv) > 0
        start = int(rng.integers(0, max(1, len(tv) - len(whole))))
        noise = np.resize(tv[start:].astype(np.float64), len(whole))
    else:
        raise ValueError(f"unknown condition {condition!r}")
    return Utterance(as_int16(whole + snr_gain(speech, noise, 10.0) * noise[: len(whole)]),
                     end)


def snr_gain(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """Gain for ``noise`` so that ``speech`` (its active 10 ms frames, above -50 dBFS) is
    ``snr_db`` above it."""
    size = RATE // 100
    n = len(speech) // size
    x = speech[: n * size].astype(np.float64).reshape(max(n, 1), -1) if n else \
        speech.astype(np.float64).reshape(1, -1)
    power = (x ** 2).mean(axis=1)
    active = power[power > (32768.0 * 10 ** (-50 / 20)) ** 2]
    p_speech = float(active.mean()) if len(active) else float(power.mean())
    p_noise = float(np.mean(noise.astype(np.float64) ** 2)) or 1.0
    return float(np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10))))
