"""The power node: strategy rule, power-state message, config, and the agent on the real broker
(discovery payloads, grid cut, low-battery event, rejected commands, a failing backend)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import Recorder, wait_for
from lab import running_agent
from pydantic import ValidationError

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.core.errors import PayloadError
from spark.nodes.kinds import agent_class, node_config_model
from spark.nodes.power.agent import PowerNode
from spark.nodes.power.backends import PowerBackend, PowerReading
from spark.nodes.power.config import PowerNodeConfig
from spark.nodes.power.errors import BackendReadError, PowerError
from spark.nodes.power.messages import PowerState
from spark.nodes.power.settings import load_mode, save_mode
from spark.nodes.power.strategy import LowBatteryLatch, Thresholds, derive_strategy, is_low

NODE = "power"
SYSFS = Path(__file__).parent / "fixtures" / "power" / "sysfs"
T = Thresholds(low_battery_percent=20, hysteresis=5)


def reading(pct: float | None, source: str | None, charging: bool = False,
            lb: bool = False) -> PowerReading:
    return PowerReading(battery_percent=pct, source=source, charging=charging,  # type: ignore[arg-type]
                        low_battery=lb)


# ---- strategy ------------------------------------------------------------------------------
@pytest.mark.parametrize(("r", "mode", "expected"), [
    (reading(90, "grid", True), "auto", "edge-first"),
    (reading(10, "grid", True), "auto", "edge-first"),
    (None, "auto", "edge-first"),  # unknown counts as grid
    (reading(None, None), "auto", "edge-first"),
    (reading(80, "battery"), "auto", "cloud-first"),
    (reading(20, "battery"), "auto", "cloud-only"),  # at the threshold
    (reading(60, "battery", lb=True), "auto", "cloud-only"),  # hardware LB flag
    (reading(90, "grid", True), "off-grid", "cloud-first"),
    (reading(15, "grid", True), "off-grid", "cloud-only"),
    (None, "off-grid", "cloud-first"),
    (reading(5, "battery"), "on-grid", "edge-first"),  # the override wins
])
def test_derive_strategy_table(r: PowerReading | None, mode: Any, expected: str) -> None:
    assert derive_strategy(r, mode, T) == expected


def test_strategy_hysteresis_and_low_latch() -> None:
    assert derive_strategy(reading(23, "battery"), "auto", T, previous="cloud-only") == "cloud-only"
    assert derive_strategy(reading(25.5, "battery"), "auto", T, "cloud-only") == "cloud-first"
    assert derive_strategy(reading(23, "battery"), "auto", T, "cloud-first") == "cloud-first"
    assert is_low(reading(24, "battery"), T, was_low=True)
    assert not is_low(reading(24, "battery"), T, was_low=False)
    latch = LowBatteryLatch(T)
    seq = [(30, False), (21, False), (20, False), (12, False), (18, True), (24, True), (26, True),
           (19, True), (19, False), (10, False)]
    events = [latch.update(reading(p, "battery", c)) for p, c in seq]
    assert events == [None, None, "low_battery", None, None, None, "recovered",
                      None, "low_battery", None]
    assert latch.update(None) is None and latch.low


def test_power_state_message() -> None:
    state = PowerState(node=NODE, time=PowerState.now(), battery_percent=64.0, charging=False,
                       source="battery", mode="auto", strategy="cloud-first", low_battery=False,
                       time_to_empty_s=13524.0)
    back = PowerState.from_payload(state.to_payload())
    assert back == state
    newer = orjson.loads(state.to_payload()) | {"solar_w": 120}  # a newer node's extra field
    assert PowerState.from_payload(orjson.dumps(newer)) == state
    assert state.same_content(state.model_copy(update={"time": PowerState.now()}))
    assert not state.same_content(state.model_copy(update={"strategy": "edge-first"}))
    for bad in (b"{", b'{"node": "p"}', orjson.dumps(newer | {"strategy": "warp"})):
        with pytest.raises(PayloadError):
            PowerState.from_payload(bad)


def test_config_and_kind_registration() -> None:
    assert agent_class("power") is PowerNode and node_config_model("power") is PowerNodeConfig
    cfg = SparkConfig.model_validate({"nodes": [{"kind": "power", "id": "ups",
                                                 "backend": {"type": "nut", "ups": "eaton"}}]})
    node = cfg.node("ups")
    assert isinstance(node, PowerNodeConfig) and node.backend.type == "nut"
    assert node.state_interval == 10.0 and node.mode == "auto"
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        PowerNodeConfig.model_validate({"id": "p", "backend": {"type": "zigbee"}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PowerNodeConfig.model_validate({"id": "p", "backend": {"type": "sysfs", "path": "/x"}})
    with pytest.raises(ValidationError, match="can never clear"):
        PowerNodeConfig.model_validate({"id": "p", "low_battery_threshold": 96})


# ---- the agent on the real broker ----------------------------------------------------------
def spark(broker: Any, data_dir: Path, **node: Any) -> SparkConfig:
    """The node keeps its settings in ``data_dir``: one per test, never the repo's .spark/."""
    cfg: SparkConfig = broker.spark_config(
        nodes=[{"kind": "power", "id": NODE, "data_dir": str(data_dir), **node}])
    return cfg


@contextlib.asynccontextmanager
async def running(cfg: SparkConfig, broker: Any,
                  backend: PowerBackend | None = None) -> AsyncIterator[PowerNode]:
    node_cfg = cfg.node(NODE)
    agent = PowerNode(NodeContext(cfg.agent_settings(), node_cfg, password=broker.passwords[NODE],
                                  announce_delay=(0, 0.05)), backend=backend)
    async with running_agent(agent) as started:
        yield started


@pytest.fixture
def admin(broker: Any) -> Iterator[Recorder]:
    rec = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    rec.connect()
    try:
        yield rec
    finally:
        rec.close()


def live(rec: Recorder, topic: str) -> list[bytes]:
    """Payloads published while we watched (not retained leftovers of earlier tests)."""
    return [bytes(m.payload) for m in rec.received(topic) if not m.retain]


def power_states(rec: Recorder) -> list[PowerState]:
    return [PowerState.from_payload(p) for p in live(rec, f"spark/{NODE}/power")]


def events(rec: Recorder) -> list[dict[str, Any]]:
    return [orjson.loads(p) for p in live(rec, f"spark/{NODE}/low_battery/state")]


def state(rec: Recorder, key: str) -> bytes | None:
    got = live(rec, f"spark/{NODE}/{key}/state")
    return got[-1] if got else None


EXPECTED_DISCOVERY: dict[tuple[str, str], dict[str, Any]] = {
    # (platform, key): expected subset of the discovery payload
    ("sensor", "battery"): {"device_class": "battery", "unit_of_measurement": "%",
                            "state_class": "measurement"},
    ("sensor", "voltage"): {"device_class": "voltage", "unit_of_measurement": "V",
                            "state_class": "measurement"},
    ("sensor", "current"): {"device_class": "current", "unit_of_measurement": "A",
                            "state_class": "measurement"},
    ("sensor", "power_draw"): {"device_class": "power", "unit_of_measurement": "W",
                               "state_class": "measurement"},
    ("binary_sensor", "charging"): {"device_class": "battery_charging"},
    ("sensor", "power_source"): {"device_class": "enum", "options": ["grid", "battery"]},
    ("sensor", "time_to_empty"): {"device_class": "duration", "unit_of_measurement": "min",
                                  "state_class": "measurement"},
    ("select", "power_mode"): {"options": ["auto", "on-grid", "off-grid"],
                               "command_topic": f"spark/{NODE}/power_mode/set"},
    ("sensor", "strategy"): {"device_class": "enum"},
    ("event", "low_battery"): {"event_types": ["low_battery", "recovered"]},
    ("sensor", "backend"): {"entity_category": "diagnostic"},
    ("binary_sensor", "backend_problem"): {"device_class": "problem",
                                           "entity_category": "diagnostic"},
    ("switch", "grid"): {"command_topic": f"spark/{NODE}/grid/set"},
}


async def test_discovery_payloads(broker: Any, admin: Recorder, tmp_path: Path) -> None:
    admin.subscribe(f"homeassistant/+/{NODE}/+/config")
    async with running(spark(broker, tmp_path, backend={"type": "simulated"}), broker):
        def configs() -> dict[tuple[str, str], dict[str, Any]]:
            out = {}
            for m in admin.received(f"homeassistant/+/{NODE}/+/config"):
                if m.payload and not m.retain:
                    _, platform, _, key, _ = m.topic.split("/")
                    out[(platform, key)] = orjson.loads(m.payload)
            return out

        await wait_for(lambda: set(EXPECTED_DISCOVERY) <= set(configs()), 10, what="configs")
    got = configs()
    for ident, expected in EXPECTED_DISCOVERY.items():
        assert expected.items() <= got[ident].items(), ident
    for key in ("power_source", "strategy"):
        assert "unit_of_measurement" not in got[("sensor", key)]
        assert "state_class" not in got[("sensor", key)]
    assert got[("sensor", "battery")]["device"]["model"] == "Prime Spark power node (simulated)"


async def test_grid_cut_changes_source_charging_and_strategy(broker: Any, admin: Recorder,
                                                             tmp_path: Path) -> None:
    admin.subscribe(f"spark/{NODE}/#")
    cfg = spark(broker, tmp_path, state_interval=30,
                backend={"type": "simulated", "initial_percent": 70})
    async with running(cfg, broker) as agent:
        await wait_for(lambda: any(s.source == "grid" for s in power_states(admin)), 10,
                       what="first power state")
        first = power_states(admin)[-1]
        assert (first.charging, first.strategy, first.mode) == (True, "edge-first", "auto")
        assert agent.reads == 1  # the interval is 30 s: what follows comes from the commands
        admin.publish(f"spark/{NODE}/grid/set", "OFF")
        await wait_for(lambda: power_states(admin)[-1].source == "battery", 5, what="off grid")
        cut = power_states(admin)[-1]
        assert (cut.charging, cut.strategy, cut.low_battery) == (False, "cloud-first", False)
        await wait_for(lambda: state(admin, "power_source") == b"battery", 5)
        assert (state(admin, "charging"), state(admin, "grid")) == (b"OFF", b"OFF")
        assert float(state(admin, "current") or 0) < 0
        admin.publish(f"spark/{NODE}/grid/set", "ON")
        await wait_for(lambda: power_states(admin)[-1].strategy == "edge-first", 5)
        assert state(admin, "power_source") == b"grid" and state(admin, "charging") == b"ON"
        # the power-mode select forces the strategy; the message carries the mode
        admin.publish(f"spark/{NODE}/power_mode/set", "off-grid")
        await wait_for(lambda: power_states(admin)[-1].mode == "off-grid", 5)
        assert power_states(admin)[-1].strategy == "cloud-first"
        assert state(admin, "power_mode") == b"off-grid"
        assert state(admin, "strategy") == b"cloud-first"
        # a value outside the select's options is rejected on the response topic
        admin.publish(f"spark/{NODE}/power_mode/set", "turbo")
        await wait_for(lambda: bool(live(admin, f"spark/{NODE}/response/command")), 5)
        body = orjson.loads(live(admin, f"spark/{NODE}/response/command")[-1])
        assert (body["status"], body["entity"]) == ("error", "power_mode")
        assert "turbo" in body["error"] and "auto, on-grid, off-grid" in body["error"]
        assert agent.mode == "off-grid" and agent.commands_rejected == 1
    # the retained message stays for late readers
    late = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    late.connect()
    try:
        late.subscribe(f"spark/{NODE}/power")
        msg = await asyncio.to_thread(late.wait_topic, f"spark/{NODE}/power")
        assert msg.retain and PowerState.from_payload(bytes(msg.payload)).mode == "off-grid"
    finally:
        late.close()


async def test_low_battery_event_fires_once_at_threshold(broker: Any, admin: Recorder,
                                                         tmp_path: Path) -> None:
    admin.subscribe(f"spark/{NODE}/#")
    # 0.005 Wh = 18 J: at 6 W the pack loses 1 % every 30 ms; at 1 W it gains 1 % in 180 ms
    cfg = spark(broker, tmp_path, state_interval=0.05, low_battery_threshold=20,
                low_battery_hysteresis=5,
                backend={"type": "simulated", "capacity_wh": 0.005, "initial_percent": 30,
                         "load_w": 6, "load_noise_w": 0, "charge_w": 1})
    async with running(cfg, broker):
        await wait_for(lambda: bool(power_states(admin)), 10, what="first power state")
        admin.publish(f"spark/{NODE}/grid/set", "OFF")
        await wait_for(lambda: bool(events(admin)), 10, what="low_battery event")
        admin.publish(f"spark/{NODE}/grid/set", "ON")
        fired = events(admin)[0]
        assert fired["event_type"] == "low_battery" and fired["threshold"] == 20

        # It fires on the first reading at or below the threshold, however far apart the
        # readings are (a loaded machine reads less often, and the pack drains by wall time).
        def percents() -> list[float]:
            return [s.battery_percent for s in power_states(admin) if s.battery_percent is not None]

        at = round(fired["battery_percent"], 1)  # states carry one decimal
        await wait_for(lambda: at in percents(), 5, what="the state of the firing reading")
        pcts = percents()
        j = pcts.index(at)
        assert at <= 20 and j > 0 and all(p >= 20 for p in pcts[:j])
        low = [s for s in power_states(admin) if s.low_battery]
        assert low and low[0].strategy == "cloud-only" and low[0].source == "battery"
        await wait_for(lambda: len(events(admin)) >= 2, 15, what="recovered event")
        assert [e["event_type"] for e in events(admin)] == ["low_battery", "recovered"]
        await wait_for(lambda: not power_states(admin)[-1].low_battery, 5)
        assert power_states(admin)[-1].strategy == "edge-first"


class BrokenBackend(PowerBackend):
    """A backend whose device stopped answering (a real subclass, injected at the factory)."""

    type = "broken"

    async def read(self) -> PowerReading:
        raise BackendReadError("upsd: ERR DRIVER-NOT-CONNECTED")


async def test_failing_backend_keeps_the_node_up(broker: Any, admin: Recorder,
                                                 tmp_path: Path) -> None:
    admin.subscribe(f"spark/{NODE}/#", f"homeassistant/switch/{NODE}/grid/config")
    cfg = spark(broker, tmp_path, state_interval=0.05,
                backend={"type": "sysfs", "root": str(SYSFS / "laptop")})
    async with running(cfg, broker, backend=BrokenBackend(None)) as agent:
        await wait_for(lambda: state(admin, "backend_problem") == b"ON", 10)
        # The attributes are a message of their own: they may arrive just after the state.
        await wait_for(lambda: live(admin, f"spark/{NODE}/backend_problem/attributes"), 5)
        attrs = orjson.loads(live(admin, f"spark/{NODE}/backend_problem/attributes")[-1])
        assert "DRIVER-NOT-CONNECTED" in attrs["error"]
        await wait_for(lambda: bool(power_states(admin)), 5)
        assert power_states(admin)[-1].strategy == "edge-first"
        assert power_states(admin)[-1].source is None
        assert "grid" not in agent.entities  # only the simulated backend has a grid switch
        assert live(admin, f"spark/{NODE}/availability")[-1] == b"online"


async def test_sysfs_backend_node(broker: Any, admin: Recorder, tmp_path: Path) -> None:
    admin.subscribe(f"spark/{NODE}/#")
    cfg = spark(broker, tmp_path, backend={"type": "sysfs", "root": str(SYSFS / "laptop")})
    async with running(cfg, broker):
        await wait_for(lambda: bool(power_states(admin)), 10)
    s = power_states(admin)[-1]
    assert (s.battery_percent, s.source, s.charging, s.strategy) == \
        (64, "battery", False, "cloud-first")
    assert state(admin, "battery") == b"64.0" and state(admin, "backend") == b"sysfs BAT0"
    assert float(state(admin, "time_to_empty") or 0) == pytest.approx(32.81 / 8.734 * 60, 1e-3)


def watcher(broker: Any) -> Recorder:
    rec = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    rec.connect()
    rec.subscribe(f"spark/{NODE}/#")
    return rec


async def test_power_mode_survives_a_restart(broker: Any, admin: Recorder,
                                             tmp_path: Path) -> None:
    """The mode is a setting the node owns (a UPS keeps it in NVRAM): a restart comes back in
    the mode chosen at run time, unless the config's mode has been changed since."""
    admin.subscribe(f"spark/{NODE}/#")
    cfg = spark(broker, tmp_path, state_interval=30, backend={"type": "simulated"})
    async with running(cfg, broker):
        await wait_for(lambda: bool(power_states(admin)), 10, what="first power state")
        admin.publish(f"spark/{NODE}/power_mode/set", "off-grid")
        await wait_for(lambda: state(admin, "power_mode") == b"off-grid", 5, what="off-grid")
    with watcher(broker) as rec:  # live() skips what the broker kept from the first run
        async with running(cfg, broker) as agent:
            await wait_for(lambda: bool(power_states(rec)), 10, what="state after restart")
            assert agent.mode == "off-grid"
            assert live(rec, f"spark/{NODE}/power_mode/state") == [b"off-grid"]
            assert (power_states(rec)[0].mode, power_states(rec)[0].strategy) == \
                ("off-grid", "cloud-first")
    # an edited config is the newer decision
    edited = spark(broker, tmp_path, state_interval=30, mode="on-grid",
                   backend={"type": "simulated"})
    with watcher(broker) as rec:
        async with running(edited, broker) as agent:
            await wait_for(lambda: bool(power_states(rec)), 10, what="state, edited config")
            assert agent.mode == "on-grid" and power_states(rec)[0].mode == "on-grid"


def test_power_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "nodes" / f"{NODE}.json"
    assert load_mode(path, "on-grid") == "on-grid"  # none yet: the config's mode
    save_mode(path, "off-grid", "auto")
    assert load_mode(path, "auto") == "off-grid" and load_mode(path, "on-grid") == "on-grid"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    path.write_text("{not json")  # unreadable: logged, the config's mode, never a crash
    assert load_mode(path, "auto") == "auto"


async def test_a_mode_that_cannot_be_kept_is_refused(broker: Any, tmp_path: Path) -> None:
    """Switching to a mode a restart would silently lose is an error the caller sees."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = spark(broker, blocker, backend={"type": "simulated"})
    agent = PowerNode(NodeContext(cfg.agent_settings(), cfg.node(NODE)))
    with pytest.raises(PowerError, match="cannot keep the power mode in"):
        await agent._set_mode("off-grid")
    assert agent.mode == "auto"
