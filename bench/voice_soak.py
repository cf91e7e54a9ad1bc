"""An hour of continuous TV-noise audio through the voice node (issue 18): no crash, memory flat.

A throwaway Mosquitto, the hub, a simulated node and the voice node (WAV-folder source, replayed
as fast as the node takes it) run in this process; the recognisers run in the node's worker
process (``isolate``). The audio is a TV talking without a break (news sentences in two voices,
random cuts and levels) with a spoken command 10 dB over it every 20 s. Each minute is one WAV
dropped into the node's folder; after it is replayed the bench samples the resident memory of
this process (hub + node) and of the worker, and counts the worker's crashes (each one a
restart: the node must stay up) and the commands handled.

The node runs its default wake word ("okay nabu": micro-wakeword + pyopen-wakeword) unless
``--wake pocketsphinx`` ("hey spark", the recogniser that segfaulted under TV noise in issue
18). Every minute's sample is
appended to ``bench/results/voice-soak[-quick].jsonl`` as it is taken, so a run cut short still
has its figures; the report fits the memory slope (MB per hour of audio, least squares over the
samples after the first 5 minutes' warm-up) of the node and of the worker.

    python -m bench.voice_soak --quick    # 5 minutes of audio
    python -m bench.voice_soak            # 60 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, throwaway_broker
from bench.voice_accuracy import node, running, wait
from bench.voice_endpoint import TV, TV_VOICES, synth, tv_talk
from spark.app.config.models import SparkConfig
from spark.app.runtime import build_hub
from spark.core.messages.voice import PipelineEvent
from spark.core.mqtt import Message, MqttClient
from spark.nodes.voice.audio import RATE, mix_at_snr, write_wav

COMMANDS = ["turn on the sim one lamp", "turn off the sim one lamp"]
WAKE_PHRASE = {"default": "okay nabu", "pocketsphinx": "hey spark"}
WARM_UP_MIN = 5
COMMAND_VOICES = ["espeak-ng:en-us", "espeak-ng:en-us+f3", "flite:slt"]


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def slope_mb_per_hour(samples: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares slope of ``key`` over audio minutes (after the warm-up), in MB/hour."""
    points = [(s["minute"], s[key]) for s in samples
              if s[key] is not None and s["minute"] > min(WARM_UP_MIN, len(samples) // 2)]
    if len(points) < 2:
        return None
    x, y = np.array(points, dtype=np.float64).T
    return round(float(np.polyfit(x, y, 1)[0]) * 60, 2)


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def append_line(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")


def minute(rng: np.random.Generator, tv: list[np.ndarray], commands: list[np.ndarray]
           ) -> np.ndarray:
    """60 s of TV talk with a command over it (10 dB) every 20 s."""
    talk = tv_talk(60.0, rng, tv).astype(np.float64)
    talk *= 10 ** (rng.uniform(-6, 3) / 20)
    out = talk.copy()
    for start in (4.0, 24.0, 44.0):
        cmd = commands[int(rng.integers(len(commands)))]
        i = int(start * RATE)
        seg = talk[i:i + len(cmd)]
        mixed = mix_at_snr(cmd, seg.astype(np.int16), 10.0).astype(np.float64)
        out[i:i + len(cmd)] = mixed[:len(seg)]
    return np.clip(out, -32768, 32767).astype(np.int16)


async def run(minutes: int, voice_config: dict[str, Any] | None, wake: str,
              log_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(60)
    tv = [synth(text, v, 160) for v in TV_VOICES for text in TV]
    commands = [synth(f"{WAKE_PHRASE[wake]}, {text}", v)
                for v in COMMAND_VOICES for text in COMMANDS]
    wake_config = {"wake": {"type": "pocketsphinx"}} if wake == "pocketsphinx" else {}
    with throwaway_broker(["sim1", "voice"], recorder=False) as broker, \
            tempfile.TemporaryDirectory(prefix="spark-voice-soak-") as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        data = broker.config.model_dump(mode="python", exclude_unset=True)
        data["nodes"] = [{"id": "sim1", "kind": "simulated"},
                         {"id": "voice", "kind": "voice", "array": {"type": "none"},
                          "speak_replies": False,
                          "source": {"type": "wav", "path": str(inbox), "gap_s": 0.1},
                          **wake_config, **(voice_config or {})}]
        for n in data["nodes"]:
            n["password"] = broker.passwords[n["id"]]
        cfg = SparkConfig.model_validate(data)
        pw = broker.passwords
        events: list[PipelineEvent] = []

        def on_event(msg: Message) -> None:
            events.append(PipelineEvent.from_payload(msg.payload))

        hub = build_hub(cfg, password=pw["hub"], announce_delay=(0.0, 0.05))
        async with running(hub), running(node(cfg, "sim1", pw["sim1"])), \
                running(node(cfg, "voice", pw["voice"])) as voice, \
                MqttClient(cfg.mqtt, "voice-soak", username="hub", password=pw["hub"]) as obs:
            await obs.wait_connected(10)
            obs.subscribe(voice.layout.pipeline("voice"), on_event, 1)
            await wait(lambda: voice.vocabulary.lookup("sim one lamp") != [],  # type: ignore
                       300, "the lamp in the voice vocabulary")
            worker = getattr(voice, "pipeline", None)
            marks: list[str] = voice.marks  # type: ignore[attr-defined]
            samples: list[dict[str, Any]] = []
            t0 = time.perf_counter()
            log_path.unlink(missing_ok=True)  # noqa: ASYNC240 - a local file, once
            for m in range(minutes):
                path = inbox / f"{m:04d}.wav"
                write_wav(path.with_suffix(".tmp"), minute(rng, tv, commands))
                path.with_suffix(".tmp").rename(path)
                await wait(lambda p=path: str(p) in marks, 1800, f"minute {m} replayed")
                path.unlink()
                samples.append({"minute": m + 1, "wall_s": round(time.perf_counter() - t0, 1),
                                "rss_node_mb": rss_mb(os.getpid()),
                                "rss_worker_mb": rss_mb(getattr(worker, "pid", None)),
                                "crashes": getattr(voice, "crashes", 0),
                                "worker_starts": getattr(worker, "starts", None),
                                "wakes": sum(e.type == "wake" for e in events),
                                "handled": sum(e.type == "handled" for e in events),
                                "errors": sum(e.type == "error" for e in events),
                                "load1": load1()})
                line = json.dumps(samples[-1])
                print(line, flush=True)
                append_line(log_path, line)
            kinds = [e.type for e in events]
            first, last = samples[0], samples[-1]
            return {
                "minutes_of_audio": minutes,
                "wall_s": last["wall_s"],
                "x_realtime": round(minutes * 60 / last["wall_s"], 2),
                "crashes": last["crashes"],
                "worker_starts": last["worker_starts"],
                "utterances_failed": sum(e.type == "error" and e.data.get("code")
                                         == "recogniser-crash" for e in events),
                "errors": [e.data for e in events if e.type == "error"][:20],
                "wakes": kinds.count("wake"), "handled": kinds.count("handled"),
                "commands_spoken": 3 * minutes,
                "rss_node_mb": {"after_1_min": first["rss_node_mb"], "end": last["rss_node_mb"]},
                "rss_worker_mb": {"after_1_min": first["rss_worker_mb"],
                                  "end": last["rss_worker_mb"]},
                "slope_node_mb_per_h": slope_mb_per_hour(samples, "rss_node_mb"),
                "slope_worker_mb_per_h": slope_mb_per_hour(samples, "rss_worker_mb"),
                "load1": {"min": min(s["load1"] for s in samples),
                          "max": max(s["load1"] for s in samples)},
                "samples": samples,
            }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_soak",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 minutes of audio")
    parser.add_argument("--minutes", type=int, default=None, help="override the length")
    parser.add_argument("--voice-config", type=json.loads, default=None, metavar="JSON",
                        help='voice node settings, e.g. \'{"vad": {"type": "relative"}}\'')
    parser.add_argument("--wake", choices=sorted(WAKE_PHRASE), default="default",
                        help="the node's default wake word (okay nabu) or pocketsphinx "
                        "(hey spark)")
    parser.add_argument("--out", help="result file name in bench/results/ (the samples go to "
                        "the same name with .jsonl)")
    args = parser.parse_args(argv)
    minutes = args.minutes or (5 if args.quick else 60)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("voice-soak-quick.json" if args.quick else "voice-soak.json")
    if args.out:
        out = RESULTS / args.out
    elif args.wake != "default":
        out = out.with_name(out.stem + f"-{args.wake}.json")
    report = asyncio.run(run(minutes, args.voice_config, args.wake, out.with_suffix(".jsonl")))
    report["voice_config"] = args.voice_config or {}
    report["wake"] = args.wake
    out.write_text(json.dumps(report, indent=2) + "\n")
    print({k: v for k, v in report.items() if k != "samples"})
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
