#!/usr/bin/env python3
"""Check Prime Spark's MQTT discovery against a real Home Assistant.

Starts a throwaway Mosquitto with the project's generated config, the hub and four nodes
(simulated, power, system, nas, all on simulated backends or captured fixtures), then a real
Home Assistant (``hass`` from a separate venv) pointed at that broker, and checks through HA's
REST API and its registries that every published entity exists with the right device, unit,
classes and category, that availability follows the nodes and the hub, that service calls reach
the node, and that HA logged nothing about our payloads. See README.md beside this file.

Run with the project's interpreter from the repository root:

    python tools/ha_check/run_check.py --hass /opt/ha2024/bin/hass
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from checks import Published, Report, compare_registries, compare_states, flatten, scan_log  # noqa: E402
from ha_process import HomeAssistant, free_port, wait_for  # noqa: E402

from spark.app.config.models import SparkConfig  # noqa: E402
from spark.app.runtime import build_hub, make_agent  # noqa: E402
from spark.core.agent.agent import NodeAgent  # noqa: E402
from spark.core.agent.discovery import hub_identifier  # noqa: E402
from spark.core.mqtt import Message, MqttClient  # noqa: E402
from spark.hub.app import Hub  # noqa: E402
from tests.broker_fixture import ADMIN, HOMEASSISTANT, RunningBroker, start_test_broker  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
log = logging.getLogger("ha_check")


class Running:
    """A hub or node agent running as a task in this process; stop() and start() again."""

    def __init__(self, make: Callable[[], NodeAgent | Hub], name: str) -> None:
        self.make = make
        self.name = name
        self.agent: NodeAgent | Hub | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> NodeAgent | Hub:
        self.agent = self.make()
        ready = asyncio.Event()
        self.task = asyncio.create_task(self.agent.run(ready), name=f"ha-check-{self.name}")
        async with asyncio.timeout(20):
            await ready.wait()
        return self.agent

    async def stop(self) -> None:
        if self.agent is not None and self.task is not None:
            self.agent.stop()
            await self.task
        self.agent = self.task = None


def spark_config(broker: RunningBroker, work: Path, mode: str) -> SparkConfig:
    backup_src = work / "backup-src"
    backup_src.mkdir(exist_ok=True)
    (backup_src / "hub.db").write_text("prime spark\n")
    nodes = [
        {"id": "sim1", "kind": "simulated", "name": "Spark Sim", "area": "Lab",
         "state_interval": 2.0, "seed": 1},
        {"id": "power", "kind": "power", "state_interval": 2.0},
        {"id": "system", "kind": "system", "state_interval": 2.0,
         "thermal_root": str(FIXTURES / "system" / "thermal_pi5"),
         "commands": {
             "throttled": ["cat", str(FIXTURES / "system" / "vcgencmd_throttled_past.txt")],
             "wireguard": ["cat", str(FIXTURES / "system" / "wg_show_all_dump.txt")],
             "hailo_identify": ["cat", str(FIXTURES / "system" / "hailortcli_identify.txt")],
         }},
        {"id": "nas", "kind": "nas", "state_interval": 2.0, "smart_interval": 3.0,
         "backend": {"type": "simulated", "seed": 3},
         "exports": [{"name": "media", "host": "127.0.0.1", "port": free_port(),
                      "timeout": 0.5}],
         "backup": {"sources": [str(backup_src)], "target": str(work / "backup-target"),
                    "interval_hours": None}},
    ]
    return broker.spark_config(nodes=nodes, hub={"discovery_mode": mode})


# ---- the run --------------------------------------------------------------------------------
def make_workdir(given: str | None) -> Path:
    work = Path(given or tempfile.mkdtemp(prefix="ha_check_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return work


async def run(args: argparse.Namespace) -> Report:
    # HA runs in its own session (a Ctrl-C must not reach it before we stop it cleanly): make
    # SIGTERM/SIGHUP unwind through the finally blocks below so HA and Mosquitto are stopped.
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, main_task.cancel)
    report = Report(discovery_mode=args.discovery_mode)
    work = make_workdir(args.workdir)
    log.info("work dir %s", work)
    broker = start_test_broker(work / "broker")
    log.info("mosquitto on 127.0.0.1:%s (project config and ACLs)", broker.port)
    cfg = spark_config(broker, work, args.discovery_mode)
    layout = cfg.mqtt.layout()
    hub_password = broker.passwords["hub"]
    fast = (0.5, 1.5)

    def make_hub() -> Hub:
        return build_hub(cfg, password=hub_password, announce_delay=fast)

    def maker(node_id: str) -> Callable[[], NodeAgent]:
        node_cfg = cfg.node(node_id)
        secret = node_cfg.password.get_secret_value() if node_cfg.password else None
        return lambda: make_agent(cfg, node_cfg, secret, announce_delay=fast)

    node_ids = [n.id for n in cfg.nodes]
    hub_run = Running(make_hub, "hub")
    nodes = {nid: Running(maker(nid), nid) for nid in node_ids}
    ha = HomeAssistant(Path(args.hass), work / "ha", broker.port, broker.passwords[HOMEASSISTANT])
    configs: dict[str, bytes] = {}
    config_times: list[float] = []
    ha_events: list[tuple[float, bytes]] = []

    def on_config(msg: Message) -> None:
        if layout.parse_discovery(msg.topic) is None:
            return  # homeassistant/status and anything else under the prefix
        configs[msg.topic] = msg.payload
        config_times.append(time.monotonic())

    def on_ha_status(msg: Message) -> None:
        ha_events.append((time.monotonic(), msg.payload))

    try:
        async with MqttClient(cfg.mqtt, "ha-check-observer", username=ADMIN,
                              password=broker.passwords[ADMIN]) as observer:
            observer.subscribe(layout.all_discovery(), on_config, 1)
            observer.subscribe(layout.ha_status(), on_ha_status, 1)
            await observer.wait_connected(10)
            await hub_run.start()
            for r in nodes.values():
                await r.start()

            # Let the system/NAS nodes add their run-time entities, until configs settle.
            async def settled() -> bool:
                before = dict(configs)
                await asyncio.sleep(4)
                return bool(configs) and before == configs
            await wait_for(settled, 60, step=0, what="discovery configs to settle")
            published = flatten(configs)
            (work / "published-configs.json").write_text(json.dumps(
                {t: json.loads(v) for t, v in sorted(configs.items()) if v}, indent=1))
            report.published = len(published)
            report.published_enabled = sum(p.enabled for p in published)
            per_node = {n: sum(p.node == n for p in published) for n in ["hub", *node_ids]}
            log.info("published %d entities (%s)", len(published), per_node)
            dup = {p.unique_id for p in published
                   if sum(q.unique_id == p.unique_id for q in published) > 1}
            report.check("unique_ids are unique", not dup, ", ".join(sorted(dup)))

            ha.prepare()
            ha.start()
            await wait_for(ha.api_up, args.ha_timeout, step=2, what="HA's REST API")
            report.ha_version = await ha.version()
            log.info("Home Assistant %s is up", report.ha_version)
            want = {p.entity_id for p in published if p.enabled}

            async def all_discovered() -> bool:
                states = await ha.states()
                missing = want - set(states)
                if missing:
                    log.info("waiting for %d/%d entities in HA", len(missing), len(want))
                return not missing
            try:
                await wait_for(all_discovered, args.ha_timeout, step=3,
                               what="every published entity in HA")
            except TimeoutError as exc:
                report.notes.append(str(exc))
            await asyncio.sleep(3)  # retained states land right after the configs
            states = await ha.states()
            mqtt_states = {k: v for k, v in states.items() if k in want}
            report.found_states = len(mqtt_states)
            report.check("every enabled published entity is in HA's states",
                         len(mqtt_states) == len(want),
                         f"{len(mqtt_states)}/{len(want)}")
            compare_states(report, published, states)
            if not mqtt_states:
                report.notes.append("HA created none of our entities: skipped the service and "
                                    "availability checks (see the HA log lines above)")
            # HA >= 2024.x sends its birth once it has started, possibly after the API is up.
            async def birth() -> float | None:
                return next((t for t, p in ha_events if p == b"online"), None)
            try:
                born = await wait_for(birth, 60, what="HA's birth message")
                report.check("HA sent its birth message (homeassistant/status online)", True)

                async def reannounced() -> bool:
                    return sum(t > born for t in config_times) >= len(configs)
                try:
                    await wait_for(reannounced, 15, what="discovery re-sent after HA's birth")
                    report.check("nodes re-sent every discovery config after HA's birth", True,
                                 f"{sum(t > born for t in config_times)} configs")
                except TimeoutError as exc:
                    report.check("nodes re-sent every discovery config after HA's birth", False,
                                 f"{exc}: {sum(t > born for t in config_times)}/{len(configs)}")
            except TimeoutError as exc:
                report.check("HA sent its birth message (homeassistant/status online)", False,
                             str(exc))

            if mqtt_states:
                await service_checks(report, ha, nodes["sim1"])
                await availability_checks(report, ha, published, nodes, hub_run)

            # Stop HA: flushes the entity/device registries to .storage.
            rc = ha.stop()
            log.info("Home Assistant stopped (exit %s)", rc)
            compare_registries(report, published, ha, hub_identifier(cfg.hub.id))

            if args.restart_check:
                await restart_check(report, ha, published, args.ha_timeout)
    finally:
        ha.stop()
        for r in [*nodes.values(), hub_run]:
            with contextlib.suppress(Exception):
                await r.stop()
        broker.process.stop_blocking()
        info = scan_log(report, ha.log_path, node_ids)
        (work / "mqtt-info-lines.txt").write_text("\n".join(info) + "\n")
        report.notes.append(f"work dir (HA config, log, storage): {work}")
        if not args.keep and report.ok:
            shutil.rmtree(work, ignore_errors=True)
            report.notes[-1] += " (removed; use --keep to keep it)"
    return report


async def service_checks(report: Report, ha: HomeAssistant, sim: Running) -> None:
    agent = sim.agent
    assert agent is not None

    async def ha_state_is(entity_id: str, want: str) -> bool:
        st = await ha.state(entity_id)
        return st is not None and st["state"] == want

    async def both(name: str, call: Awaitable[Any], entity_id: str, key: str, node_value: Any,
                   ha_value: str) -> None:
        await call
        try:
            await wait_for(lambda: _true(agent.state(key) == node_value), 10,
                           what=f"node state {key}")
            await wait_for(lambda: ha_state_is(entity_id, ha_value), 10,
                           what=f"HA state {entity_id}")
            report.check(name, True, f"node {key}={agent.state(key)!r}, HA {ha_value!r}")
        except TimeoutError as exc:
            st = await ha.state(entity_id)
            report.check(name, False, f"{exc}; node {key}={agent.state(key)!r}, "
                                      f"HA {st and st['state']!r}")

    await both("switch.turn_on reaches the node", ha.call("switch", "turn_on",
               {"entity_id": "switch.sim1_lamp"}), "switch.sim1_lamp", "lamp", True, "on")
    await both("switch.turn_off reaches the node", ha.call("switch", "turn_off",
               {"entity_id": "switch.sim1_lamp"}), "switch.sim1_lamp", "lamp", False, "off")
    await both("select.select_option reaches the node", ha.call(
        "select", "select_option", {"entity_id": "select.sim1_mode", "option": "eco"}),
        "select.sim1_mode", "mode", "eco", "eco")
    await both("number.set_value reaches the node", ha.call(
        "number", "set_value", {"entity_id": "number.sim1_setpoint", "value": 22.5}),
        "number.sim1_setpoint", "setpoint", 22.5, "22.5")

    before = await ha.state("event.sim1_doorbell")
    await ha.call("button", "press", {"entity_id": "button.sim1_identify"})

    async def event_fired() -> bool:
        st = await ha.state("event.sim1_doorbell")
        return bool(st and st["state"] != (before or {}).get("state")
                    and st["attributes"].get("event_type") == "press")
    try:
        await wait_for(event_fired, 10, what="doorbell event after identify")
        st = await ha.state("event.sim1_doorbell")
        report.check("button.press reaches the node (its event reaches HA)", True,
                     f"event attributes {st and st['attributes']}")
    except TimeoutError as exc:
        report.check("button.press reaches the node (its event reaches HA)", False, str(exc))

    # The image entity: HA fetched the PNG the node published on image_topic.
    st = await ha.state("image.sim1_snapshot")
    pic = (st or {}).get("attributes", {}).get("entity_picture")
    ok, detail = False, f"state {st and st['state']!r}, entity_picture {pic!r}"
    if pic:
        try:
            body = await ha.api("GET", pic, raw=True)
            ok = body.startswith(b"\x89PNG")
            detail = f"{len(body)} bytes, PNG={ok}"
        except urllib.error.HTTPError as exc:
            detail = f"GET {pic}: HTTP {exc.code}"
    report.check("image entity serves the node's PNG", ok, detail)
    with contextlib.suppress(Exception):
        await ha.call("switch", "turn_off", {"entity_id": "switch.sim1_lamp"})


async def _true(value: bool) -> bool:
    return value


async def availability_checks(report: Report, ha: HomeAssistant, published: list[Published],
                              nodes: dict[str, Running], hub_run: Running) -> None:
    def ids(node: str | None = None) -> list[str]:
        return [p.entity_id for p in published if p.enabled and (node is None or p.node == node)]

    async def states_of(entity_ids: list[str]) -> dict[str, str]:
        states = await ha.states()
        return {e: states.get(e, {}).get("state", "<missing>") for e in entity_ids}

    async def check(name: str, entity_ids: list[str], unavailable: bool) -> None:
        def wrong(s: str) -> bool:  # a missing entity is wrong either way
            return s == "<missing>" or (s == "unavailable") != unavailable

        async def done() -> bool:
            got = await states_of(entity_ids)
            return not any(wrong(s) for s in got.values())
        try:
            await wait_for(done, 15, what=name)
            report.check(name, True, f"{len(entity_ids)} entities")
        except TimeoutError:
            got = await states_of(entity_ids)
            bad = {e: s for e, s in got.items() if wrong(s)}
            report.check(name, False, f"{len(bad)} wrong: {dict(list(bad.items())[:8])}")

    others = [e for e in ids() if e not in set(ids("sim1"))]
    await nodes["sim1"].stop()
    await check("sim1 stopped: its entities turn unavailable", ids("sim1"), True)
    await check("sim1 stopped: other nodes' entities stay available", others, False)
    await nodes["sim1"].start()
    await check("sim1 restarted: its entities are available again", ids("sim1"), False)

    await hub_run.stop()
    await check("hub stopped: the hub's entities turn unavailable", ids("hub"), True)
    await check("hub stopped: every node's entities stay available (only the node's own will "
                "gates them; hub.gate_availability is the opt-in)",
                [e for e in ids() if e not in set(ids("hub"))], False)
    sim = nodes["sim1"].agent
    assert sim is not None
    want = not sim.state("lamp")
    await ha.call("switch", "turn_on" if want else "turn_off", {"entity_id": "switch.sim1_lamp"})
    try:
        await wait_for(lambda: _true(sim.state("lamp") is want), 10, what="lamp")
        report.check("hub stopped: switch.turn_on/off from HA still reaches the node", True)
    except TimeoutError as exc:
        report.check("hub stopped: switch.turn_on/off from HA still reaches the node", False,
                     str(exc))
    await hub_run.start()
    await check("hub restarted: every entity is available again", ids(), False)


async def restart_check(report: Report, ha: HomeAssistant, published: list[Published],
                        timeout: float) -> None:
    """Restart HA: entities come back from the registry + retained configs, states return."""
    ha.start()
    await wait_for(ha.api_up, timeout, step=2, what="HA's REST API after restart")
    want = [p.entity_id for p in published if p.enabled]

    async def back() -> bool:
        states = await ha.states()
        return all(states.get(e, {}).get("state", "unavailable") != "unavailable" for e in want)
    try:
        await wait_for(back, 60, step=2, what="entities available after an HA restart")
        report.check("after an HA restart every entity is available with a state", True)
    except TimeoutError:
        states = await ha.states()
        bad = [e for e in want if states.get(e, {}).get("state", "unavailable") == "unavailable"]
        report.check("after an HA restart every entity is available with a state", False,
                     f"{len(bad)} unavailable: {bad[:8]}")
    ha.stop()


def print_report(report: Report) -> None:
    print()
    print(f"== Home Assistant {report.ha_version}, discovery mode {report.discovery_mode}")
    print(f"published entities: {report.published} ({report.published_enabled} enabled by "
          f"default); in HA states: {report.found_states}; MQTT entities in HA's entity "
          f"registry: {report.found_registry}")
    for c in report.checks:
        print(f"  [{'PASS' if c['ok'] else 'FAIL'}] {c['check']}"
              + (f" - {c['detail']}" if c["detail"] else ""))
    print(f"mismatches: {len(report.mismatches)}")
    for m in report.mismatches:
        print(f"  - {m}")
    print(f"HA log warnings/errors about MQTT or our payloads: {len(report.log_about_us)}")
    for line in report.log_about_us:
        print("  ! " + line.replace("\n", "\n    "))
    print(f"other HA log warnings/errors (not about us): {len(report.log_other)}")
    for line in report.log_other:
        print("  . " + line.splitlines()[0][:300])
    for n in report.notes:
        print(f"note: {n}")
    print(f"RESULT: {'OK' if report.ok else 'PROBLEMS FOUND'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hass", required=True, help="the hass executable of an HA venv")
    parser.add_argument("--discovery-mode", choices=["entity", "device"], default="entity")
    parser.add_argument("--workdir", help="where to put broker/HA files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    parser.add_argument("--ha-timeout", type=float, default=600.0,
                        help="seconds for HA to start (first start may pip-install paho-mqtt)")
    parser.add_argument("--no-restart-check", dest="restart_check", action="store_false",
                        help="skip restarting HA at the end")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not Path(args.hass).exists():
        parser.error(f"{args.hass} does not exist; see tools/ha_check/README.md")
    report = asyncio.run(run(args))
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report.__dict__, indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
