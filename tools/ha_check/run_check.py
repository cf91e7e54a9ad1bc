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
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import hub.config.models  # noqa: E402,F401 - first: the hub.config <-> nodes.kinds import cycle
from hub.app import Hub  # noqa: E402
from hub.config.models import SparkConfig  # noqa: E402
from hub.mqtt import Message, MqttClient  # noqa: E402
from nodes.base.agent import NodeAgent, NodeContext  # noqa: E402
from nodes.base.discovery import hub_identifier  # noqa: E402
from nodes.kinds import agent_class  # noqa: E402
from tests.broker_fixture import ADMIN, HOMEASSISTANT, RunningBroker, start_test_broker  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
log = logging.getLogger("ha_check")

ABBREVIATIONS = {  # the few we might meet if a payload ever switches to short keys
    "uniq_id": "unique_id", "dev_cla": "device_class", "stat_cla": "state_class",
    "unit_of_meas": "unit_of_measurement", "ent_cat": "entity_category", "dev": "device",
    "cmps": "components", "p": "platform", "o": "origin",
}


# ---- small helpers --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """The access token HA's auth issues for a refresh token (PyJWT HS256, stdlib only)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    return {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}


async def wait_for(pred: Callable[[], Awaitable[Any]], timeout: float, step: float = 0.5,
                   what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await pred()
        if last:
            return last
        await asyncio.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---- report ---------------------------------------------------------------------------------
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


# ---- Home Assistant process -----------------------------------------------------------------
class HomeAssistant:
    def __init__(self, hass: Path, config_dir: Path, broker_port: int, ha_password: str) -> None:
        self.hass = hass
        self.dir = config_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.broker_port = broker_port
        self.ha_password = ha_password
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.starts = 0

    # The config dir: minimal configuration.yaml, an admin user with a long-lived token and the
    # MQTT config entry, all written before the first start so no onboarding is needed.
    def prepare(self) -> None:
        storage = self.dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.dir / "configuration.yaml").write_text(
            "homeassistant:\n"
            "  name: Prime Spark check\n"
            "  latitude: 52.37\n  longitude: 4.89\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n"
            "http:\n"
            f"  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "api:\n"
            "logger:\n"
            "  default: warning\n"
            "  logs:\n"
            "    homeassistant.components.mqtt: info\n"
            "    homeassistant.setup: info\n"
            "    homeassistant.requirements: info\n"
            "    homeassistant.util.package: info\n"
        )
        now = datetime.now(UTC).isoformat()
        user_id, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
        expiration = 10 * 365 * 86400.0
        auth = {
            "version": 1, "minor_version": 1, "key": "auth",
            "data": {
                "users": [{"id": user_id, "group_ids": ["system-admin"], "is_owner": True,
                           "is_active": True, "name": "Spark check", "system_generated": False,
                           "local_only": False}],
                "groups": [{"id": "system-admin", "name": "Administrators"},
                           {"id": "system-users", "name": "Users"},
                           {"id": "system-read-only", "name": "Read Only"}],
                "credentials": [],
                "refresh_tokens": [{
                    "id": token_id, "user_id": user_id, "client_id": None,
                    "client_name": "ha_check", "client_icon": None,
                    "token_type": "long_lived_access_token", "created_at": now,
                    "access_token_expiration": expiration, "token": secrets.token_hex(64),
                    "jwt_key": jwt_key, "last_used_at": None, "last_used_ip": None,
                    "expire_at": None, "credential_id": None, "version": None,
                }],
            },
        }
        (storage / "auth").write_text(json.dumps(auth, indent=2))
        now_ts = int(time.time())
        self.token = hs256_jwt({"iss": token_id, "iat": now_ts, "exp": now_ts + int(expiration)},
                               jwt_key)
        # Storage minor version 1: every HA version migrates it forward (created_at, subentries..)
        entries = {
            "version": 1, "minor_version": 1, "key": "core.config_entries",
            "data": {"entries": [{
                "entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 1,
                "domain": "mqtt", "title": "Prime Spark broker", "source": "user",
                "unique_id": None, "disabled_by": None, "options": {},
                "pref_disable_new_entities": False, "pref_disable_polling": False,
                "data": {"broker": "127.0.0.1", "port": self.broker_port,
                         "username": HOMEASSISTANT, "password": self.ha_password,
                         "discovery": True, "discovery_prefix": "homeassistant"},
            }]},
        }
        (storage / "core.config_entries").write_text(json.dumps(entries, indent=2))
        onboarding = {"version": 4, "minor_version": 1, "key": "onboarding",
                      "data": {"done": ["user", "core_config", "analytics", "integration"]}}
        (storage / "onboarding").write_text(json.dumps(onboarding))

    @property
    def log_path(self) -> Path:
        return self.dir / "home-assistant.log"

    def start(self) -> None:
        self.starts += 1
        out = open(self.dir / f"hass-stdout-{self.starts}.txt", "wb")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{self.hass.parent}:{env.get('PATH', '')}"
        self.proc = subprocess.Popen(
            [str(self.hass), "-c", str(self.dir), "--log-no-color"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        out.close()
        log.info("started Home Assistant (pid %s) on %s", self.proc.pid, self.base)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("Home Assistant did not stop in %.0f s; killing it", timeout)
            self.proc.kill()
            return self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # REST, in a thread so the in-process nodes keep running.
    def _request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if not path.startswith("/api/image_proxy"):
            req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=20) as resp:
            content = resp.read()
        return content if raw else (json.loads(content) if content else None)

    async def api(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        return await asyncio.to_thread(self._request, method, path, body, raw)

    async def api_up(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"Home Assistant exited with {self.proc and self.proc.returncode}; "
                               f"see {self.log_path} and {self.dir}/hass-stdout-*.txt")
        try:
            return (await self.api("GET", "/api/")).get("message") == "API running."
        except (urllib.error.URLError, OSError, ValueError):
            return False

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.api("GET", "/api/states")}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return await self.api("GET", f"/api/states/{entity_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    async def call(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        return await self.api("POST", f"/api/services/{domain}/{service}", data)

    async def version(self) -> str:
        cfg = await self.api("GET", "/api/config")
        return str(cfg.get("version"))

    def storage(self, key: str) -> dict[str, Any] | None:
        path = self.dir / ".storage" / key
        return json.loads(path.read_text())["data"] if path.exists() else None


# ---- Prime Spark side -----------------------------------------------------------------------
class Running:
    """A hub or node agent running as a task in this process; stop() and start() again."""

    def __init__(self, make: Callable[[], NodeAgent], name: str) -> None:
        self.make = make
        self.name = name
        self.agent: NodeAgent | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> NodeAgent:
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


# ---- the checks -----------------------------------------------------------------------------
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

    def make_hub() -> NodeAgent:
        return Hub(cfg, password=hub_password, announce_delay=fast)

    def maker(node_id: str) -> Callable[[], NodeAgent]:
        node_cfg = cfg.node(node_id)
        secret = node_cfg.password.get_secret_value() if node_cfg.password else None
        return lambda: agent_class(node_cfg.kind)(
            NodeContext(cfg, node_cfg, password=secret, announce_delay=fast))

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
    await check("hub stopped: every entity, the hub's and each node's, turns unavailable "
                "(node entities list the hub's availability, mode all)", ids(), True)
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
