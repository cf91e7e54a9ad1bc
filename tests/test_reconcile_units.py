"""What a node decides from the discovery the broker retained for it (core.agent.reconcile) and
where it keeps an adopted identity (core.agent.identity), case by case. The same decisions
against a real Mosquitto and HA's recorded behaviour: tests/test_node_identity.py."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from spark.core.agent.identity import IdentityStore, prefix_of, prevailing, site_prefix
from spark.core.agent.reconcile import plan
from spark.core.topics import TopicLayout

LAYOUT = TopicLayout()
PREFIX = "spark_lab_nas"
PLATFORMS = {"disk_sda": "binary_sensor", "lamp": "switch"}
DEV = "homeassistant/device/nas/config"


def ent(platform: str, key: str, uid_prefix: str = PREFIX, **extra: object) -> tuple[str, bytes]:
    body = {"unique_id": f"{uid_prefix}_{key}", "state_topic": f"spark/nas/{key}/state", **extra}
    return f"homeassistant/{platform}/nas/{key}/config", orjson.dumps(body)


def device(cmps: dict[str, dict[str, object]], uid_prefix: str = PREFIX) -> tuple[str, bytes]:
    full = {k: ({"platform": c["platform"], "unique_id": f"{uid_prefix}_{k}", "state_topic": "x"}
                if c.get("live", True) else {"platform": c["platform"]})
            for k, c in cmps.items()}
    return DEV, orjson.dumps({"device": {"identifiers": ["x"]}, "origin": {"name": "o"},
                              "components": full})


MIGRATE = orjson.dumps({"migrate_discovery": True})
CASES = [
    # (name, mode, retained, expected fields)
    ("nothing retained", "entity", [], {}),
    ("our own configs, same mode", "entity",
     [ent("binary_sensor", "disk_sda"), ent("switch", "lamp")], {}),
    ("entity -> device: ours migrate", "device",
     [ent("binary_sensor", "disk_sda"), ent("switch", "lamp")],
     {"migrate_from": ["homeassistant/binary_sensor/nas/disk_sda/config",
                       "homeassistant/switch/nas/lamp/config"]}),
    ("entity mode, a dropped disk", "entity",
     [ent("binary_sensor", "disk_sda"), ent("binary_sensor", "disk_sdb")],
     {"ghosts": {"homeassistant/binary_sensor/nas/disk_sdb/config": "disk_sdb"},
      "dropped": ["disk_sdb"]}),
    ("entity mode, a key now on another platform", "entity", [ent("sensor", "lamp")],
     {"clear": ["homeassistant/sensor/nas/lamp/config"]}),
    ("a handshake cut short leaves a migrate payload", "entity",
     [("homeassistant/switch/nas/lamp/config", MIGRATE)],
     {"clear": ["homeassistant/switch/nas/lamp/config"]}),
    ("device mode, components dropped while down", "device",
     [device({"disk_sda": {"platform": "binary_sensor"}, "disk_sdb": {"platform": "binary_sensor"},
              "disk_sdc": {"platform": "binary_sensor", "live": False}})],
     {"removed": {"disk_sdb": "binary_sensor", "disk_sdc": "binary_sensor"},
      "dropped": ["disk_sdb"]}),
    ("device -> entity: rollback, dropped ones removed first", "entity",
     [device({"disk_sda": {"platform": "binary_sensor"},
              "disk_sdb": {"platform": "binary_sensor"}})],
     {"migrate_from": [DEV], "dropped": ["disk_sdb"], "before_markers": {"disk_sdb"}}),
    ("device -> entity: only markers left", "entity",
     [device({"disk_sdb": {"platform": "binary_sensor", "live": False}})], {"clear": [DEV]}),
    ("unreadable device config", "entity", [(DEV, b"{not json")], {"clear": [DEV]}),
    ("an earlier install's hardware-based ids are adopted", "entity",
     [ent("binary_sensor", "disk_sda", "spark_1000abcd_nas"),
      ent("switch", "lamp", "spark_1000abcd_nas")], {"adopt": "spark_1000abcd_nas"}),
    ("another node's ids are never adopted", "entity",
     [ent("switch", "lamp", "spark_1000abcd_power")], {}),
]


@pytest.mark.parametrize(("name", "mode", "retained", "want"), CASES, ids=[c[0] for c in CASES])
def test_plan(name, mode, retained, want):
    got = plan(LAYOUT, "nas", mode, PLATFORMS, PREFIX, dict(retained), may_adopt=True)
    assert got.adopt == want.get("adopt")
    assert sorted(got.migrate_from) == sorted(want.get("migrate_from", []))
    assert sorted(got.clear) == sorted(want.get("clear", []))
    assert got.ghosts == want.get("ghosts", {})
    assert got.removed == want.get("removed", {})
    assert sorted(got.dropped) == sorted(want.get("dropped", []))
    markers = set(want.get("before_markers", set()))
    if markers:
        (topic, body), = got.before
        cmps = orjson.loads(body)["components"]
        assert topic == DEV and {k for k, c in cmps.items() if set(c) == {"platform"}} == markers
    else:
        assert not got.before


def test_adoption_only_when_allowed():
    retained = dict([ent("switch", "lamp", "spark_1000abcd_nas")])
    assert plan(LAYOUT, "nas", "entity", PLATFORMS, PREFIX, retained, may_adopt=False).adopt is None


@pytest.mark.parametrize(("uid", "key", "want"), [
    ("spark_lab_nas_lamp", "lamp", "spark_lab_nas"),
    ("spark_10000000aaaa1111_Pi_5_cpu", "cpu", "spark_10000000aaaa1111_Pi_5"),
    ("zigbee_lamp", "lamp", None), ("spark_lab_nas_lamp", "other", None), (42, "lamp", None),
    ("spark_" + "x" * 300 + "_lamp", "lamp", None),
])
def test_prefix_of(uid, key, want):
    assert prefix_of(uid, key) == want


def test_prevailing_and_site_prefix():
    assert prevailing(["spark_a_nas", "spark_b_nas", "spark_b_nas", "spark_c_power"], "nas") \
        == "spark_b_nas"
    assert prevailing(["spark_c_power"], "nas") is None
    assert site_prefix("Lab-2", "pi-5") == "spark_lab_2_pi_5"


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"nodes": 3}',
                                     b'{"nodes": {"nas": "rm -rf /"}}', b"{" * 70_000])
def test_identity_file_that_is_not_ours_is_empty(tmp_path: Path, content: bytes):
    path = tmp_path / "spark.identity.json"
    path.write_bytes(content)
    assert IdentityStore(path).get("nas") is None


def test_identity_file_round_trip(tmp_path: Path):
    path = tmp_path / "conf" / "spark.identity.json"
    store = IdentityStore(path)
    assert store.get("nas") is None
    assert store.put("nas", "spark_1000abcd_nas") and store.put("sim1", "spark_1000abcd_sim1")
    assert IdentityStore(path).get("nas") == "spark_1000abcd_nas"
    assert orjson.loads(path.read_bytes())["nodes"] == {"nas": "spark_1000abcd_nas",
                                                        "sim1": "spark_1000abcd_sim1"}
    assert not IdentityStore(None).put("nas", "spark_x_nas")
