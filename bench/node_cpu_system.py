"""CPU use of the system telemetry node while idle-publishing at its default interval (30 s).

Starts a throwaway Mosquitto on a free loopback port (or uses ``--host/--port``), runs one system
node in this process for ``--seconds`` and prints the CPU it used as a percentage of one core:
the process itself, and with the tools it spawned (``vcgencmd``, ``wg``; psutil counts reaped
children). The broker's own CPU is not counted.

    python bench/node_cpu_system.py                 # this machine's real tools, 60 s
    python bench/node_cpu_system.py --pi-samples    # tools replaced by `cat <captured sample>`
                                                    # and the Pi 5 thermal tree: a Pi's work
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
from typing import Any

import psutil

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.nodes.system.agent import SystemNode

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "system"


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


def node_section(pi_samples: bool, interval: float | None) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "system", "id": "system"}
    if interval is not None:
        node["state_interval"] = interval
    if pi_samples:
        node["thermal_root"] = str(SAMPLES / "thermal_pi5")
        node["commands"] = {
            "throttled": ["cat", str(SAMPLES / "vcgencmd_throttled_ok.txt")],
            "wireguard": ["cat", str(SAMPLES / "wg_show_all_dump.txt")],
            "hailo_identify": ["cat", str(SAMPLES / "hailortcli_identify.txt")],
        }
    return node


async def measure(host: str, port: int, seconds: float, pi_samples: bool,
                  interval: float | None) -> dict[str, float]:
    cfg = SparkConfig.model_validate({"mqtt": {"host": host, "port": port},
                                      "nodes": [node_section(pi_samples, interval)]})
    agent = SystemNode(NodeContext(cfg.agent_settings(), cfg.node("system")))
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready), name="bench-system")
    proc = psutil.Process()
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        await asyncio.sleep(2.0)  # let the announce burst and the first round pass
        ps0, wall0, n0 = proc.cpu_times(), time.monotonic(), agent.collections
        await asyncio.sleep(seconds)
        ps1, wall1, n1 = proc.cpu_times(), time.monotonic(), agent.collections
    finally:
        agent.stop()
        await task
    wall = wall1 - wall0
    own = (ps1.user - ps0.user) + (ps1.system - ps0.system)
    children = (ps1.children_user - ps0.children_user) + (ps1.children_system
                                                          - ps0.children_system)
    return {"seconds": wall, "rounds": n1 - n0, "interval_s": cfg.node("system").state_interval,
            "entities": len(agent.entities), "own_percent": 100.0 * own / wall,
            "total_percent": 100.0 * (own + children) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="an existing broker (default: start one)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, help="override the node's default interval")
    parser.add_argument("--pi-samples", action="store_true",
                        help="run `cat <captured sample>` in place of vcgencmd / wg / hailortcli")
    args = parser.parse_args()
    run = (args.seconds, args.pi_samples, args.interval)
    if args.port:
        result = asyncio.run(measure(args.host, args.port, *run))
    else:
        with mosquitto() as port:
            result = asyncio.run(measure("127.0.0.1", port, *run))
    label = "Pi samples" if args.pi_samples else "this machine's tools"
    print(f"system node ({label}), interval {result['interval_s']:g} s, "
          f"{result['entities']:.0f} entities, {result['rounds']:.0f} rounds in "
          f"{result['seconds']:.1f} s: {result['own_percent']:.3f} % of one core "
          f"({result['total_percent']:.3f} % with spawned tools)")


if __name__ == "__main__":
    main()
