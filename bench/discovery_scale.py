"""Discovery at scale (issue 17): 20,480 retained discovery configs from 4,096 devices, registered
by the real hub at start and live; time and the hub process's RSS.

Home Assistant's public figure for 4,096 devices is about 22 s. Our goal: < 10 s and < 150 MB
RSS on this machine, both ways:

- **start**: the configs (and one retained state per device) are on the broker before the hub
  starts; timed from the hub process's start to the 20,480th entity in its registry (the import
  and connection included);
- **live**: the hub runs with an empty registry; timed from the first config published to the
  20,480th entity registered.

The devices are Zigbee2MQTT-shaped (what most of these would be in a home lab): a bridge with
``availability`` list (bridge state + device availability, ``availability_mode: all``), five
components per device (a JSON-schema light, a battery sensor, a linkquality diagnostic sensor, an
occupancy binary_sensor and a power-on-behaviour select), ``value_template`` on each, ``origin``,
``device`` with identifiers and model. The hub's recorder is off (it measures the registry, not
SQLite); the hub's entity limits are raised to fit.
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

import orjson
import psutil

from bench.common import RESULTS, BenchError, Broker, bench_config, publish, throwaway_broker

PUBLISHER = "z2m"
GOAL_S, GOAL_MB = 10.0, 150.0
COMPONENTS = 5


def device_messages(devices: int, with_state: bool = True) -> list[tuple[str, bytes, bool]]:
    """Retained Zigbee2MQTT-style discovery (``COMPONENTS`` per device) and one state each."""
    out: list[tuple[str, bytes, bool]] = [(f"{PUBLISHER}/bridge/state", b'{"state":"online"}',
                                           True)]
    origin = {"name": "Zigbee2MQTT", "sw": "2.1.3", "url": "https://www.zigbee2mqtt.io"}
    for i in range(devices):
        ieee = f"0x00158d0{i:09x}"
        name = f"room{i % 64}_sensor{i}"
        base = f"{PUBLISHER}/{name}"
        device = {"identifiers": [f"zigbee2mqtt_{ieee}"], "name": name, "model": "RTCGQ11LM",
                  "manufacturer": "Aqara", "sw_version": "3000-0001", "via_device":
                  "zigbee2mqtt_bridge_0x00124b0029113e8f"}
        avail = {"availability": [{"topic": f"{PUBLISHER}/bridge/state",
                                   "value_template": "{{ value_json.state }}"},
                                  {"topic": f"{base}/availability"}],
                 "availability_mode": "all"}
        common = {"device": device, "origin": origin, "state_topic": base, **avail}
        configs = {
            ("light", "light"): {"schema": "json", "command_topic": f"{base}/set",
                                 "brightness": True, "brightness_scale": 254,
                                 "supported_color_modes": ["color_temp", "xy"]},
            ("sensor", "battery"): {"device_class": "battery", "unit_of_measurement": "%",
                                    "state_class": "measurement", "entity_category": "diagnostic",
                                    "value_template": "{{ value_json.battery }}"},
            ("sensor", "linkquality"): {"unit_of_measurement": "lqi", "state_class":
                                        "measurement", "entity_category": "diagnostic",
                                        "enabled_by_default": False,
                                        "value_template": "{{ value_json.linkquality }}"},
            ("binary_sensor", "occupancy"): {"device_class": "occupancy", "payload_on": True,
                                             "payload_off": False,
                                             "value_template": "{{ value_json.occupancy }}"},
            ("select", "power_on_behavior"): {"command_topic": f"{base}/set/power_on_behavior",
                                              "options": ["off", "on", "toggle", "previous"],
                                              "entity_category": "config",
                                              "value_template":
                                              "{{ value_json.power_on_behavior }}"},
        }
        for (platform, key), extra in configs.items():
            payload = {**common, "name": key.replace("_", " ").title(),
                       "unique_id": f"{ieee}_{key}_{PUBLISHER}",
                       "object_id": f"{name}_{key}", **extra}
            out.append((f"homeassistant/{platform}/{ieee}/{key}/config",
                        orjson.dumps(payload), True))
        out.append((f"{base}/availability", b"online", True))
        if with_state:
            out.append((base, orjson.dumps({"battery": 90 + i % 10, "linkquality": 100 + i % 150,
                                            "occupancy": i % 2 == 0, "state": "ON",
                                            "brightness": i % 255,
                                            "power_on_behavior": "previous"}), True))
    return out


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
    ours = [0]  # entities of the bench's publisher (the hub's own are not counted)
    suffix = f"_{PUBLISHER}"

    def on_added(event: Any) -> None:
        record = hub.registry.get(event.entity_id) if hub.registry is not None else None
        if record is None or not (record.spec.unique_id or "").endswith(suffix):
            return
        if not first:
            first.append(time.perf_counter())
        ours[0] += 1
        if ours[0] >= want:
            full.set()

    hub.bus.listen(on_added, (EntityAdded,))
    task = asyncio.create_task(hub.run(ready))
    await ready.wait()
    conn.send(("ready", time.perf_counter() - t0))
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
        res["hub_ready_s"] = started
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench discovery", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=4096, help="devices (5 configs each)")
    p.add_argument("--quick", action="store_true", help="512 devices")
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    devices = 512 if args.quick else args.devices
    want = devices * COMPONENTS
    user = {"username": PUBLISHER, "readwrite": [f"{PUBLISHER}/#"], "write": ["homeassistant/#"]}
    messages = device_messages(devices)
    out: dict[str, Any] = {"devices": devices, "configs": want, "cpus": os.cpu_count(),
                           "load_avg": os.getloadavg()[0]}
    with throwaway_broker([], recorder=False, users=[user]) as broker:
        out["start"] = run_phase(broker, messages, want, live=False)
        clear(broker, messages)
        out["live"] = run_phase(broker, messages, want, live=True)
    for phase in ("start", "live"):
        r = out[phase]
        ok = r["elapsed_s"] < GOAL_S and r["rss_mb"] < GOAL_MB
        print(f"{phase:5}: {r['entities']} entities / {r['devices']} devices in "
              f"{r['elapsed_s']:.2f} s (hub ready after {r['hub_ready_s']:.2f} s; hub CPU "
              f"{r['cpu_s']:.2f} s), RSS {r['rss_mb']:.0f} MB (at the last entity "
              f"{r['rss_at_full_mb']:.0f} MB)  [goal < {GOAL_S:g} s, < {GOAL_MB:g} MB: "
              f"{'met' if ok else 'NOT met'}]")
    print(f"load average at start {out['load_avg']:.1f} on {out['cpus']} cpus")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "discovery_scale.json").write_text(json.dumps(out, indent=2))
    return out
