"""Voice node accuracy, latency and wake-word false triggers (issue 5), offline and end to end.

A throwaway Mosquitto (our generated config), the hub, a simulated node (``sim1``), a simulated
power node and the voice node with a WAV-folder source run in this process. The corpus is made
now with espeak-ng: commands about those entities, each said as "hey spark, <command>" in one
breath, in several voices and speeds, clean and with noise mixed in at 20 dB and 10 dB SNR
(pink "hum"; at 10 dB also with babble). Per utterance the bench drops a WAV in the folder,
waits until the node replayed it and answered a ``ping`` (so its pipeline events are in), and
scores the ``intent`` event against the expected intent, entity and value.

* command accuracy: wake word heard and the right intent / entity / value (per condition);
* latency: end of speech -> the hub's command on the device topic: the silence the detector
  waited (audio time: ``end_silence_s``, or ``early_end_s`` once the grammar has a whole
  command) plus detection -> command (wall clock, the observer's receive time);
* false wakes: a minute and more of everyday sentences (no wake phrase) through the same node.

    python -m bench.voice_accuracy            # full corpus (~10 min on 2 cores)
    python -m bench.voice_accuracy --quick    # 21 commands, one voice, clean and 10 dB
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bench.common import RESULTS, BenchError, percentile, throwaway_broker
from spark.app.config.models import SparkConfig
from spark.app.runtime import build_hub, make_agent
from spark.core.agent.agent import NodeAgent
from spark.core.messages.voice import PipelineEvent
from spark.core.mqtt import Message, MqttClient
from spark.core.rpc import RpcClient
from spark.hub.app import Hub
from spark.nodes.voice.audio import RATE, mix_at_snr, silence, write_wav
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig

VOICES = [("en-us", 150), ("en-us+f3", 175), ("en-us", 190), ("en-gb+m3", 165),
          ("en-us+m7", 160)]
EVERYDAY = [
    "The history of the city goes back many centuries.",
    "Merchants came from far away to sell their goods at the market near the river.",
    "Over time the town grew and new bridges were built.",
    "Today visitors walk through narrow streets and eat in small restaurants.",
    "In summer there are concerts in the park, and in winter people skate on the lake.",
    "Many students live here because the university is one of the oldest in the country.",
    "The weather can change quickly, so it is wise to bring an umbrella.",
    "Trains leave every hour for the capital, and the journey takes about two hours.",
    "Some people say the best time to visit is in spring when the trees are in flower.",
    "Could you pass me the salt and pepper, please?",
    "I think we should buy more milk and bread on the way home.",
    "My sister called yesterday to say that she is moving to a new flat.",
    "The children played football in the garden until it got dark.",
    "We watched a film about a lighthouse keeper on a small island.",
    "Remember to water the plants on the balcony while I am away.",
]


@dataclass(frozen=True)
class Command:
    text: str
    intent: str
    entity: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def corpus() -> list[Command]:
    lamp, mode, setpoint = "switch.sim1_lamp", "select.sim1_mode", "number.sim1_setpoint"
    out = [Command(f"{verb} the sim one lamp", intent, lamp)
           for verb, intent in [("turn on", "turn_on"), ("turn off", "turn_off"),
                                ("switch on", "turn_on"), ("switch off", "turn_off"),
                                ("enable", "turn_on"), ("disable", "turn_off")]]
    out += [Command("toggle the sim one lamp", "toggle", lamp)]
    out += [Command(f"set the sim one setpoint to {w}", "set_value", setpoint, {"value": v})
            for w, v in [("eighteen", 18.0), ("twenty one", 21.0), ("twenty two point five",
                                                                     22.5), ("nine", 9.0)]]
    out += [Command(f"set the sim one mode to {o}", "select_option", mode, {"option": o})
            for o in ("eco", "comfort", "away")]
    out += [Command(f"set the power mode to {w}", "select_option", "select.power_power_mode",
                    {"option": o}) for w, o in [("off grid", "off-grid"), ("on grid", "on-grid"),
                                                ("auto", "auto")]]
    out += [Command(f"what is the {n}", "get_state", e)
            for n, e in [("battery level", "sensor.power_battery"),
                         ("sim one temperature", "sensor.sim1_temperature")]]
    out += [Command("press the sim one identify button", "press", "button.sim1_identify"),
            Command("system status", "system_status")]
    return out  # 21 commands, x 5 voices = 105 per condition


def noise(kind: str, seconds: float, babble: np.ndarray, rng: np.random.Generator
          ) -> np.ndarray:
    """``hum``: pink noise (fan, fridge, traffic); ``babble``: the same plus other people
    talking (everyday sentences in another voice), the hard case for any recogniser."""
    n = int(seconds * RATE)
    white = rng.normal(0, 1, n)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.maximum(1, np.arange(n // 2 + 1))), n)
    pink = pink / (np.std(pink) or 1.0)
    if kind == "hum":
        return pink * 1000
    start = int(rng.integers(0, max(1, len(babble) - n)))
    far = np.resize(babble[start:].astype(np.float64), n)
    far = far / (np.std(far) or 1.0)
    return (pink + 0.7 * far) * 1000


A = TypeVar("A", bound=NodeAgent | Hub)


@contextlib.asynccontextmanager
async def running(agent: A) -> AsyncIterator[A]:
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready), name=f"bench-{agent.node_id}")
    try:
        async with asyncio.timeout(30):
            await ready.wait()
        yield agent
    finally:
        agent.stop()
        await task


def node(cfg: SparkConfig, node_id: str, password: str) -> NodeAgent:
    return make_agent(cfg, cfg.node(node_id), password, announce_delay=(0.0, 0.05))


async def wait(predicate: Any, timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise BenchError(f"not within {timeout}s: {what}") from None


class Lab:
    def __init__(self, voice: NodeAgent, observer: MqttClient, inbox: Path) -> None:
        self.voice = voice
        self.inbox = inbox
        self.rpc = RpcClient(observer, voice.layout, "hub")  # the observer logs in as the hub
        self.events: list[tuple[float, PipelineEvent]] = []
        self.commands: list[tuple[float, str]] = []
        self.count = 0
        observer.subscribe(voice.layout.pipeline("voice"), self._on_event, 1)
        observer.subscribe(voice.layout.all_commands(), self._on_command, 1)

    def _on_event(self, msg: Message) -> None:
        self.events.append((time.time(), PipelineEvent.from_payload(msg.payload)))

    def _on_command(self, msg: Message) -> None:
        self.commands.append((time.time(), msg.topic))

    async def play(self, samples: np.ndarray) -> list[PipelineEvent]:
        """Replay one utterance; return the pipeline events it caused."""
        self.count += 1
        start = len(self.events)
        path = self.inbox / f"{self.count:05d}.wav"
        write_wav(path.with_suffix(".tmp"), samples)
        path.with_suffix(".tmp").rename(path)
        marks: list[str] = self.voice.marks  # type: ignore[attr-defined]
        await wait(lambda: str(path) in marks, 60, f"{path.name} replayed")
        await self.rpc.call("voice", "ping")  # answered after every event it caused
        return [e for _, e in self.events[start:]]


def score(cmd: Command, events: list[PipelineEvent]) -> tuple[bool, bool]:
    """(woke, right). A command counts when its intent is right, also when the node was
    still listening after an earlier wake (it then hears "hey spark, ..." as the command)."""
    woke = any(e.type == "wake" for e in events)
    intents = [e.data for e in events if e.type == "intent"]
    if not intents:
        return woke, False
    got = intents[0]
    data = got.get("data", {})
    same = (got.get("intent") == cmd.intent and got.get("entity_id") == cmd.entity
            and all(data.get(k) == v for k, v in cmd.data.items()))
    return woke, same


async def run(quick: bool, voice_config: dict[str, Any] | None = None,
              only: str | None = None) -> dict[str, Any]:
    nodes = [{"id": "sim1", "kind": "simulated"}, {"id": "power", "kind": "power"}]
    with throwaway_broker(["sim1", "power", "voice"], recorder=False) as broker, \
            tempfile.TemporaryDirectory(prefix="spark-voice-bench-") as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        data = broker.config.model_dump(mode="python", exclude_unset=True)
        data["nodes"] = [*nodes, {"id": "voice", "kind": "voice", "array": {"type": "none"},
                                  "follow_up_s": 0, "speak_replies": False,
                                  "source": {"type": "wav", "path": str(inbox), "gap_s": 0.8},
                                  "wake": {"type": "pocketsphinx"},  # it says "hey spark"
                                  **(voice_config or {})}]
        for n in data["nodes"]:
            n["password"] = broker.passwords[n["id"]]
        cfg = SparkConfig.model_validate(data)
        pw = broker.passwords
        hub = build_hub(cfg, password=pw["hub"], announce_delay=(0.0, 0.05))
        async with running(hub), running(node(cfg, "sim1", pw["sim1"])), \
                running(node(cfg, "power", pw["power"])), \
                running(node(cfg, "voice", pw["voice"])) as voice, \
                MqttClient(cfg.mqtt, "voice-bench", username="hub", password=pw["hub"]) as obs:
            await obs.wait_connected(10)
            vocab = voice.vocabulary  # type: ignore[attr-defined]
            await wait(lambda: voice.vocabulary.lookup("sim one identify") != []  # type: ignore
                       and voice.vocabulary.lookup("power mode") != [], 60,  # type: ignore
                       "the lab's entities in the voice vocabulary")
            vocab = voice.vocabulary  # type: ignore[attr-defined]
            lab = Lab(voice, obs, inbox)
            tts = EspeakTts(EspeakTtsConfig())
            rng = np.random.default_rng(5)
            babble = np.concatenate([await tts.synthesize(s, voice="en-gb+f2", speed=190)
                                     for s in EVERYDAY[:6]])
            commands = corpus()
            voices = VOICES[:1] if quick else VOICES
            conditions: list[tuple[str, float | None, str]] = [
                ("clean", None, ""), ("20 dB", 20.0, "hum"), ("10 dB", 10.0, "hum"),
                ("10 dB babble", 10.0, "babble")]
            if quick:
                conditions = [conditions[0], conditions[2]]
            if only:
                conditions = [c for c in conditions if c[0] == only]
            report: dict[str, Any] = {"names": len(vocab.names), "conditions": {}}
            latencies: list[float] = []
            waits: list[float] = []  # silence the end-of-speech detector waited
            stages: dict[str, list[float]] = {}
            for name, snr, kind in conditions:
                hits = woke = total = 0
                mine: list[float] = []  # this condition's end of speech -> command
                misses: list[str] = []
                for voice_name, speed in voices:
                    for cmd in commands:
                        speech = await tts.synthesize(f"hey spark, {cmd.text}",
                                                      voice=voice_name, speed=speed)
                        speech = np.concatenate([silence(0.4), speech])
                        if snr is not None:
                            speech = mix_at_snr(speech, noise(
                                kind, len(speech) / RATE + 1, babble, rng), snr)
                        sent = len(lab.commands)
                        events = await lab.play(speech)
                        w, ok = score(cmd, events)
                        total += 1
                        woke += w
                        hits += ok
                        if not ok:
                            said = [e.data for e in events if e.type == "transcript"]
                            misses.append(f"{voice_name}/{speed} {cmd.text!r} -> "
                                          f"{said[0] if said else 'no wake'}")
                        ends = [e.data for e in events
                                if e.type == "speech-end" and "ended" in e.data]
                        if ok and ends and len(lab.commands) > sent:
                            latencies.append(lab.commands[sent][0] - ends[0]["ended"])
                            waits.append(ends[0]["silence_s"])
                            mine.append(latencies[-1] + waits[-1])
                            for e in events:
                                for k, v in e.timings.items():
                                    stages.setdefault(k, []).append(v)
                report["conditions"][name] = {
                    "commands": total, "accuracy": round(hits / total, 3),
                    "wake_rate": round(woke / total, 3),
                    "speech_end_to_command_p50_ms": round(1000 * statistics.median(mine), 1)
                    if mine else None, "misses": misses}
                print(f"{name:>12}: {hits}/{total} = {hits / total:.1%} commands right, "
                      f"wake heard {woke}/{total}", flush=True)
            # False wakes on everyday speech, no wake phrase in it.
            seconds = 0.0
            wakes = 0
            for i, sentence in enumerate(EVERYDAY * (1 if quick else 2)):
                voice_name, speed = VOICES[i % len(VOICES)]
                speech = await tts.synthesize(sentence, voice=voice_name, speed=speed)
                seconds += len(speech) / RATE
                events = await lab.play(speech)
                wakes += sum(1 for e in events if e.type == "wake")
            lat = sorted(latencies)
            total = sorted(a + b for a, b in zip(latencies, waits, strict=True))
            report["latency_ms"] = {
                "samples": len(lat),
                "detect_to_command_p50": round(1000 * statistics.median(lat), 1) if lat else None,
                "detect_to_command_p90": round(1000 * percentile(lat, 90), 1) if lat else None,
                "silence_waited_p50": round(1000 * statistics.median(waits), 1) if lat else None,
                "early_end_share": round(sum(w < voice.cfg.end_silence_s  # type: ignore
                                             for w in waits) / len(waits), 3) if lat else None,
                "speech_end_to_command_p50": round(1000 * statistics.median(total), 1)
                if lat else None,
                "speech_end_to_command_p90": round(1000 * percentile(total, 90), 1)
                if lat else None,
            }
            report["stage_ms_p50"] = {k: round(statistics.median(v), 1)
                                      for k, v in sorted(stages.items())}
            print(f"stages: {report['stage_ms_p50']}", flush=True)
            report["false_wakes"] = {"wakes": wakes, "speech_seconds": round(seconds, 1)}
            print(f"latency: {report['latency_ms']}", flush=True)
            print(f"false wakes: {wakes} in {seconds:.0f} s of everyday speech", flush=True)
            return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_accuracy",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one voice, clean and 10 dB")
    parser.add_argument("--voice-config", type=json.loads, default=None, metavar="JSON",
                        help='voice node settings to try, e.g. \'{"stt": {"type": '
                        '"pocketsphinx", "rescore": false}}\'')
    parser.add_argument("--only", metavar="CONDITION", help='one condition, e.g. "10 dB babble" '
                        "(exploring; its noise differs from the full run's)")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.quick, args.voice_config, args.only))
    report["voice_config"] = args.voice_config or {}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("voice-quick.json" if args.quick else "voice-only.json" if args.only
                     else "voice.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
