"""Home Assistant's MQTT discovery, replayed without Home Assistant: the recorded behaviour.

What HA 2024.3.3 and 2025.4.4 do with each discovery message, as read from their
``homeassistant/components/mqtt/discovery.py`` and ``entity.py`` (2025.4) / ``mixins.py``
(2024.3) and HA's tests (``tests/components/mqtt/test_discovery.py``:
``test_discovery_migration_to_device_base``, ``test_discovery_rollback_to_single_base``), kept
to what our checks need: discovery hashes and the topic each entity was discovered on, the
``migrate_discovery`` handshake, device-based configs (2025 only), the entity registry keyed on
``(platform, unique_id)`` with its entity ids (``_2`` on a clash), availability, and the log
lines HA writes. The CI tests feed it the messages our nodes really published (recorded from a
real Mosquitto); ``run_check.py --scenarios`` runs the same scenarios against a real HA.

Facts it encodes, by version:

* both: a discovery hash is ``(component, "<node_id> <object_id>")``; a device config's
  component ``<key>`` on ``<prefix>/device/<node>/config`` has the hash of
  ``<prefix>/<platform>/<node>/<key>/config``. An entity only takes updates from the topic it
  was discovered on (else: "Received a conflicting MQTT discovery message", ignored). An empty
  payload removes the entity *and its registry entry*; a new config with a known unique id gets
  the old registry entry (same entity id) back. A schema error is logged and changes nothing.
* 2024.3: ``device`` is not a supported component ("Integration device is not supported");
  ``{"migrate_discovery": true}`` is just an invalid config for every platform we use.
* 2025.4: ``{"migrate_discovery": true}`` (or ``migr_discvry``) on the entity's own topic starts
  a migration: the entity is unloaded, its registry entry kept, and the new config (from any
  topic) takes it; an empty payload on the old topic is then a conflicting message (ignored).
  On a device topic it migrates every component of that device (rollback).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

VERSIONS = ("2024.3", "2025.4")
TOPIC = re.compile(r"^(?P<prefix>[^/]+(?:/[^/]+)*?)/(?P<component>\w+)/"
                   r"(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config$")
ABBREVIATIONS = {"uniq_id": "unique_id", "stat_t": "state_topic", "cmd_t": "command_topic",
                 "dev": "device", "o": "origin", "cmps": "components", "p": "platform",
                 "avty": "availability", "avty_mode": "availability_mode", "avty_t":
                 "availability_topic", "obj_id": "object_id", "migr_discvry": "migrate_discovery"}
REQUIRED = {  # what each platform's discovery schema requires (both versions)
    "sensor": ("state_topic",), "binary_sensor": ("state_topic",),
    "event": ("state_topic", "event_types"), "switch": ("command_topic",),
    "select": ("command_topic", "options"), "number": ("command_topic",),
    "button": ("command_topic",), "image": (),
}


def _expand(body: dict[str, Any]) -> dict[str, Any]:
    return {ABBREVIATIONS.get(k, k): v for k, v in body.items()}


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unknown"


@dataclass
class Entity:
    hash: tuple[str, str]
    topic: str  # the discovery topic it was discovered on
    config: dict[str, Any]
    entity_id: str
    migrating: str | None = None


@dataclass
class HomeAssistant:
    """One HA instance's MQTT discovery, entity registry and availability."""

    version: str = "2025.4"
    prefix: str = "homeassistant"
    entities: dict[tuple[str, str], Entity] = field(default_factory=dict)  # by hash
    registry: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, uid) -> id
    disabled: set[tuple[str, str]] = field(default_factory=set)  # registered disabled
    topics: dict[str, bytes] = field(default_factory=dict)  # last payload per non-config topic
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, message)

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"recorded behaviour exists for {VERSIONS}, not {self.version}")

    @property
    def modern(self) -> bool:
        """Device-based discovery and migrate_discovery: HA 2024.11 and later."""
        major, minor = (int(x) for x in self.version.split("."))
        return (major, minor) >= (2024, 11)

    # ---- messages ------------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes) -> None:
        m = TOPIC.match(topic)
        if not topic.startswith(self.prefix + "/") or m is None or m["prefix"] != self.prefix:
            self.topics[topic] = payload
            return
        component, node_id, object_id = m["component"], m["node_id"], m["object_id"]
        body: dict[str, Any] = {}
        if payload:
            try:
                loaded = json.loads(payload)
            except ValueError:
                self.log.append(("WARNING", f"Unable to parse JSON {object_id}: {payload!r}"))
                return
            if not isinstance(loaded, dict):
                return
            body = _expand(loaded)
        if component == "device":
            if not self.modern:
                self.log.append(("WARNING", "Integration device is not supported"))
                return
            self._device(topic, node_id, object_id, body)
            return
        migrate = False
        if self.modern and "migrate_discovery" in body:
            if body["migrate_discovery"] is not True:
                self.log.append(("WARNING", f"invalid migrate_discovery on {topic}"))
                return
            migrate, body = True, {}
        discovery_id = f"{node_id} {object_id}" if node_id else object_id
        self._process((component, discovery_id), topic, body, migrate)

    def _device(self, topic: str, node_id: str | None, object_id: str,
                body: dict[str, Any]) -> None:
        device_node = f"{node_id} {object_id}" if node_id else object_id
        migrate = body.get("migrate_discovery") is True and len(body) == 1
        if not body or migrate:  # cleanup / rollback: every component of this device
            for (platform, discovery_id) in list(self.entities):
                parts = discovery_id.split(" ")
                if len(parts) >= 2 and " ".join(parts[:-1]) == device_node:
                    self._process((platform, discovery_id), topic, {}, migrate)
            return
        if not isinstance(body.get("device"), dict) or not isinstance(body.get("origin"), dict) \
                or not isinstance(body.get("components"), dict):
            self.log.append(("WARNING", f"Invalid MQTT device discovery payload for {object_id}"))
            return
        shared = {k: v for k, v in body.items() if k not in ("components", "device", "origin")}
        for key, raw in body["components"].items():
            cmp = _expand(dict(raw))
            platform = cmp.pop("platform", None)
            if not isinstance(platform, str):
                continue
            if cmp:
                cmp = {**{k: v for k, v in shared.items() if k not in cmp}, **cmp,
                       "device": body["device"], "origin": body["origin"]}
            self._process((platform, f"{device_node} {key}"), topic, cmp, False)

    def _process(self, hash_: tuple[str, str], topic: str, body: dict[str, Any],
                 migrate: bool) -> None:
        ent = self.entities.get(hash_)
        if ent is not None:
            if migrate and ent.migrating is None and ent.topic == topic:
                if not ent.config.get("unique_id") or not ent.config.get("device"):
                    self.log.append(("ERROR", f"Discovery migration is not possible for "
                                              f"{ent.entity_id}"))
                    return
                ent.migrating = topic
                action = "Rollback" if topic.split("/")[1] == "device" else "Migration"
                self.log.append(("INFO", f"{action} started for entity {ent.entity_id} on "
                                         f"topic {topic}"))
            if ent.topic != topic:
                self.log.append(("WARNING", f"Received a conflicting MQTT discovery message "
                                            f"for entity {ent.entity_id}; previously discovered "
                                            f"on topic {ent.topic}; received on topic {topic}"))
                return
            if not body:
                del self.entities[hash_]
                if ent.migrating is None:  # removed with its registry entry
                    uid = ent.config.get("unique_id")
                    self.registry.pop((hash_[0], str(uid)), None)
                    self.log.append(("INFO", f"Removing component: {ent.entity_id}"))
                else:
                    self.log.append(("INFO", f"Unloading component: {ent.entity_id}"))
                return
            if body != ent.config and self._valid(hash_[0], topic, body):
                ent.config = body  # (HA keeps the registry entry's unique id)
            return
        if not body or not self._valid(hash_[0], topic, body):
            return
        uid = body.get("unique_id")
        if uid is not None:
            for other in self.entities.values():
                if other.hash[0] == hash_[0] and other.config.get("unique_id") == uid:
                    self.log.append(("ERROR", f"Platform mqtt does not generate unique IDs. "
                                              f"ID {uid} already exists - ignoring {topic}"))
                    return
        entity_id = self.registry.get((hash_[0], str(uid))) if uid is not None else None
        if entity_id is None:
            entity_id = self._new_entity_id(hash_[0], body)
            if uid is not None:
                self.registry[(hash_[0], str(uid))] = entity_id
                if body.get("enabled_by_default") is False:
                    self.disabled.add((hash_[0], str(uid)))
        if (hash_[0], str(uid)) in self.disabled:
            # A disabled entity is never added to HA, so its discovery hash is never marked
            # discovered: every config for it is "new" (same registry entry), an empty payload
            # or a migration touches nothing, and no conflict is ever logged for it.
            return
        self.entities[hash_] = Entity(hash_, topic, body, entity_id)

    def _valid(self, platform: str, topic: str, body: dict[str, Any]) -> bool:
        need = REQUIRED.get(platform, ())
        missing = [k for k in need if k not in body]
        if missing:
            error = f"required key not provided @ data['{missing[0]}']"
        elif platform == "image" and not ({"image_topic", "url_topic"} & body.keys()):
            error = "Expected one of [`image_topic`, `url_topic`], got none"
        else:
            return True
        self.log.append(("ERROR", f"Error '{error}' when processing MQTT discovery message "
                                  f"topic: '{topic}'"))
        return False

    def _new_entity_id(self, platform: str, body: dict[str, Any]) -> str:
        if body.get("object_id"):
            base = slugify(str(body["object_id"]))
        else:
            device = body.get("device") or {}
            parts = [str(device.get("name") or ""), str(body.get("name") or "")]
            base = slugify(" ".join(p for p in parts if p))
        taken = set(self.registry.values()) | {e.entity_id for e in self.entities.values()}
        candidate, n = f"{platform}.{base}", 2
        while candidate in taken:
            candidate, n = f"{platform}.{base}_{n}", n + 1
        return candidate

    # ---- what the checks read -----------------------------------------------------------
    def by_unique_id(self) -> dict[str, str]:
        """unique id -> entity id of every loaded entity."""
        return {str(e.config.get("unique_id")): e.entity_id for e in self.entities.values()}

    def registered(self) -> dict[str, str]:
        """unique id -> entity id of every entity registry entry (disabled ones too)."""
        return {uid: eid for (_platform, uid), eid in self.registry.items()}

    def duplicates(self) -> list[str]:
        """Entity ids with a ``_<n>`` suffix that clashed with another registry entry."""
        ids = set(self.registry.values())
        return sorted(i for i in ids if re.search(r"_\d+$", i) and re.sub(r"_\d+$", "", i) in ids)

    def available(self, entity_id: str) -> bool:
        ent = next(e for e in self.entities.values() if e.entity_id == entity_id)
        avail = ent.config.get("availability")
        if not avail:
            topic = ent.config.get("availability_topic")
            avail = [{"topic": topic}] if topic else []
        if not avail:
            return True
        values = [self.topics.get(a["topic"]) == a.get("payload_available", "online").encode()
                  for a in avail]
        mode = ent.config.get("availability_mode", "latest")
        return all(values) if mode == "all" else any(values)

    def errors_about(self, needle: str) -> list[str]:
        return [m for level, m in self.log if level in ("WARNING", "ERROR") and needle in m]
