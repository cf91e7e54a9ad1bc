"""Never the wrong action (issue 18): spoken commands -> recogniser -> intent -> the gate
(``nodes/voice/confirm.py``), scored per split, offline (the recogniser and the gate as the
node runs them: each command is heard in the listening window after a wake word, through the
node's pipeline with its endpointer; no wake word, no broker: the end-to-end corpus is
``voice_corpus``'s).

A small generated corpus: sentence templates (each with a stable id) over the default lab's
names, values and options, said by espeak-ng English variants and flite voices at several
rates. THE HELD-OUT SPLIT (issue 18, fixed before tuning): a voice or template is held out
when ``sha256(name)[0] % 3 == 0``; an utterance is in the tune split only when both its voice
and its template are. Audio is made once into a cache (``~/.cache/spark-voice-intent``, keyed
by text, voice and rate).

Scored per utterance: **right** (acted, the intended intent, entity and value; for a question,
answered without acting), **wrong action** (acted with anything else, or any action for a
question or "never mind"), **asked / refused** (the node asked back or refused: no action).

    python -m bench.voice_intent --quick     # 4 voices
    python -m bench.voice_intent             # every voice
    python -m bench.voice_intent --pink 10   # pink noise at 10 dB SNR
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS
from bench.voice_corpus import held_out
from spark.nodes.voice.audio import (
    RATE,
    decode_wav,
    dither,
    frames,
    mix_at_snr,
    read_wav,
    silence,
    write_wav,
)
from spark.nodes.voice.confirm import ACTIONS, MIN_POSTERIOR, judge
from spark.nodes.voice.intents import recognize
from spark.nodes.voice.pipeline import Pipeline, State
from spark.nodes.voice.stt.base import Transcript
from spark.nodes.voice.stt.moonshine import MoonshineSttConfig
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vad import Endpointer, WebRtcVad, WebRtcVadConfig
from spark.nodes.voice.wake.sphinx import SphinxWake, SphinxWakeConfig

CACHE = Path.home() / ".cache" / "spark-voice-intent"
LAMP, SETPOINT, MODE = "switch.sim1_lamp", "number.sim1_setpoint", "select.sim1_mode"
ENTITIES: list[dict[str, Any]] = [
    {"entity_id": LAMP, "platform": "switch", "name": "Lamp", "commandable": True},
    {"entity_id": "sensor.sim1_temperature", "platform": "sensor", "name": "Temperature",
     "unit_of_measurement": "°C"},
    {"entity_id": "binary_sensor.sim1_motion", "platform": "binary_sensor", "name": "Motion"},
    {"entity_id": MODE, "platform": "select", "name": "Mode", "commandable": True,
     "options": ["eco", "comfort", "away"]},
    {"entity_id": SETPOINT, "platform": "number", "name": "Setpoint", "min": 5, "max": 30,
     "step": 0.5, "unit_of_measurement": "°C", "commandable": True},
    {"entity_id": "button.sim1_identify", "platform": "button", "name": "Identify",
     "commandable": True},
    {"entity_id": "sensor.power_battery", "platform": "sensor", "name": "Battery",
     "unit_of_measurement": "%"},
    {"entity_id": "sensor.power_voltage", "platform": "sensor", "name": "Battery voltage",
     "unit_of_measurement": "V"},
    {"entity_id": "sensor.power_current", "platform": "sensor", "name": "Battery current",
     "unit_of_measurement": "A"},
    {"entity_id": "select.power_power_mode", "platform": "select", "name": "Mode",
     "commandable": True, "options": ["auto", "on-grid", "off-grid"]},
    {"entity_id": "number.voice_volume", "platform": "number", "name": "Volume", "min": 0,
     "max": 100, "step": 5, "unit_of_measurement": "%", "commandable": True},
]
# (voice, rate): espeak-ng variants (rate in wpm) and flite voices (duration stretch * 100)
VOICES = [("espeak-ng:en-us", 150), ("espeak-ng:en-us+f3", 175), ("espeak-ng:en-gb+m3", 165),
          ("espeak-ng:en-us+m7", 190), ("espeak-ng:en-gb-x-rp+f2", 160),
          ("espeak-ng:en-029", 150), ("espeak-ng:en-us+f4", 140), ("espeak-ng:en-gb+m1", 200),
          ("espeak-ng:en-us+m2", 170), ("flite:slt", 100), ("flite:kal", 100),
          ("flite:rms", 110), ("flite:awb", 100)]
VALUES = [("eighteen", 18.0), ("twenty", 20.0), ("twenty one point five", 21.5),
          ("nine", 9.0), ("twenty eight", 28.0), ("twelve point five", 12.5)]


@dataclass(frozen=True)
class Case:
    template: str  # stable id
    text: str
    intent: str  # expected intent; get_state / nevermind: must not act
    entity: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def cases() -> list[Case]:
    out: list[Case] = []
    for tid, text, intent in [
            ("on.turn", "turn on the sim one lamp", "turn_on"),
            ("off.turn", "turn off the sim one lamp", "turn_off"),
            ("on.after", "switch the sim one lamp on", "turn_on"),
            ("off.after", "turn the sim one lamp off", "turn_off"),
            ("on.please", "please turn on the sim one lamp", "turn_on"),
            ("off.could", "could you switch off the sim one lamp", "turn_off"),
            ("on.activate", "activate the sim one lamp", "turn_on"),
            ("off.forme", "turn off the lamp for me", "turn_off"),
            ("toggle", "toggle the sim one lamp", "toggle"),
            ("q.is_on", "is the sim one lamp on", "get_state")]:
        out.append(Case(tid, text, intent, LAMP))
    for tid, pattern in [("set.to", "set the sim one setpoint to {}"),
                         ("set.please", "please set the setpoint to {}"),
                         ("set.degrees", "set the setpoint to {} degrees")]:
        for words, value in VALUES[:3] if tid != "set.to" else VALUES:
            out.append(Case(f"{tid}:{words}", pattern.format(words), "set_value", SETPOINT,
                            {"value": value}))
    for option in ("eco", "comfort", "away"):
        out.append(Case(f"select.mode:{option}", f"set the sim one mode to {option}",
                        "select_option", MODE, {"option": option}))
    out += [Case("select.power", "set the power mode to off grid", "select_option",
                 "select.power_power_mode", {"option": "off-grid"}),
            Case("q.what", "what is the battery level", "get_state", "sensor.power_battery"),
            Case("q.current", "what is the battery current", "get_state",
                 "sensor.power_current"),
            Case("q.temp", "what is the sim one temperature", "get_state",
                 "sensor.sim1_temperature"),
            Case("q.tell", "tell me the battery voltage", "get_state", "sensor.power_voltage"),
            Case("press", "press the sim one identify button", "press", "button.sim1_identify"),
            Case("nevermind", "never mind", "nevermind")]
    # Values the entity cannot take: nothing may act (never rounded to a neighbour, never
    # heard as an in-range value that sounds alike: "eighty" is not "eighteen").
    out += [Case(f"range.{words}", f"set the sim one setpoint to {words}", "refuse", SETPOINT)
            for words in ("eighty", "fifty", "ninety")]
    out += [Case("range.step", "set the volume to twenty three", "refuse",
                 "number.voice_volume")]
    return out


async def speech(text: str, voice: str, rate: int) -> np.ndarray:
    key = hashlib.sha256(f"{text}|{voice}|{rate}".encode()).hexdigest()[:24]
    path = CACHE / f"{key}.wav"
    if path.is_file():
        return read_wav(path)
    engine, _, name = voice.partition(":")
    if engine == "espeak-ng":
        samples = await EspeakTts(EspeakTtsConfig()).synthesize(text, voice=name, speed=rate)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "f.wav"
            proc = await asyncio.create_subprocess_exec(
                "flite", "-voice", name, "--setf", f"duration_stretch={rate / 100:.2f}",
                "-t", text, "-o", str(out), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
            if await asyncio.wait_for(proc.wait(), 60) != 0:
                raise RuntimeError(f"flite failed on {text!r} ({name})")
            samples = decode_wav(out.read_bytes())
    CACHE.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples)
    return samples


def hear(pipeline: Pipeline, audio: np.ndarray) -> Transcript:
    """What the node's pipeline hears in its listening window (after a wake word)."""
    pipeline.listen(5.0)
    try:
        for frame in frames(audio.astype(np.int16)):
            for signal in pipeline.feed(frame):
                if signal.kind == "utterance" and signal.transcript is not None:
                    return signal.transcript
        if pipeline.state is State.SPEECH:  # no end heard in the window (noise throughout):
            pipeline.stt.cancel()  # nothing recognised (the node ends it at max_speech_s)
        return Transcript("")
    finally:
        pipeline.idle()


def score(case: Case, acted: bool, intent: Any) -> str:
    if not acted:
        if case.intent == "refuse":
            return "right"
        if case.intent in ACTIONS:
            return "asked/refused"
        return "right" if case.intent == "nevermind" or (
            intent.name == "get_state" and intent.target is not None
            and intent.target.entity_id == case.entity) else "asked/refused"
    got = (intent.name, intent.target.entity_id if intent.target else None, intent.data)
    if case.intent in ACTIONS and got == (case.intent, case.entity, case.data):
        return "right"
    return "wrong action"


SWEEP = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
VALUE_SWEEP = (0.8, 0.9, 0.95, 0.99)  # the value's posterior when the readings agree


def confirmed(case: Case, verdict: Any, intent: Any) -> bool:
    """Would a "yes" to the question asked back run the intended command?"""
    asked = verdict.asked or intent
    if verdict.decision != "ask" or case.intent not in ACTIONS or asked.target is None:
        return False
    return (asked.name, asked.target.entity_id, asked.data) == (
        case.intent, case.entity, case.data)


def _rates(counts: Counter[str]) -> dict[str, float]:
    n = sum(counts.values()) - counts["after a yes"]
    if not n:
        return {"n": 0}
    return {"n": n, **{k: round(100 * counts[k] / n, 1)
                       for k in ("right", "wrong action", "asked/refused")},
            "right after a yes": round(100 * (counts["right"] + counts["after a yes"]) / n, 1)}


def pink(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (a fan, a fridge, traffic), unit level."""
    n = int(seconds * RATE)
    white = rng.normal(0, 1, n)
    out = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.maximum(1, np.arange(n // 2 + 1))), n)
    return np.asarray(out / (np.std(out) or 1.0) * 1000)


def stage(row: dict[str, Any]) -> str:
    """Where an utterance that was not right was lost: the recogniser heard nothing, the
    grammar and free readings disagreed (rejected), the parser found no command in the
    reading, or the gate (its reason, without the figures)."""
    if row["result"] in ("right", "wrong action"):
        return row["result"]
    if not row["text"]:
        return "stt: readings disagree" if row["heard"] else "stt: nothing heard"
    if row["intent"]["intent"] not in ACTIONS and row["intent"]["intent"] != "get_state":
        return f"parser: {row['intent']['intent']}"
    if row["verdict"]["decision"] == "act":
        return "intent: another entity or value"
    return "gate: " + row["verdict"]["reason"].split("(")[0].split(" with ")[0].strip()


def breakdown(rows: list[dict[str, Any]]) -> dict[str, dict[str, Counter[str]]]:
    """Per split: outcomes by stage, by voice engine and by template family."""
    out: dict[str, dict[str, Counter[str]]] = {}
    for row in rows:
        split = out.setdefault(row["split"], {"stage": Counter(), "engine": Counter(),
                                              "family": Counter()})
        split["stage"][stage(row)] += 1
        split["engine"][f"{row['voice'].split(':')[0]} {row['result']}"] += 1
        family = row["template"].split(":")[0].split(".")[0]
        split["family"][f"{family} {row['result']}"] += 1
    return out


async def run(quick: bool, threshold: float = MIN_POSTERIOR, snr: float | None = None,
              split_only: str | None = None, listener: bool = False) -> dict[str, Any]:
    """``snr``: pink noise under the whole window at that many dB below the speech;
    ``split_only``: "tune" or "held-out" (while tuning, only the tune split is heard)."""
    voices = VOICES[:4] if quick else VOICES
    wake = SphinxWake(SphinxWakeConfig())
    stt = PocketsphinxStt(PocketsphinxSttConfig(
        listener=MoonshineSttConfig() if listener else None), wake.phrases)
    pipeline = Pipeline(wake, Endpointer(WebRtcVad(WebRtcVadConfig())), stt)
    vocab = pipeline.build_vocabulary(ENTITIES)
    pipeline.set_vocabulary(vocab)
    rng = np.random.default_rng(0)
    tally: dict[str, Counter[str]] = {"tune": Counter(), "held-out": Counter(),
                                      "tune ungated": Counter(), "held-out ungated": Counter()}
    swept: dict[tuple[str, float], Counter[str]] = {
        (split, t): Counter() for split in ("tune", "held-out") for t in SWEEP}
    value_swept: dict[tuple[str, float], Counter[str]] = {
        (split, t): Counter() for split in ("tune", "held-out") for t in VALUE_SWEEP}
    rows = []
    t0 = time.perf_counter()
    for voice, rate in voices:
        for case in cases():
            split = "held-out" if held_out(voice) or held_out(case.template) else "tune"
            if split_only is not None and split != split_only:
                continue
            pcm = await speech(case.text, voice, rate)
            audio = np.concatenate([dither(silence(0.4), rng), pcm, dither(silence(1.0), rng)])
            if snr is not None:
                audio = mix_at_snr(audio, pink(len(audio) / RATE, rng), snr)
            transcript = hear(pipeline, audio)
            intent = recognize(transcript.text, vocab)
            verdict = judge(transcript, intent, vocab, min_posterior=threshold)
            acted = bool(transcript.text) and verdict.decision == "act" and (
                intent.name in ACTIONS)
            result = score(case, acted, intent)
            tally[split][result] += 1
            if result == "asked/refused" and confirmed(case, verdict, intent):
                tally[split]["after a yes"] += 1  # a "yes" to the question runs it
            for t in SWEEP:  # the same utterance at other posterior thresholds
                v = judge(transcript, intent, vocab, min_posterior=t)
                swept[(split, t)][score(case, bool(transcript.text) and v.decision == "act"
                                        and intent.name in ACTIONS, intent)] += 1
            for t in VALUE_SWEEP:
                v = judge(transcript, intent, vocab, min_posterior=threshold,
                          min_value_posterior=t)
                value_swept[(split, t)][score(case, bool(transcript.text) and v.decision == (
                    "act") and intent.name in ACTIONS, intent)] += 1
            ungated = bool(transcript.text) and intent.name in ACTIONS
            tally[f"{split} ungated"][score(case, ungated, intent)] += 1
            rows.append({"voice": voice, "template": case.template, "split": split,
                         "said": case.text, "text": transcript.text, "heard": transcript.heard,
                         "words": transcript.words, "checks": transcript.checks,
                         "second": transcript.second, "candidate": transcript.candidate,
                         "intent": intent.as_dict(), "verdict": verdict.as_dict(),
                         "result": result})
    out: dict[str, Any] = {"voices": len(voices), "snr_db": snr,
                           "seconds": round(time.perf_counter() - t0)}
    for split, counts in tally.items():
        out[split] = _rates(counts)
    out["sweep"] = {f"{split} {t}": _rates(counts) for (split, t), counts in swept.items()}
    out["value sweep"] = {f"{split} value {t}": _rates(counts)
                          for (split, t), counts in value_swept.items()}
    out["breakdown"] = breakdown(rows)
    out["wrong"] = [r for r in rows if r["result"] == "wrong action"]
    out["rows"] = rows
    return out


def tally_names() -> list[str]:
    return ["tune", "held-out", "tune ungated", "held-out ungated"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_intent")
    parser.add_argument("--quick", action="store_true", help="4 voices only")
    parser.add_argument("--tag", default="", help="results file suffix (a variant's run)")
    parser.add_argument("--pink", type=float, default=None, metavar="DB",
                        help="pink noise under each command at this SNR (dB), e.g. 10")
    parser.add_argument("--split", choices=("tune", "held-out"), default=None,
                        help="hear only this split (tune while tuning); default both")
    parser.add_argument("--listener", action="store_true",
                        help="with the second listener (Moonshine, stt/moonshine.py)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.quick, snr=args.pink, split_only=args.split,
                             listener=args.listener))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = ("voice_intent_quick" if args.quick else "voice_intent") + (
        f"-pink{args.pink:g}" if args.pink is not None else "") + (
        f"-{args.split}" if args.split else "") + ("-listener" if args.listener else "") + (
        f"-{args.tag}" if args.tag else "") + ".json"
    (RESULTS / name).write_text(json.dumps(result, indent=1))
    for split in tally_names():
        if result[split]["n"]:
            print(f"{split:17} {result[split]}")
    for key, rates in (*result["sweep"].items(), *result["value sweep"].items()):
        if rates["n"]:
            print(f"  posterior >= {key:15} {rates}")
    for split, parts in result["breakdown"].items():
        for kind, counts in parts.items():
            print(f"{split:9} {kind:7} " + ", ".join(f"{k}: {v}" for k, v in sorted(
                counts.items(), key=lambda kv: -kv[1])))
    for row in result["wrong"]:
        print(f"WRONG {row['voice']} {row['said']!r} -> {row['text']!r} / {row['heard']!r}")
    return result


if __name__ == "__main__":
    main()
