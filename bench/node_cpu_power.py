"""CPU use of the power node while idle-publishing at its default interval.

Starts a throwaway Mosquitto on a free loopback port (or uses ``--host/--port``), runs one power
node in this process for ``--seconds`` and prints the process CPU time it used as a percentage
of one core (the broker's own CPU is not counted).

    python bench/node_cpu_power.py                  # simulated backend, 60 s
    python bench/node_cpu_power.py --backend sysfs  # the captured laptop sysfs tree
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.nodes.power.agent import PowerNode

LAPTOP = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "power" / "sysfs" / "laptop"


@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with socket.socket() as sock, contextlib.suppress(OSError):
                    sock.connect(("127.0.0.1", port))
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start")
                time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(5)


async def measure(host: str, port: int, seconds: float, backend: str) -> dict[str, float]:
    backend_cfg = ({"type": "sysfs", "root": str(LAPTOP)} if backend == "sysfs"
                   else {"type": "simulated"})
    cfg = SparkConfig.model_validate({
        "mqtt": {"host": host, "port": port},
        "nodes": [{"kind": "power", "id": "power", "backend": backend_cfg}],
    })
    agent = PowerNode(NodeContext(cfg.agent_settings(), cfg.node("power")))
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready), name="bench-power")
    proc = psutil.Process()
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        await asyncio.sleep(1.0)  # let the announce burst pass: measure steady state
        cpu0, ps0, wall0, reads0 = time.process_time(), proc.cpu_times(), time.monotonic(), \
            agent.reads
        await asyncio.sleep(seconds)
        cpu1, ps1, wall1, reads1 = time.process_time(), proc.cpu_times(), time.monotonic(), \
            agent.reads
    finally:
        agent.stop()
        await task
    wall = wall1 - wall0
    return {
        "seconds": wall,
        "reads": reads1 - reads0,
        "interval_s": cfg.node("power").state_interval,
        "cpu_percent": 100.0 * (cpu1 - cpu0) / wall,
        "psutil_percent": 100.0 * ((ps1.user - ps0.user) + (ps1.system - ps0.system)) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="an existing broker (default: start one)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backend", choices=["simulated", "sysfs"], default="simulated")
    args = parser.parse_args()
    if args.port:
        result = asyncio.run(measure(args.host, args.port, args.seconds, args.backend))
    else:
        with mosquitto() as port:
            result = asyncio.run(measure("127.0.0.1", port, args.seconds, args.backend))
    print(f"power node ({args.backend}), interval {result['interval_s']:g} s, "
          f"{result['reads']:.0f} reads in {result['seconds']:.1f} s: "
          f"{result['cpu_percent']:.3f} % of one core (psutil {result['psutil_percent']:.3f} %)")


if __name__ == "__main__":
    main()
