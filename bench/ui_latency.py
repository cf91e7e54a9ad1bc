"""Panel figures (issue 7): MQTT state change -> visible in a real browser, p50 (target
< 200 ms), and the dashboard's first load with ~500 entities registered (target < 1 s).

``.venv/bin/python -m bench.ui_latency [--samples N] [--entities N]``: a throwaway Mosquitto
on our generated config, ``spark hub`` and ``spark node simulated`` processes, and Debian's
headless Chromium (the e2e harness of ``tests/e2e``). Prints the figures and writes
``bench/results/ui.json``. Loopback only; bounded in count and time; stops by itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import RESULTS, BenchError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from broker_fixture import free_port, start_test_broker
from e2e.harness import (
    chromium,
    chromium_available,
    measure_first_load,
    measure_latency,
    running_lab,
    sign_in,
)

BASE_ENTITIES = 19  # hub + simulated node without extra sensors


def run(samples: int, entities: int) -> dict[str, object]:
    missing = chromium_available()
    if missing:
        raise BenchError(missing)
    with tempfile.TemporaryDirectory(prefix="spark-ui-bench-") as tmp:
        root = Path(tmp)
        broker = start_test_broker(root / "mosquitto")
        try:
            nodes = [{"id": "sim1", "kind": "simulated", "state_interval": 3600,
                      "extra_sensors": max(0, entities - BASE_ENTITIES)}]
            with running_lab(root / "lab", broker, free_port(), nodes) as lab, \
                    chromium(root / "profile") as driver:
                with lab.api() as api:
                    api.login()
                    registered = len(api.get("/api/entities").json())
                sign_in(driver, lab.url)
                latency = sorted(measure_latency(driver, lab.url, broker, samples))
                first_load = measure_first_load(driver, lab.url)
        finally:
            broker.process.stop_blocking()
    return {
        "entities_registered": registered,
        "mqtt_to_browser_ms": {"p50": round(statistics.median(latency), 1),
                               "p90": round(latency[int(len(latency) * 0.9) - 1], 1),
                               "max": round(latency[-1], 1), "samples": len(latency),
                               "target_p50": 200},
        "dashboard_first_load_ms": {k: round(v, 1) for k, v in first_load.items()}
        | {"target": 1000},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_latency", description=__doc__)
    parser.add_argument("--samples", type=int, default=50, help="state changes to time")
    parser.add_argument("--entities", type=int, default=500, help="entities to register")
    args = parser.parse_args(argv)
    figures = run(max(5, min(args.samples, 1000)), max(BASE_ENTITIES, args.entities))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ui.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
