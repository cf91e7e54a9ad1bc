#!/usr/bin/env python3
"""Our nodes over time in a real Home Assistant (issue 17): discovery-mode switch both ways, a
replaced board, the hub down. Records what HA did, to check ``recorded.py`` against.

Starts a throwaway Mosquitto (project config and ACLs), a real HA (``--hass``), then the hub and
``sim1`` and walks through the scenarios, checking HA's states after each (same entity ids, none
unavailable, no ``_2``), then stops HA and reads its entity registry. An observer records every
discovery and availability message in order; the same traffic replayed into
``recorded.HomeAssistant`` must give HA's registry. ``--record FILE`` writes the traffic and what
HA made of it (``recorded/ha-<version>.json``); the test suite replays those files.

    python tools/ha_check/run_scenarios.py --hass /opt/ha2025/bin/hass --record auto
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from checks import Report  # noqa: E402
from ha_process import HomeAssistant, wait_for  # noqa: E402
from recorded import HomeAssistant as Recorded  # noqa: E402
from run_check import Running, _true, make_workdir  # noqa: E402

from spark.app.config.models import SparkConfig  # noqa: E402
from spark.app.runtime import build_hub, make_agent  # noqa: E402
from spark.core.agent.agent import NodeAgent  # noqa: E402
from spark.core.mqtt import Message, MqttClient  # noqa: E402
from tests.broker_fixture import ADMIN, HOMEASSISTANT, RunningBroker, start_test_broker  # noqa: E402

log = logging.getLogger("ha_check")
HERE = Path(__file__).resolve().parent
SETTLE = 3.0  # hub.migrate_settle, the default


def config(broker: RunningBroker, work: Path, mode: str, board: str) -> SparkConfig:
    node = {"id": "sim1", "kind": "simulated", "name": "Spark Sim", "state_interval": 3600,
            "seed": 1, "hardware_id": board}
    return broker.spark_config(nodes=[node], hub={
        "discovery_mode": mode, "site": "lab", "identity_file": str(work / "identity.json"),
        "migrate_settle": SETTLE})


async def run(args: argparse.Namespace) -> tuple[Report, dict[str, Any]]:
    report = Report(discovery_mode="entity->device->entity")
    work = make_workdir(args.workdir)
    broker = start_test_broker(work / "broker")
    ha = HomeAssistant(Path(args.hass), work / "ha", broker.port, broker.passwords[HOMEASSISTANT])
    traffic: list[tuple[float, str, str]] = []  # (time, topic, payload) as HA got them
    record: dict[str, Any] = {"scenarios": {}}
    hub_run: Running | None = None
    sim_run: Running | None = None

    def observe(msg: Message) -> None:
        if (msg.topic.startswith("homeassistant/") and msg.topic.endswith("/config")) \
                or msg.topic.endswith("/availability"):
            traffic.append((time.monotonic(), msg.topic, msg.payload.decode(errors="replace")))

    async def start(mode: str, board: str) -> None:
        nonlocal hub_run, sim_run
        cfg = config(broker, work, mode, board)
        node = cfg.node("sim1")
        secret = node.password.get_secret_value() if node.password else None
        hub_run = Running(lambda: build_hub(cfg, password=broker.passwords["hub"],
                                            announce_delay=(0.5, 1.5)), "hub")
        sim_run = Running(lambda: make_agent(cfg, node, secret, announce_delay=(0.5, 1.5)),
                          "sim1")
        await hub_run.start()
        await sim_run.start()

    async def stop() -> None:
        for r in (sim_run, hub_run):
            if r is not None:
                await r.stop()

    def ours() -> list[str]:
        assert sim_run is not None and hub_run is not None
        agents = [a for a in (sim_run.agent, hub_run.agent) if isinstance(a, NodeAgent)]
        hub_agent = getattr(hub_run.agent, "agent", None)
        if isinstance(hub_agent, NodeAgent):
            agents.append(hub_agent)
        return sorted(f"{e.platform}.{a.node_id}_{k}".replace("-", "_")
                      for a in agents for k, e in a.entities.items() if e.enabled_by_default)

    async def check_states(name: str, want: list[str], timeout: float = 30) -> None:
        async def fine() -> bool:
            states = await ha.states()
            return all(e in states and states[e]["state"] != "unavailable" for e in want)
        try:
            await wait_for(fine, timeout, what=name)
            ok, detail = True, f"{len(want)} entities"
        except TimeoutError:
            states = await ha.states()
            bad = {e: states.get(e, {}).get("state", "<missing>") for e in want
                   if states.get(e, {}).get("state", "unavailable") == "unavailable"}
            ok, detail = False, f"{len(bad)} missing/unavailable: {dict(list(bad.items())[:8])}"
        dups = sorted(e for e in (await ha.states()) if re.search(r"_\d+$", e)
                      and re.sub(r"_\d+$", "", e) in want)
        report.check(f"{name}: every entity kept, available", ok, detail)
        report.check(f"{name}: no _2 duplicates", not dups, ", ".join(dups))
        record["scenarios"][name] = {"t": time.monotonic(), "states": len(want), "ok": ok,
                                     "duplicates": dups}

    async def gone(name: str, want: list[str]) -> None:
        """HA before 2024.11: device-based configs are not read, so the switch removes them."""
        states = await ha.states()
        there = [e for e in want if e in states]
        report.check(f"{name}: HA {report.ha_version} removed them (no device-based discovery)",
                     not there, ", ".join(there[:8]))
        record["scenarios"][name] = {"t": time.monotonic(), "states": 0, "ok": True,
                                     "duplicates": [], "removed": len(want) - len(there)}

    async def moved(mode: str, board: str, name: str, kept: bool = True) -> None:
        last = {t: p for _, t, p in traffic}
        old = {t for t, p in last.items() if p and t.endswith("/config")
               and ("/sim1/" in t or "/hub/" in t)}
        await stop()
        n = len(traffic)
        await start(mode, board)
        old_topics = {t for t in old if ("/device/" in t) != (mode == "device")}
        if old_topics:
            async def cleared() -> bool:
                return all(any(t == o and not p for _, t, p in traffic[n:]) for o in old_topics)
            await wait_for(cleared, 30, what="old discovery topics cleared")
        await asyncio.sleep(3)
        await (check_states(name, ours()) if kept else gone(name, ours()))

    try:
        async with MqttClient(broker.mqtt_config(ADMIN), "ha-scenarios-observer",
                              username=ADMIN, password=broker.passwords[ADMIN]) as observer:
            observer.subscribe("homeassistant/#", observe, 1)
            observer.subscribe("spark/+/availability", observe, 1)
            await observer.wait_connected(10)
            ha.prepare()
            ha.start()
            await wait_for(ha.api_up, args.ha_timeout, step=2, what="HA's REST API")
            report.ha_version = await ha.version()
            log.info("Home Assistant %s is up", report.ha_version)
            await start("entity", "10000000aaaa1111")
            # the first start loads the MQTT integration (and may pip-install paho-mqtt)
            await check_states("entity mode", ours(), timeout=args.ha_timeout)
            modern = tuple(int(x) for x in report.ha_version.split(".")[:2]) >= (2024, 11)
            await moved("device", "10000000aaaa1111", "switched to device mode", kept=modern)
            await moved("entity", "10000000aaaa1111", "switched back to entity mode")
            await moved("entity", "10000000bbbb2222", "board replaced")
            assert hub_run is not None and sim_run is not None
            await hub_run.stop()
            sim = sim_run.agent
            assert isinstance(sim, NodeAgent)
            want = not sim.state("lamp")
            await asyncio.sleep(2)
            states = await ha.states()
            sim_ids = [e for e in ours() if ".sim1_" in e]
            down = [e for e in sim_ids if states.get(e, {}).get("state") == "unavailable"]
            report.check("hub down: sim1's entities stay available", not down, ", ".join(down))
            await ha.call("switch", "turn_on" if want else "turn_off",
                          {"entity_id": "switch.sim1_lamp"})
            try:
                await wait_for(lambda: _true(sim.state("lamp") is want), 10, what="lamp")
                report.check("hub down: switch.turn_on/off from HA reaches the node", True)
            except TimeoutError as exc:
                report.check("hub down: switch.turn_on/off from HA reaches the node", False,
                             str(exc))
            await hub_run.start()
            ha.stop()
            registry = ha.storage("core.entity_registry") or {"entities": []}
            got = {e["unique_id"]: e["entity_id"] for e in registry["entities"]
                   if e["platform"] == "mqtt"}
            model = Recorded(".".join(report.ha_version.split(".")[:2]))
            for _, topic, payload in traffic:
                model.receive(topic, payload.encode())
            predicted = {uid: eid for (_, uid), eid in model.registry.items()}
            same = all(predicted.get(uid) == eid for uid, eid in got.items())
            report.check("recorded.py predicts HA's entity registry from the same traffic", same,
                         "" if same else str({u: (e, predicted.get(u)) for u, e in got.items()
                                              if predicted.get(u) != e})[:600])
            record.update(ha_version=report.ha_version, registry=got,
                          traffic=[[t, p] for _, t, p in traffic])
    finally:
        ha.stop()
        with contextlib.suppress(Exception):
            await stop()
        broker.process.stop_blocking()
        logs = ha.log_path.read_text(errors="replace") if ha.log_path.exists() else ""
        record["log"] = [line[:300] for line in logs.splitlines()
                         if re.search(r"Migration to MQTT|Rollback to MQTT|conflicting|"
                                      r"not supported|when processing MQTT discovery|"
                                      r"Removing component", line)]
        if not args.keep and report.ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            report.notes.append(f"work dir: {work}")
    return report, record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hass", required=True)
    parser.add_argument("--workdir")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--ha-timeout", type=float, default=600.0)
    parser.add_argument("--record", help="write traffic and HA's registry here ('auto': "
                        "recorded/ha-<version>.json beside this file)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report, record = asyncio.run(run(args))
    for c in report.checks:
        print(f"[{'PASS' if c['ok'] else 'FAIL'}] {c['check']} {c['detail']}")
    for n in report.notes:
        print(f"note: {n}")
    if args.record and record.get("registry") is not None:
        out = Path(args.record) if args.record != "auto" \
            else HERE / "recorded" / f"ha-{report.ha_version}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"recorded: {out}")
    ok = all(c["ok"] for c in report.checks)
    print(f"RESULT: {'OK' if ok else 'PROBLEMS FOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
