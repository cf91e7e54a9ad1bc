"""Discovery at scale (issue 17): 20,480 retained discovery configs from 4,096 devices, registered
by the real hub at start and live; time and the hub process's RSS.

Home Assistant's public figure for 4,096 devices is about 22 s. Our goal: < 10 s and < 150 MB
RSS on this machine, both ways:

- **start**: the configs (and one retained state per device) are on the broker before the hub
  starts; timed from the hub process's start to the 20,480th entity in its registry (the import
  and connection included);
- **live**: the hub runs with an empty registry; timed from the first config published to the
  20,480th entity registered.

The corpus (``bench/discovery_corpus.py``) is real publishers' wire shapes: ``mixed``
(Zigbee2MQTT, Tasmota, ESPHome and OpenMQTTGateway per-entity configs, device triggers included)
and the held-out ``device`` (device-based discovery only), five configs per device on average,
with every device's availability and one retained value per state topic. The hub's recorder is
off (it measures the registry, not SQLite); the hub's entity limits are raised to fit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from bench.common import RESULTS, BenchError, Broker, bench_config, publish, throwaway_broker
from bench.discovery_corpus import SHAPES, corpus, sizes

PUBLISHER = "bench"  # the broker account publishing the corpus
GOAL_S, GOAL_MB = 10.0, 150.0
COMPONENTS = 5  # configs per device, on average, in every corpus shape
OURS = "Prime Spark"  # the hub's own entities' origin (not counted)


# ---- the hub, in its own process -----------------------------------------------------------------
def hub_worker(conn: Connection, data_dir: str, port: int, password: str, want: int) -> None:
    t0 = time.perf_counter()
    logging.basicConfig(level=logging.ERROR, format="hub: %(levelname)s %(name)s %(message)s")
    asyncio.run(_hub(conn, data_dir, port, password, want, t0))


async def _hub(conn: Connection, data_dir: str, port: int, password: str, want: int,
               t0: float) -> None:
    from spark.app.runtime import build_hub
    from spark.core.events import EntityAdded

    cfg = bench_config(Path(data_dir), port, recorder=False)
    cfg = cfg.model_copy(update={"hub": cfg.hub.model_copy(update={
        "max_entities": want + 1000, "max_entities_per_publisher": want + 1000})})
    hub = build_hub(cfg, password=password)
    ready = asyncio.Event()
    full = asyncio.Event()
    first: list[float] = []
    ours = [0]  # the bench's entities and device triggers (the hub's own are not counted)

    def on_added(event: Any) -> None:
        registry = hub.registry
        if registry is None:
            return
        record = registry.get(event.entity_id) or registry.triggers.get(event.entity_id)
        if record is None or (record.spec.origin is not None
                              and record.spec.origin.name == OURS):
            return
        if not first:
            first.append(time.perf_counter())
        ours[0] += 1
        if ours[0] >= want:
            full.set()

    hub.bus.listen(on_added, (EntityAdded,))
    task = asyncio.create_task(hub.run(ready))
    await ready.wait()
    conn.send(("ready", (time.perf_counter() - t0,
                         psutil.Process().memory_info().rss / 2**20)))
    try:
        async with asyncio.timeout(300):
            await full.wait()
        done = time.perf_counter()
        assert hub.registry is not None
        cpu = time.process_time()
        rss_full = psutil.Process().memory_info().rss / 2**20
        # the hub trims after a drained flood (registry_guard.release_memory): wait for it
        await asyncio.sleep(1.5)
        conn.send(("full", {"since_start_s": done - t0, "rss_at_full_mb": rss_full,
                            "cpu_s": cpu,
                            "since_first_entity_s": done - first[0],
                            "first_entity_at": first[0],
                            "entities": ours[0],
                            "devices": len(hub.registry.devices),
                            "triggers": len(hub.registry.triggers),
                            "rss_mb": psutil.Process().memory_info().rss / 2**20}))
    except TimeoutError:
        conn.send(("timeout", ours[0]))
    conn.recv()  # "stop"
    hub.stop()
    await task


def run_phase(broker: Broker, messages: list[tuple[str, bytes, bool]], want: int,
              live: bool) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=hub_worker, args=(child, str(broker.data_dir), broker.port,
                                                 broker.passwords["hub"], want))
    if not live:
        publish(broker.port, broker.login(PUBLISHER), messages)
    proc.start()
    try:
        if not parent.poll(120):
            raise BenchError("the hub did not start within 120 s")
        kind, started = parent.recv()
        if kind != "ready":
            raise BenchError(f"hub: {kind} {started}")
        t_pub = time.perf_counter()
        if live:
            publish(broker.port, broker.login(PUBLISHER), messages)
        if not parent.poll(320):
            raise BenchError("the hub never reported")
        kind, res = parent.recv()
        if kind != "full":
            raise BenchError(f"the hub registered only {res} of {want} entities")
        res["hub_ready_s"], res["rss_ready_mb"] = started
        if live:  # from the first config published (perf_counter is system-wide on Linux)
            res["elapsed_s"] = res["first_entity_at"] - t_pub + res["since_first_entity_s"]
        else:
            res["elapsed_s"] = res["since_start_s"]
        parent.send("stop")
        return res
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


def clear(broker: Broker, messages: list[tuple[str, bytes, bool]]) -> None:
    publish(broker.port, broker.login(PUBLISHER), [(t, b"", True) for t, _, r in messages if r])


def run_shape(shape: str, devices: int) -> dict[str, Any]:
    """Both phases for one corpus shape, on a broker of its own."""
    messages, want = corpus(shape, devices)
    out: dict[str, Any] = {"shape": shape, "devices": devices, "configs": want,
                           **sizes(messages), "load_avg_before": os.getloadavg()[0]}
    user = {"username": PUBLISHER, "readwrite": ["#"]}
    with throwaway_broker([], recorder=False, users=[user]) as broker:
        out["start"] = run_phase(broker, messages, want, live=False)
        clear(broker, messages)
        out["live"] = run_phase(broker, messages, want, live=True)
    out["load_avg_after"] = os.getloadavg()[0]
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench discovery", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=4096, help="devices (5 configs each)")
    p.add_argument("--quick", action="store_true", help="512 devices")
    p.add_argument("--shape", choices=[*SHAPES, "all"], default="all",
                   help="corpus shape (bench/discovery_corpus.py); 'device' is the held-out one")
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    devices = 512 if args.quick else args.devices
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    out: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()[0],
                           "shapes": {s: run_shape(s, devices) for s in shapes}}
    for shape, res in out["shapes"].items():
        print(f"corpus {shape}: {res['configs']} configs from {res['devices']} devices, "
              f"config payloads {res['config_bytes_mean']:.0f} B mean / "
              f"{res['config_bytes_max']} B max (load {res['load_avg_before']:.1f} -> "
              f"{res['load_avg_after']:.1f})")
        for phase in ("start", "live"):
            r = res[phase]
            ok = r["elapsed_s"] < GOAL_S and r["rss_mb"] < GOAL_MB
            print(f"  {phase:5}: {r['entities']} configs / {r['devices']} devices / "
                  f"{r['triggers']} triggers in {r['elapsed_s']:.2f} s (hub ready after "
                  f"{r['hub_ready_s']:.2f} s; hub CPU {r['cpu_s']:.2f} s), RSS "
                  f"{r['rss_mb']:.0f} MB (at the last entity {r['rss_at_full_mb']:.0f} MB, "
                  f"hub ready {r['rss_ready_mb']:.0f} MB)  "
                  f"[goal < {GOAL_S:g} s, < {GOAL_MB:g} MB: {'met' if ok else 'NOT met'}]")
    print(f"load average at start {out['load_avg']:.1f} on {out['cpus']} cpus")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "discovery_scale.json").write_text(json.dumps(out, indent=2))
    return out
