"""The recorded Home Assistant behaviour (``tools/ha_check/recorded.py``) against what a real
HA did: each ``tools/ha_check/recorded/ha-<version>.json`` holds the discovery and availability
traffic a real HA received in ``run_scenarios.py`` (mode switch both ways, a replaced board, the
hub down) and the entity registry and log lines HA made of it. Replaying the same traffic must
give the same registry and the same migration / conflict log lines, and no ``_2``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "tools" / "ha_check"
sys.path.insert(0, str(HERE))
from recorded import HomeAssistant  # noqa: E402

RECORDS = sorted((HERE / "recorded").glob("ha-*.json"))


def test_there_is_a_recording():
    assert RECORDS, "run tools/ha_check/run_scenarios.py --record auto against a real HA"


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_recorded_behaviour_matches_real_home_assistant(path: Path):
    rec = json.loads(path.read_text())
    version = ".".join(rec["ha_version"].split(".")[:2])
    ha = HomeAssistant(version)
    for topic, payload in rec["traffic"]:
        ha.receive(topic, payload.encode())
    predicted = {uid: eid for (_platform, uid), eid in ha.registry.items()}
    assert {u: predicted.get(u) for u in rec["registry"]} == rec["registry"]
    assert not ha.duplicates()
    assert not [e for e in rec["registry"].values() if re.search(r"_\d+$", e)]
    for name, outcome in rec["scenarios"].items():
        assert outcome["ok"] and not outcome["duplicates"], name

    def count(pattern: str, lines: list[str]) -> int:
        return sum(bool(re.search(pattern, line)) for line in lines)
    model_log = [m for _level, m in ha.log]
    assert count("Migration .*started", model_log) == count("Migration to MQTT", rec["log"])
    assert count("Rollback .*started", model_log) == count("Rollback to MQTT", rec["log"])
    assert count("conflicting", model_log) == count("conflicting", rec["log"])
    assert count("not supported", model_log) == count("not supported", rec["log"])
    invalid = "when processing MQTT discovery message"  # a config HA's schema refused
    assert count(invalid, model_log) == count(invalid, rec["log"])
    # only HA < 2024.11 loses entities (at the switch to device-based discovery)
    removed = sum(o.get("removed", 0) for o in rec["scenarios"].values())
    assert count("Removing component", model_log) == count("Removing component", rec["log"])
    assert count("Removing component", model_log) >= removed
