"""``python -m bench [NAME ...] [[--] bench options]``: run benches and print their figures.

With no name every bench below runs; ``python -m bench hub --quick`` passes ``--quick`` on to
the hub bench (``python -m bench hub --help`` lists its options). Bench names are the leading
arguments only: from the first option (or ``--``) on, everything goes to the benches, so
``python -m bench bridge --skip kafka outage`` runs the bridge bench without its Kafka and
outage phases. The PostgreSQL benches take the server as ``--url`` (a TimescaleDB one
included): ``python -m bench bridge timescale --url postgresql://user@db:5432/postgres``.
The node CPU scripts (``bench/node_cpu_*.py``) are run directly, see their docstrings.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from bench.common import BenchError


def _hub(argv: list[str]) -> Any:
    from bench import hub_ingest

    return hub_ingest.main(argv)


def _bridge(argv: list[str]) -> Any:
    from bench import bridge_pipeline

    return bridge_pipeline.main(argv)


def _outbox(argv: list[str]) -> Any:
    from bench import bridge_outbox

    return bridge_outbox.main(argv)


def _module(name: str) -> Callable[[list[str]], Any]:
    def run(argv: list[str]) -> Any:
        import importlib

        return importlib.import_module(f"bench.{name}").main(argv)

    return run


BENCHES: dict[str, tuple[Callable[[list[str]], Any], str]] = {
    "hub": (_hub, "ingest msg/s vs bare paho, service-call round trip, idle RSS (issue 2)"),
    "bridge": (_bridge, "MQTT -> outbox -> TimescaleDB / Kafka vs naive, outage drain (issue 4)"),
    "outbox": (_outbox, "outbox store choice: SQLite WAL vs append-only file, appends/s (issue 4)"),
    "recorder": (_module("recorder_ingest"), "history state changes/s, SQLite / PG (issue 4)"),
    "timescale": (_module("timescale_sink"), "TimescaleDB sink rows/s vs bare COPY (issue 4)"),
    "kafka": (_module("kafka_sink"), "Kafka sink records/s vs bare producer (issue 4)"),
    "voice": (_module("voice_accuracy"), "voice command accuracy, latency, false wakes (issue 5)"),
    "voice_generalisation": (_module("voice_generalisation"), "voice on a generated corpus, "
                             "held-out split, scored on what the hub published (issue 18)"),
    "voice_wake": (_module("voice_wake"), "wake-word engines: wake rate and false wakes/min on "
                   "the issue-18 corpus"),
    "voice-endpoint": (_module("voice_endpoint"), "end of a command while a TV talks, per "
                       "speech detector (issue 18)"),
    "voice-soak": (_module("voice_soak"), "an hour of TV-noise audio through the recognisers' "
                   "worker: crashes, RSS (issue 18)"),
    "vision": (_module("vision_cpu"), "CPU detector frames/s at 640x480, RSS (issue 6)"),
    "vision_accuracy": (_module("vision_accuracy"), "CPU people detectors on a held-out "
                        "image set: precision, recall, counts, frames/s per core (issue 13)"),
    "ui": (_module("ui_latency"), "panel: MQTT change -> browser latency, first load (issue 7)"),
    "discovery": (_module("discovery_scale"), "registry at scale: 20,480 configs / 4,096 "
                  "devices at start and live, seconds and RSS (issue 17)"),
    "llm": (_module("llm_router"), "LLM router: routing cost, overhead vs direct, cache hits, "
            "edge down (issue 16)"),
}


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: stop Mosquitto and the children


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(bench names, their options): the names are the arguments before the first option."""
    lead = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    rest = argv[lead:]
    return argv[:lead], rest[1:] if rest[:1] == ["--"] else rest


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    names, rest = split_args(argv)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown bench {unknown[0]!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if rest and rest[0] in ("-l", "--list"):
        for name, (_fn, what) in BENCHES.items():
            print(f"{name:<8} {what}")
        return 0
    if rest and rest[0] in ("-h", "--help") and not names:
        print(__doc__)
        for name, (_fn, what) in BENCHES.items():
            print(f"  {name:<8} {what}")
        return 0
    failed = []
    for name in names or list(BENCHES):
        try:
            BENCHES[name][0](rest)
        except BenchError as exc:  # report it and go on with the other benches
            print(f"bench {name}: {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
