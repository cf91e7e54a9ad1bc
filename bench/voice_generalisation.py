"""Voice generalisation (issue 18): the figures that count, scored on what the hub published.

The generated corpus of ``bench/voice_corpus/`` (templates over the default lab, >= 20
voices of three engines, four conditions, everyday speech and near misses) goes through the
real node: a throwaway Mosquitto (our generated config), the hub, the default lab's simulated
nodes (sim, power, nas) and the voice node replaying WAV files (audio in -> wake -> VAD ->
STT -> intent -> the hub's ``call_service`` -> the command on the device's topic). An observer
logged in as the hub records every command published on ``<base>/+/+/set`` and the node's
pipeline events. Per utterance:

* **right**: exactly the intended command was published (toggle: the opposite of the state
  before); for a question, nothing was published and the intent named the right entity; for
  chit-chat / mute, nothing was published;
* **wrong action**: any published command that is not the intended one (questions included);
* **refused / asked**: woke, published nothing, not right;
* **no wake**: the wake word was not heard and nothing was published.

Latency: the true end of the command's speech (known from the generated audio) -> the hub's
command on the device topic. With ``--realtime`` (the figure that counts) the files play like a
microphone, each frame due when its audio has ended, and the latency is read on the clock:
``command received - (when the file's audio began + the true end in it)``. Without it (fast
replay, for accuracy runs) it is modelled: ``command received - the end-of-speech decision``
plus the silence waited (``silence_s``) and how late the node's VAD saw speech end on the same
audio; the work on the trailing frames, replayed at once, is then counted on top (an
overestimate). The stages (VAD lag, silence waited, STT, intent, action, the rest) are
modelled the same way in both.

False wakes: everyday speech and near misses (no wake phrase) through the same node, per
minute of speech. The held-out split (``voice_corpus.held_out``) is fixed; every figure is
printed for both splits and the acceptance is the held-out one.

    python -m bench voice_generalisation --quick        # ~60 commands x 4 conditions
    python -m bench voice_generalisation                 # the whole corpus (long: once)
    python -m bench voice_generalisation --quick --conditions clean \\
        --voice-config '{"wake": {"type": "pocketsphinx"}}'    # "hey spark" said
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, BenchError, percentile, throwaway_broker
from bench.voice_accuracy import node, running, wait
from bench.voice_corpus import RATE, stable_unit
from bench.voice_corpus.conditions import CONDITIONS, compose, speech_bounds
from bench.voice_corpus.templates import Command, commands
from bench.voice_corpus.voices import (
    NEAR_MISSES,
    TV_TEXT,
    TV_VOICES,
    VOICES,
    Spoken,
    cache_dir,
    engines_missing,
    false_wake_corpus,
    synthesize_all,
    voice_for,
    wake_phrase_sentences,
)
from spark.app.config.models import SparkConfig
from spark.app.runtime import build_hub
from spark.core.agent.agent import NodeAgent
from spark.core.messages.voice import PipelineEvent
from spark.core.mqtt import Message, MqttClient
from spark.core.rpc import RpcClient
from spark.nodes.voice.audio import dither, frames, write_wav
from spark.nodes.voice.config import VoiceNodeConfig
from spark.nodes.voice.pcm import FRAME_S
from spark.nodes.voice.vad import Endpointer, make_vad
from spark.nodes.voice.wake import make_wake

LAB_NODES = [{"id": "sim", "kind": "simulated"},
             {"id": "power", "kind": "power", "backend": {"type": "simulated"}},
             {"id": "nas", "kind": "nas", "backend": {"type": "simulated"}}]
OUTCOMES = ("right", "wrong", "refused", "no wake")


@dataclass
class Played:
    events: list[PipelineEvent]
    commands: list[tuple[float, str, str]]  # (received, topic, payload)
    name: str
    started: float | None = None  # real-time replay: when its audio began (wall clock)


class Lab:
    """The observer: pipeline events, every published command, the switches' states."""

    def __init__(self, voice: NodeAgent[Any], observer: MqttClient, inbox: Path) -> None:
        self.voice = voice
        self.inbox = inbox
        self.rpc = RpcClient(observer, voice.layout, "hub")
        self.events: list[PipelineEvent] = []
        self.commands: list[tuple[float, str, str]] = []
        self.states: dict[str, str] = {}
        self.count = 0
        self.unmuted = 0  # times the node muted itself and was unmuted by hand
        observer.subscribe(voice.layout.pipeline("voice"), self._on_event, 1)
        observer.subscribe(voice.layout.all_commands(), self._on_command, 1)
        observer.subscribe(f"{voice.layout.base}/+/+/state", self._on_state, 1)

    def _on_event(self, msg: Message) -> None:
        self.events.append(PipelineEvent.from_payload(msg.payload))

    def _on_command(self, msg: Message) -> None:
        payload = msg.payload.decode(errors="replace") if isinstance(msg.payload, bytes) \
            else str(msg.payload)
        self.commands.append((time.time(), msg.topic, payload))

    def _on_state(self, msg: Message) -> None:
        payload = msg.payload.decode(errors="replace") if isinstance(msg.payload, bytes) \
            else str(msg.payload)
        self.states[msg.topic] = payload

    async def play(self, samples: np.ndarray) -> Played:
        self.count += 1
        ev, cmd = len(self.events), len(self.commands)
        name = f"{self.count:05d}.wav"
        path = self.inbox / name
        write_wav(path.with_suffix(".tmp"), samples)
        path.with_suffix(".tmp").rename(path)
        marks: list[str] = self.voice.marks  # type: ignore[attr-defined]
        await wait(lambda: str(path) in marks, 120, f"{name} replayed")
        await self.rpc.call("voice", "ping", timeout=120)  # answered after every event it caused
        began = self.voice.marks_started.get(str(path))  # type: ignore[attr-defined]
        started = None if began is None else time.time() - (time.monotonic() - began)
        played = Played(self.events[ev:], self.commands[cmd:], name, started)
        state = self.voice.pipeline.state  # type: ignore[attr-defined]
        if getattr(state, "value", state) == "muted":  # the worker's stand-in: a str
            # It muted itself (a wrong action, scored as such): unmute by hand, as a user
            # would on the panel, so the rest of the corpus is heard.
            await self.voice._set_mute(False)  # type: ignore[attr-defined]
            self.unmuted += 1
        return played


def topic_of(lab: Lab, node_id: str, key: str, kind: str = "set") -> str:
    return f"{lab.voice.layout.base}/{node_id}/{key}/{kind}"


def same_payload(got: str, want: str) -> bool:
    if got == want:
        return True
    try:
        return float(got) == float(want)
    except ValueError:
        return False


@dataclass
class Score:
    outcome: str
    detail: str = ""
    latency_s: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)


def score(lab: Lab, cmd: Command, played: Played, state_before: dict[str, str]) -> Score:
    exp = cmd.expected
    events = played.events
    woke = any(e.type == "wake" for e in events)
    intents = [e.data for e in events if e.type == "intent"]
    said = [e.data.get("text", "") for e in events if e.type == "transcript"]
    heard = f"heard {said[0]!r}" if said else "no transcript"
    second = [e.data.get("second", "") for e in events if e.type == "transcript"]
    if second and second[0]:
        heard += f", the listener {second[0]!r}"
    reasons = [e.data.get("verdict", {}).get("reason", "") for e in events if e.type == "intent"]
    if reasons and reasons[0]:
        heard += f" ({reasons[0]})"
    published = [(t, p) for _, t, p in played.commands]
    if exp.kind == "command":
        want = topic_of(lab, exp.node, exp.key)
        ok = []
        for topic, payload in published:
            if topic != want:
                continue
            if exp.payload == "TOGGLE":
                before = state_before.get(topic_of(lab, exp.node, exp.key, "state"))
                ok.append(payload in ("ON", "OFF") and payload != before)
            else:
                ok.append(same_payload(payload, exp.payload))
        if published and len(published) == 1 and ok == [True]:
            return Score("right", heard)
        if published:
            return Score("wrong", f"{heard}: published {published}")
        return Score("refused" if woke else "no wake", heard)
    if published:
        return Score("wrong", f"{heard}: published {published}")
    if not woke:
        return Score("no wake", heard)
    got = intents[0] if intents else {}
    if exp.answer == "state":
        right = got.get("intent") == "get_state" and got.get("entity_id") == exp.entity_id
    elif exp.answer == "status":
        right = got.get("intent") == "system_status"
    else:
        right = True
    return Score("right" if right else "refused", f"{heard} -> {got.get('intent')} "
                 f"{got.get('entity_id', '')}")


def vad_lag(samples: np.ndarray, true_end_s: float, name: str, cfg: Any) -> float:
    """How late the node's endpointer places the end of speech after the true end (same
    audio, the WAV source's dither seeded by the file name): seconds, >= 0."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    ep = Endpointer(make_vad(cfg.vad), end_silence_s=cfg.end_silence_s,
                    max_speech_s=cfg.max_speech_s, quiet_drop_db=cfg.end_drop_db)
    for i, frame in enumerate(frames(dither(samples, rng, 8.0))):
        edge = ep.update(frame)
        if edge == "end":
            vad_end = (i + 1 - ep.trailing) * FRAME_S
            if vad_end >= true_end_s - 0.1:
                return max(0.0, vad_end - true_end_s)
    return max(0.0, len(samples) / RATE - true_end_s)


STAGES = ("vad_lag", "silence_waited", "stt", "intent", "action", "other")


def stages(played: Played, lag: float, total_s: float) -> dict[str, float]:
    """Where the time from the true end of speech to the command went (ms): how late the VAD
    saw the end, the silence waited, the recogniser's last step (``stt_ms``), intent and gate
    (``intent_ms``), the hub call until the node had its answer (``action_ms``), and the
    rest (the frames after the end decoded, thread hops, the command's trip to the observer)."""
    ends = [e.data for e in played.events if e.type == "speech-end"]
    handled = [e.timings for e in played.events if e.type == "handled"]
    t = handled[0] if handled else {}
    out = {"vad_lag": lag * 1000, "silence_waited": float(ends[0].get("silence_s", 0.0)) * 1000
           if ends else 0.0, "stt": float(t.get("stt_ms", 0.0)),
           "intent": float(t.get("intent_ms", 0.0)), "action": float(t.get("action_ms", 0.0))}
    out["other"] = total_s * 1000 - sum(out.values())
    return {k: round(v, 1) for k, v in out.items()}


def latency(played: Played, lag: float, true_end_s: float) -> float | None:
    """True end of speech -> the command seen: in real time, on the clock (the file's start +
    the true end in it); replayed fast, modelled (see the module's docstring)."""
    if not played.commands:
        return None
    if played.started is not None:
        return played.commands[0][0] - (played.started + true_end_s)
    ends = [e.data for e in played.events if e.type == "speech-end" and "ended" in e.data]
    if not ends:
        return None
    waited = float(ends[0].get("silence_s", 0.0))
    return played.commands[0][0] - float(ends[0]["ended"]) + waited + lag


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    questions: int = 0
    question_actions: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, s: Score, cmd: Command, voice: str) -> None:
        self.counts[s.outcome] += 1
        if cmd.service == "get_state":
            self.questions += 1
            self.question_actions += s.outcome == "wrong"
        if s.latency_s is not None:
            self.latencies.append(s.latency_s)
            self.stages.append(s.stages_ms)
        if s.outcome != "right" and len(self.misses) < 400:
            self.misses.append(f"[{s.outcome}] {voice} {cmd.text!r} "
                               f"(want {cmd.expected.describe()}): {s.detail}")

    def summary(self) -> dict[str, Any]:
        n = sum(self.counts.values())
        out: dict[str, Any] = {"utterances": n}
        for k in OUTCOMES:
            out[k] = round(self.counts[k] / n, 4) if n else None
        out["question_actions"] = self.question_actions
        out["questions"] = self.questions
        lat = sorted(self.latencies)
        out["latency_ms"] = {"samples": len(lat),
                             "p50": round(1000 * statistics.median(lat)) if lat else None,
                             "p90": round(1000 * percentile(lat, 90)) if lat else None,
                             "stage_p50": {k: round(statistics.median(
                                 [st.get(k, 0.0) for st in self.stages])) for k in STAGES}
                             if self.stages else {},
                             "stage_p90": {k: round(percentile(sorted(
                                 st.get(k, 0.0) for st in self.stages), 90)) for k in STAGES}
                             if self.stages else {}}
        out["misses"] = self.misses
        return out


def pick(commands: list[Command], quick: bool, limit: int | None) -> list[Command]:
    """The commands to say: all, or a stratified sample (every service in both splits)."""
    if not quick and limit is None:
        return commands
    want = limit or 64
    groups: dict[tuple[str, bool], list[Command]] = {}
    for c in commands:
        groups.setdefault((c.service, c.held_out), []).append(c)
    out: list[Command] = []
    i = 0
    while len(out) < want and any(groups.values()):
        for key in sorted(groups):
            g = groups[key]
            if g and len(out) < want:
                out.append(g.pop((i * 7919) % len(g)))
        i += 1
    return sorted(out, key=lambda c: stable_unit("order", c.text, c.template))


def wake_phrase(voice_config: dict[str, Any] | None) -> str:
    """The wake phrase of the node's (configured or default) wake engine."""
    node_cfg = VoiceNodeConfig.model_validate({"id": "voice", **(voice_config or {})})
    return make_wake(node_cfg.wake).phrases[0]


def config_for(broker: Any, inbox: Path, voice_config: dict[str, Any] | None,
               realtime: bool = False) -> SparkConfig:
    data = broker.config.model_dump(mode="python", exclude_unset=True)
    # a loaded 2-core machine can stall this process for longer than the default keepalive
    data["mqtt"] = {**data.get("mqtt", {}), "keepalive": 300}
    data["nodes"] = [*LAB_NODES, {"id": "voice", "kind": "voice", "array": {"type": "none"},
                                  "follow_up_s": 0, "speak_replies": False,
                                  "source": {"type": "wav", "path": str(inbox), "gap_s": 0.8,
                                             "realtime": realtime},
                                  **(voice_config or {})}]
    for n in data["nodes"]:
        n["password"] = broker.passwords[n["id"]]
    return SparkConfig.model_validate(data)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    missing = engines_missing(VOICES)
    if missing:
        raise BenchError(f"synthesisers missing: {', '.join(missing)}")
    wake = args.wake_phrase or wake_phrase(args.voice_config)
    chosen = pick(commands(), args.quick, args.limit)
    spoken = [voice_for(c, wake) for c in chosen]
    fw_rounds = 1 if args.quick else 4  # full: 11+ minutes of speech
    false_wake = [s for s in false_wake_corpus(rounds=fw_rounds)
                  if s.text not in wake_phrase_sentences(wake)]
    tv_spoken = [Spoken(v, t, 175, 50) for v in TV_VOICES for t in TV_TEXT]
    t0 = time.monotonic()
    print(f"synthesising {len(spoken) + len(false_wake) + len(tv_spoken)} utterances "
          f"(cache {cache_dir()})", flush=True)
    audio = await synthesize_all(spoken)
    fw_audio = await synthesize_all(false_wake)
    tv = np.concatenate(await synthesize_all(tv_spoken)).astype(np.float64)
    print(f"  done in {time.monotonic() - t0:.0f} s", flush=True)
    conditions = [c for c in CONDITIONS if not args.conditions or c in args.conditions]
    if args.false_wakes_only:
        conditions = []
    report: dict[str, Any] = {
        "wake_phrase": wake, "voice_config": args.voice_config or {}, "quick": args.quick,
        "realtime": args.realtime,
        "commands": len(chosen), "corpus_commands": len(commands()),
        "voices": {"tune": [v.name for v in VOICES if not v.held_out],
                   "held_out": [v.name for v in VOICES if v.held_out]},
        "conditions": {}}
    with throwaway_broker(["sim", "power", "nas", "voice"], recorder=False) as broker, \
            tempfile.TemporaryDirectory(prefix="spark-voice-gen-") as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        cfg = config_for(broker, inbox, args.voice_config, args.realtime)
        pw = broker.passwords
        hub = build_hub(cfg, password=pw["hub"], announce_delay=(0.0, 0.05))
        async with running(hub), running(node(cfg, "sim", pw["sim"])), \
                running(node(cfg, "power", pw["power"])), \
                running(node(cfg, "nas", pw["nas"])), \
                running(node(cfg, "voice", pw["voice"])) as voice, \
                MqttClient(cfg.mqtt, "voice-gen-bench", username="hub",
                           password=pw["hub"]) as obs:
            await obs.wait_connected(10)
            await wait(lambda: all(voice.vocabulary.lookup(n)  # type: ignore[attr-defined]
                                   for n in ("sim lamp", "power mode", "volume", "sim mode")),
                       90, "the lab's entities in the voice vocabulary")
            lab = Lab(voice, obs, inbox)
            vcfg = voice.cfg
            for condition in conditions:
                rng = np.random.default_rng(zlib.crc32(condition.encode()))
                tallies = {"held_out": Tally(), "tune": Tally()}
                t1 = time.monotonic()
                for cmd, s, samples in zip(chosen, spoken, audio, strict=True):
                    utt = await asyncio.to_thread(compose, samples, condition, rng, tv)
                    before = dict(lab.states)
                    played = await lab.play(utt.samples)
                    result = score(lab, cmd, played, before)
                    if result.outcome == "right" and cmd.expected.kind == "command":
                        lag = await asyncio.to_thread(vad_lag, utt.samples, utt.speech_end_s,
                                                      played.name, vcfg)
                        result.latency_s = latency(played, lag, utt.speech_end_s)
                        if result.latency_s is not None:
                            result.stages_ms = stages(played, lag, result.latency_s)
                    split = "held_out" if cmd.held_out else "tune"
                    tallies[split].add(result, cmd, f"{s.voice.name}/{s.wpm}")
                    done = sum(sum(t.counts.values()) for t in tallies.values())
                    if done % 16 == 0:  # so far (a native crash leaves these behind)
                        print(f"  {condition} {done}/{len(chosen)}: " + "; ".join(
                            f"{k} {dict(t.counts)}" for k, t in tallies.items()), flush=True)
                report["conditions"][condition] = {k: t.summary() for k, t in tallies.items()}
                report["conditions"][condition]["muted_itself"] = lab.unmuted
                lab.unmuted = 0
                for split, t in tallies.items():
                    sm = t.summary()
                    print(f"{condition:>12} {split:>8}: {sm['utterances']:4d} right "
                          f"{sm['right']:.1%} wrong {sm['wrong']:.1%} refused "
                          f"{sm['refused']:.1%} no-wake {sm['no wake']:.1%} questions acted "
                          f"{sm['question_actions']}/{sm['questions']} latency p50/p90 "
                          f"{sm['latency_ms']['p50']}/{sm['latency_ms']['p90']} ms; stage p50 "
                          f"{sm['latency_ms']['stage_p50']}", flush=True)
                print(f"{'':>12} ({time.monotonic() - t1:.0f} s)", flush=True)
            # false wakes
            fw: dict[str, dict[str, float]] = {}
            woke_on: list[str] = []
            if args.no_false_wakes:
                false_wake, fw_audio = [], []
            for s, samples in zip(false_wake, fw_audio, strict=True):
                split = "held_out" if s.voice.held_out else "tune"
                entry = fw.setdefault(split, {"wakes": 0, "seconds": 0.0, "near_miss_wakes": 0})
                first, last = speech_bounds(samples)
                entry["seconds"] += (last - first) / RATE
                played = await lab.play(np.concatenate([np.zeros(6400, np.int16),
                                                        samples[first:last],
                                                        np.zeros(16000, np.int16)]))
                wakes = sum(e.type == "wake" for e in played.events)
                entry["wakes"] += wakes
                if wakes:
                    woke_on.append(f"{s.voice.name}: {s.text}")
                if s.text in NEAR_MISSES:
                    entry["near_miss_wakes"] += wakes
                heard = sum(1 for _ in woke_on) if wakes else None
                if heard is not None or len(lab.events) % 50 == 0:
                    print(f"  false wakes so far: {dict(fw)}", flush=True)
                if played.commands:
                    entry.setdefault("commands", 0)
                    entry["commands"] += len(played.commands)
            for split, entry in fw.items():
                entry["per_minute"] = round(entry["wakes"] / (entry["seconds"] / 60), 3)
                entry["seconds"] = round(entry["seconds"], 1)
                print(f"false wakes {split:>8}: {entry['wakes']} in {entry['seconds']:.0f} s "
                      f"= {entry['per_minute']:.2f}/min (near misses {entry['near_miss_wakes']}"
                      f", commands published {entry.get('commands', 0)})", flush=True)
            if not args.no_false_wakes:
                report["false_wakes"] = {**fw, "woke_on": woke_on}
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench voice_generalisation",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a stratified sample of 64 commands, false wakes once")
    parser.add_argument("--limit", type=int, help="a stratified sample of this many commands")
    parser.add_argument("--conditions", nargs="*", choices=CONDITIONS, metavar="CONDITION",
                        help=f"some of: {', '.join(repr(c) for c in CONDITIONS)}")
    parser.add_argument("--wake-phrase", help="said before every command; default: the "
                        "configured wake engine's phrase")
    parser.add_argument("--voice-config", type=json.loads, default=None, metavar="JSON",
                        help="voice node settings to try, e.g. '{\"wake\": {...}}'")
    parser.add_argument("--false-wakes-only", action="store_true",
                        help="only the everyday speech and near misses")
    parser.add_argument("--no-false-wakes", action="store_true",
                        help="skip the everyday speech and near misses")
    parser.add_argument("--realtime", action="store_true",
                        help="play the audio at real-time pace, like a microphone (the latency "
                        "figure that counts; takes as long as the audio)")
    parser.add_argument("--out", help="result file name in bench/results/")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    name = args.out or ("voice-generalisation-quick.json" if args.quick
                        else "voice-generalisation.json")
    out = RESULTS / name
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
