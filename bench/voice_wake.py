"""Wake-word engines compared on the issue-18 corpus: wake rate and false wakes per minute.

Streaming engines (``micro-wakeword``, ``pyopen-wakeword``) are fed every 30 ms frame of each
file exactly as the node's pipeline feeds them while idle (its ``WakeWord.feed``), through the
backends the node runs. The wake phrase of each engine is said before the corpus's commands
(the same command texts, voices, speeds and pitches as ``voice_generalisation``), in each
condition; false wakes are counted on the everyday speech and near misses (without the
sentences that contain the engine's own phrase), per minute of speech. "hey spark" (the
``pocketsphinx`` segment engine) needs the whole node (its language model is built from the
hub's vocabulary): its figures come from ``python -m bench voice_generalisation``.

    python -m bench voice_wake --quick
    python -m bench voice_wake --engines micro-wakeword:okay_nabu pyopen-wakeword:hey_jarvis
    python -m bench voice_wake --quick --engines micro-wakeword:okay_nabu@0.6   # a threshold
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import zlib
from typing import Any

import numpy as np

from bench.common import RESULTS, BenchError
from bench.voice_corpus import RATE
from bench.voice_corpus.conditions import CONDITIONS, compose, speech_bounds
from bench.voice_corpus.templates import commands
from bench.voice_corpus.voices import (
    NEAR_MISSES,
    TV_TEXT,
    TV_VOICES,
    Spoken,
    false_wake_corpus,
    synthesize_all,
    voice_for,
    wake_phrase_sentences,
)
from bench.voice_generalisation import pick
from spark.nodes.voice.audio import dither, frames
from spark.nodes.voice.wake import make_wake
from spark.nodes.voice.wake.base import WakeWord
from spark.nodes.voice.wake.ensemble import AnyWakeConfig
from spark.nodes.voice.wake.neural import MicroWakeConfig, PyOpenWakeConfig

ENGINES = ("micro-wakeword:okay_nabu", "micro-wakeword:hey_jarvis",
           "pyopen-wakeword:okay_nabu", "pyopen-wakeword:hey_jarvis")


def engine_config(spec: str) -> Any:
    """``kind:model`` or ``kind:model@threshold``; ``any:<spec>+<spec>``: either engine."""
    kind, _, model = spec.partition(":")
    if kind == "any":
        return AnyWakeConfig(engines=[engine_config(s) for s in model.split("+")])
    model, _, cut = model.partition("@")
    if kind == "micro-wakeword":
        return MicroWakeConfig(model=model, probability_cutoff=float(cut) if cut else None)
    if kind == "pyopen-wakeword":
        return PyOpenWakeConfig(model=model, threshold=float(cut or 0.5))
    raise BenchError(f"unknown engine {spec!r}: micro-wakeword:<model>, "
                     "pyopen-wakeword:<model> or any:<engine>+<engine>")


def engine(spec: str) -> WakeWord:
    wake = make_wake(engine_config(spec))
    wake.open()
    return wake


def count_wakes(wake: WakeWord, samples: np.ndarray, seed: str) -> int:
    """Wakes in one file (the node's room dither added, then 1 s of quiet to settle)."""
    audio = dither(np.concatenate([samples, np.zeros(16000, np.int16)]),
                   np.random.default_rng(zlib.crc32(seed.encode())))
    return sum(wake.feed(f) is not None for f in frames(audio))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chosen = pick(commands(), args.quick, args.limit)
    tv_spoken = [Spoken(v, t, 175, 50) for v in TV_VOICES for t in TV_TEXT]
    tv = np.concatenate(await synthesize_all(tv_spoken)).astype(np.float64)
    report: dict[str, Any] = {"commands": len(chosen), "engines": {}}
    for spec in args.engines:
        wake = engine(spec)
        phrase = wake.phrases[0]
        spoken = [voice_for(c, phrase) for c in chosen]
        fw = [s for s in false_wake_corpus(rounds=1 if args.quick else 4)
              if s.text not in wake_phrase_sentences(phrase)]
        t0 = time.monotonic()
        audio = await synthesize_all(spoken)
        fw_audio = await synthesize_all(fw)
        entry: dict[str, Any] = {"phrase": phrase, "wake_rate": {}}
        cpu0, fed = time.process_time(), 0
        for condition in args.conditions or CONDITIONS:
            rng = np.random.default_rng(zlib.crc32(condition.encode()))
            split: dict[str, list[int]] = {"held_out": [0, 0], "tune": [0, 0]}
            for i, (cmd, samples) in enumerate(zip(chosen, audio, strict=True)):
                utt = compose(samples, condition, rng, tv)
                woke = count_wakes(wake, utt.samples, f"{condition}{i}") > 0
                fed += len(utt.samples) + 16000
                s = split["held_out" if cmd.held_out else "tune"]
                s[0] += woke
                s[1] += 1
            entry["wake_rate"][condition] = {k: round(w / n, 3) if n else None
                                             for k, (w, n) in split.items()}
        fws: dict[str, dict[str, float]] = {}
        woke_on: list[str] = []
        for s, samples in zip(fw, fw_audio, strict=True):
            first, last = speech_bounds(samples)
            e = fws.setdefault("held_out" if s.voice.held_out else "tune",
                               {"wakes": 0, "seconds": 0.0, "near_miss_wakes": 0})
            e["seconds"] += (last - first) / RATE
            n = count_wakes(wake, np.concatenate([np.zeros(6400, np.int16),
                                                  samples[first:last]]), s.key)
            fed += 6400 + last - first + 16000
            e["wakes"] += n
            if n:
                woke_on.append(f"{s.voice.name}: {s.text}")
            e["near_miss_wakes"] += n if s.text in NEAR_MISSES else 0
        for e in fws.values():
            e["per_minute"] = round(e["wakes"] / (e["seconds"] / 60), 3)
            e["seconds"] = round(e["seconds"], 1)
        entry["false_wakes"] = fws
        entry["woke_on"] = woke_on
        # CPU seconds per second of audio heard (this process; the engines' own threads count)
        entry["cpu_per_audio_s"] = round((time.process_time() - cpu0) / (fed / RATE), 4)
        report["engines"][spec] = entry
        rates = " ".join(f"{c}: {r['held_out']}/{r['tune']}"
                         for c, r in entry["wake_rate"].items())
        print(f"{spec:28} wake rate (held-out/tune) {rates}; false wakes/min "
              f"{ {k: v['per_minute'] for k, v in fws.items()} }; "
              f"CPU {entry['cpu_per_audio_s']:.3f} s per s of audio "
              f"({time.monotonic() - t0:.0f} s)", flush=True)
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench voice_wake",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="64 commands, false wakes once")
    parser.add_argument("--limit", type=int, help="a stratified sample of this many commands")
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), metavar="KIND:MODEL")
    parser.add_argument("--conditions", nargs="*", choices=CONDITIONS, metavar="CONDITION")
    parser.add_argument("--out", help="result file name in bench/results/")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (args.out or ("voice-wake-quick.json" if args.quick else "voice-wake.json"))
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
