"""What the check compares: our published discovery configs (flattened), HA's states and
registries against them, and HA's log lines about our payloads; the report it all goes into."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ha_process import HomeAssistant

log = logging.getLogger("ha_check")


ABBREVIATIONS = {  # the few we might meet if a payload ever switches to short keys
    "uniq_id": "unique_id", "dev_cla": "device_class", "stat_cla": "state_class",
    "unit_of_meas": "unit_of_measurement", "ent_cat": "entity_category", "dev": "device",
    "cmps": "components", "p": "platform", "o": "origin",
}


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    return {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}


@dataclass
class Report:
    ha_version: str = "?"
    discovery_mode: str = "entity"
    published: int = 0
    published_enabled: int = 0
    found_states: int = 0
    found_registry: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    log_about_us: list[str] = field(default_factory=list)
    log_other: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": name, "ok": ok, "detail": detail})
        mark = "PASS" if ok else "FAIL"
        log.info("[%s] %s%s", mark, name, f" - {detail}" if detail else "")
        return ok

    def mismatch(self, text: str) -> None:
        self.mismatches.append(text)
        log.warning("MISMATCH %s", text)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks) and not self.mismatches and not self.log_about_us


@dataclass
class Published:
    """One entity as we announced it (flattened for device-based configs)."""

    topic: str
    platform: str
    node: str
    key: str
    config: dict[str, Any]

    @property
    def unique_id(self) -> str:
        return str(self.config["unique_id"])

    @property
    def entity_id(self) -> str:
        # HA 2024.x-2025.x: object_id sets the entity id; default_entity_id from 2025.10.
        return f"{self.platform}.{self.config['object_id']}"

    @property
    def enabled(self) -> bool:
        return self.config.get("enabled_by_default", True) is not False

    @property
    def device(self) -> dict[str, Any]:
        return self.config.get("device") or {}


def flatten(configs: dict[str, bytes]) -> list[Published]:
    out: list[Published] = []
    for topic, raw in sorted(configs.items()):
        if not raw:
            continue
        parts = topic.split("/")
        payload = normalize(json.loads(raw))
        if parts[1] == "device":
            shared = {k: v for k, v in payload.items() if k != "components"}
            for key, cmp in (payload.get("components") or {}).items():
                cmp = normalize(cmp)
                if set(cmp) <= {"platform"}:
                    continue  # a removal marker
                out.append(Published(topic, cmp["platform"], parts[2], key, {**shared, **cmp}))
        else:
            out.append(Published(topic, parts[1], parts[2], parts[3], payload))
    return out


def expected_attributes(p: Published, device_name: str) -> dict[str, Any]:
    cfg = p.config
    want: dict[str, Any] = {}
    name = cfg.get("name")
    want["friendly_name"] = device_name if name is None else f"{device_name} {name}"
    for key in ("device_class", "icon"):
        if cfg.get(key):
            want[key] = cfg[key]
    if p.platform in ("sensor", "number") and cfg.get("unit_of_measurement"):
        want["unit_of_measurement"] = cfg["unit_of_measurement"]
    if p.platform == "sensor" and cfg.get("state_class"):
        want["state_class"] = cfg["state_class"]
    if p.platform in ("select",) or (p.platform == "sensor" and cfg.get("options")):
        want["options"] = cfg["options"]
    if p.platform == "number":
        for key in ("min", "max", "step", "mode"):
            if key in cfg:
                want[key] = cfg[key]
    if p.platform == "event":
        want["event_types"] = cfg["event_types"]
    return want


def ha_version_tuple(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def compare_states(report: Report, published: list[Published],
                   states: dict[str, dict[str, Any]]) -> None:
    # MQTT sensors read `options` (enum sensors) only from HA 2024.9 (core PR #123248); before
    # that the key is dropped silently and the enum sensor has no options attribute.
    sensor_options = ha_version_tuple(report.ha_version) >= (2024, 9)
    skipped_options: list[str] = []
    for p in published:
        if not p.enabled:
            continue
        st = states.get(p.entity_id)
        if st is None:
            report.mismatch(f"{p.entity_id}: published on {p.topic} but not in HA's states")
            continue
        if st["state"] == "unavailable":
            report.mismatch(f"{p.entity_id}: unavailable while its node and the hub are online")
        attrs = st["attributes"]
        for key, want in expected_attributes(p, p.device.get("name", "")).items():
            got = attrs.get(key)
            if p.platform == "sensor" and key == "options" and not sensor_options:
                if got is None:
                    skipped_options.append(p.entity_id)
                    continue
            if isinstance(want, float | int) and isinstance(got, float | int):
                same = float(want) == float(got)
            else:
                same = got == want
            if not same:
                report.mismatch(f"{p.entity_id}: attribute {key} is {got!r}, published {want!r}")
    if skipped_options:
        report.notes.append(
            f"HA {report.ha_version} predates MQTT sensor `options` (2024.9): enum sensors "
            f"{', '.join(skipped_options)} work but show no options attribute (HA version limit)")


def compare_registries(report: Report, published: list[Published], ha: HomeAssistant,
                       hub_identifier: str) -> None:
    ent_data, dev_data = ha.storage("core.entity_registry"), ha.storage("core.device_registry")
    if not report.check("HA wrote its entity and device registries",
                        ent_data is not None and dev_data is not None,
                        "" if ent_data else "no .storage/core.entity_registry: no entity "
                        "was registered"):
        return
    assert ent_data is not None and dev_data is not None
    entities = ent_data["entities"]
    devices = {d["id"]: d for d in dev_data["devices"]}
    by_uid = {(e["platform"], e["unique_id"]): e for e in entities}
    mqtt_entities = [e for e in entities if e["platform"] == "mqtt"]
    report.found_registry = len(mqtt_entities)
    ours = {p.unique_id for p in published}
    extra = [e["entity_id"] for e in mqtt_entities if e["unique_id"] not in ours]
    report.check("no MQTT entities in HA's registry beyond those published", not extra,
                 ", ".join(extra))

    def device_by_identifier(ident: str) -> dict[str, Any] | None:
        for d in devices.values():
            if ["mqtt", ident] in d.get("identifiers", []):
                return d
        return None

    hub_dev = device_by_identifier(hub_identifier)
    report.check("hub device is in HA's device registry", hub_dev is not None, hub_identifier)
    for p in published:
        e = by_uid.get(("mqtt", p.unique_id))
        if e is None:
            report.mismatch(f"{p.entity_id}: unique_id {p.unique_id} not in HA's entity registry")
            continue
        if e["entity_id"] != p.entity_id:
            report.mismatch(f"{p.unique_id}: entity id {e['entity_id']}, expected {p.entity_id}")
        want_cat = p.config.get("entity_category")
        if e.get("entity_category") != want_cat:
            report.mismatch(f"{p.entity_id}: entity_category {e.get('entity_category')!r}, "
                            f"published {want_cat!r}")
        if e.get("original_device_class") != p.config.get("device_class"):
            report.mismatch(f"{p.entity_id}: device_class {e.get('original_device_class')!r}, "
                            f"published {p.config.get('device_class')!r}")
        if p.platform == "sensor":
            want_unit = p.config.get("unit_of_measurement")
            if e.get("unit_of_measurement") != want_unit:
                report.mismatch(f"{p.entity_id}: unit {e.get('unit_of_measurement')!r}, "
                                f"published {want_unit!r}")
            sc = (e.get("capabilities") or {}).get("state_class")
            if sc != p.config.get("state_class"):
                report.mismatch(f"{p.entity_id}: state_class {sc!r}, "
                                f"published {p.config.get('state_class')!r}")
        if e.get("original_name") != p.config.get("name"):
            report.mismatch(f"{p.entity_id}: name {e.get('original_name')!r}, "
                            f"published {p.config.get('name')!r}")
        if not e.get("has_entity_name"):
            report.mismatch(f"{p.entity_id}: has_entity_name is false")
        want_disabled = None if p.enabled else "integration"
        if e.get("disabled_by") != want_disabled:
            report.mismatch(f"{p.entity_id}: disabled_by {e.get('disabled_by')!r}, "
                            f"expected {want_disabled!r}")
        dev = devices.get(e.get("device_id") or "")
        if dev is None:
            report.mismatch(f"{p.entity_id}: no device in HA")
            continue
        pd = p.device
        for ident in pd.get("identifiers", []):
            if ["mqtt", ident] not in dev["identifiers"]:
                report.mismatch(f"{p.entity_id}: device identifiers {dev['identifiers']}, "
                                f"published {ident!r}")
        for key in ("name", "manufacturer", "model", "sw_version", "hw_version",
                    "serial_number"):
            if key in pd and dev.get(key) != pd[key]:
                report.mismatch(f"{p.entity_id}: device {key} {dev.get(key)!r}, "
                                f"published {pd[key]!r}")
        if pd.get("suggested_area"):
            area = re.sub(r"[^a-z0-9]+", "_", pd["suggested_area"].lower()).strip("_")
            if dev.get("area_id") != area:
                report.mismatch(f"{p.entity_id}: device area {dev.get('area_id')!r}, "
                                f"suggested {pd['suggested_area']!r}")
        via = pd.get("via_device")
        if via:
            via_dev = device_by_identifier(via)
            if via_dev is None or dev.get("via_device_id") != via_dev["id"]:
                report.mismatch(f"{p.entity_id}: device via_device_id {dev.get('via_device_id')}"
                                f", published via_device {via!r} (HA device "
                                f"{via_dev and via_dev['id']})")
        elif dev.get("via_device_id"):
            report.mismatch(f"{p.entity_id}: device has via_device_id but none published")


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (\w+) \(([^)]*)\) \[([^\]]+)\] (.*)")


def scan_log(report: Report, path: Path, node_ids: list[str]) -> list[str]:
    """Sort every WARNING/ERROR/CRITICAL record into 'about us' (MQTT or our topics / ids) or
    other; return the MQTT info lines too (discovery messages) for the record. HA rotates its
    log on each start (home-assistant.log.1 is the previous run), so every file is read."""
    info: list[str] = []
    paths = sorted((p for p in path.parent.glob(path.name + "*") if p.suffix != ".fault"),
                   key=lambda p: p.stat().st_mtime)
    if not paths:
        report.notes.append(f"no HA log at {path}")
        return info
    ours = re.compile(r"spark|prime|homeassistant/|" + "|".join(map(re.escape, node_ids)),
                      re.IGNORECASE)
    record: list[str] = []

    def flush() -> None:
        if not record:
            return
        m = LOG_LINE.match(record[0])
        if m:
            level, logger, msg = m.group(1), m.group(3), "\n".join(record)
            if level in ("WARNING", "ERROR", "CRITICAL"):
                about_us = logger.startswith("homeassistant.components.mqtt") or ours.search(msg)
                (report.log_about_us if about_us else report.log_other).append(msg[:3000])
            elif logger.startswith("homeassistant.components.mqtt"):
                info.append(record[0][:400])
        record.clear()

    for one in paths:
        for line in one.read_text(errors="replace").splitlines():
            if LOG_LINE.match(line):
                flush()
            record.append(line)
        flush()
    return info
