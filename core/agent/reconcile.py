"""What a node does with the discovery configs the broker still holds for it, before it
announces: the retained configs under its id are read back at every connect and compared with
what it is now.

* **Identity.** Configs still carrying an earlier install's unique-id prefix make the node adopt
  it (:mod:`spark.core.agent.identity`), so HA keeps every entity.
* **Discovery mode switch** (``hub.discovery_mode``), HA's documented handshake (HA >= 2024.11,
  ``homeassistant/components/mqtt/discovery.py`` and ``entity.py``, tests
  ``test_discovery_migration_to_device_base`` / ``test_discovery_rollback_to_single_base``):
  1. ``{"migrate_discovery": true}`` on each old topic (per-entity topics to go device-based;
     the device topic to go back). HA unloads those entities but keeps their registry entries.
  2. The new configs, same unique ids: HA re-creates the entities on the same registry entries
     (same entity ids, history, areas). Same-hash messages are queued by HA, so it never sees
     the new config before it finished unloading the old one.
  3. After ``migrate_settle`` seconds the old topics are cleared (empty, retained). HA ignores
     an empty payload on a topic it migrated away from (it logs a "conflicting discovery
     message" warning and keeps the entity), and the broker no longer holds the old config.
  Without step 1 HA 2025 refuses the new config as conflicting, and the clear in step 3 then
  deletes the entity: every entity was lost at a switch before this module.
  HA 2024.3 knows neither device-based discovery nor the handshake: it rejects the migrate
  payload as an invalid config (one error line per entity, the entity stays), logs
  "Integration device is not supported" for the device config, and the clear of step 3 removes
  the entity: device mode needs HA >= 2024.11. Going back to per-entity configs works on 2024.3
  (it never had the device config's entities).
* **Dropped entities** (a NAS restarted with one disk instead of four): device-based, HA keeps a
  component that is merely missing from the device config, so each one the retained config has
  and the node no longer declares is sent as ``{"platform": ...}`` (HA removes it); those markers
  are carried on while the retained config holds them. Per-entity, the dropped entity's config
  topic is cleared. Either way the dropped entity's retained state and attributes are cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from spark.core.agent.identity import prefix_of, prevailing
from spark.core.agent.settings import DiscoveryMode
from spark.core.errors import TopicError
from spark.core.topics import TopicLayout, valid_object_id

log = logging.getLogger(__name__)

MAX_RETAINED = 4096  # configs read back per node (a flood of planted ones is cut here)
MAX_CONFIG = 256 * 1024  # bytes of one retained config we parse


@dataclass
class Plan:
    """What to publish before (and after) the announce."""

    adopt: str | None = None  # unique-id prefix found in the retained configs
    before: list[tuple[str, bytes]] = field(default_factory=list)  # published first
    migrate_from: list[str] = field(default_factory=list)  # old topics, cleared after settle
    clear: list[str] = field(default_factory=list)  # configs that are not ours: clear now
    # Dropped entities, applied once the node's entities are settled (a kind may add some as
    # it finds its hardware) and only for keys still undeclared then:
    ghosts: dict[str, str] = field(default_factory=dict)  # per-entity config topic -> key
    removed: dict[str, str] = field(default_factory=dict)  # device markers: key -> platform
    dropped: list[str] = field(default_factory=list)  # keys whose state/attributes to clear

    @property
    def empty(self) -> bool:
        return not (self.adopt or self.before or self.migrate_from or self.clear
                    or self.ghosts or self.removed or self.dropped)


def _load(raw: bytes) -> dict[str, Any] | None:
    if not raw or len(raw) > MAX_CONFIG:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _first(body: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in body:
            return body[key]
    return None


def _is_migrate(body: Mapping[str, Any] | None) -> bool:
    return body is not None and bool(_first(body, "migrate_discovery", "migr_discvry")) \
        and len(body) == 1


def _components(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    cmps = _first(body, "components", "cmps")
    if not isinstance(cmps, dict):
        return {}
    return {str(k): v for k, v in cmps.items() if isinstance(v, dict)}


def _our_key(key: str) -> bool:
    """A component key (or platform) one of our nodes could have published: a retained config
    planted by someone else may hold ``#``, ``a/b``, ``request`` or 200 kB there, which must
    neither end the cleanup (a topic built from it raises) nor be carried on in our device
    config."""
    if len(key) > 100:
        return False
    try:
        valid_object_id(key)
    except TopicError:
        log.debug("ignored component key %r in the retained discovery: not one of ours", key)
        return False
    return True


def plan(
    layout: TopicLayout,
    node_id: str,
    mode: DiscoveryMode,
    platforms: Mapping[str, str],
    prefix: str,
    retained: Mapping[str, bytes],
    *,
    may_adopt: bool,
) -> Plan:
    """Compare ``retained`` (topic -> payload under this node's discovery topics) with the
    node's entities (``platforms``: key -> platform) and unique-id ``prefix``."""
    out = Plan()
    entity_cfgs: list[tuple[str, str, str, dict[str, Any] | None]] = []  # topic, platform, key
    device_topic = layout.device_discovery(node_id)
    device_body: dict[str, Any] | None = None
    device_raw = retained.get(device_topic, b"")
    for topic, raw in list(retained.items())[:MAX_RETAINED]:
        if not raw or topic == device_topic:
            continue
        parsed = layout.parse_discovery(topic)
        if parsed is None or parsed.is_device or parsed.node_id != node_id \
                or parsed.object_id is None:
            continue
        entity_cfgs.append((topic, parsed.component, parsed.object_id, _load(raw)))
    if device_raw:
        device_body = _load(device_raw)

    # -- identity: the prefix HA knows these entities by --------------------------------------
    if may_adopt:
        found = [p for _t, _c, key, body in entity_cfgs if body is not None
                 if (p := prefix_of(_first(body, "unique_id", "uniq_id"), key))]
        if device_body is not None:
            found += [p for key, cmp in _components(device_body).items()
                      if (p := prefix_of(_first(cmp, "unique_id", "uniq_id"), key))]
        best = prevailing(found, node_id)
        if best is not None and best != prefix:
            out.adopt = prefix = best

    def drop(key: str) -> None:
        if key not in platforms and key not in out.dropped and _our_key(key):
            out.dropped.append(key)

    # -- per-entity topics ---------------------------------------------------------------------
    for topic, platform, key, body in entity_cfgs:
        if key not in platforms:
            out.ghosts[topic] = key  # a dropped entity (or a config planted under our id)
            drop(key)
        elif body is None or _is_migrate(body) or platforms[key] != platform:
            out.clear.append(topic)  # unreadable, a cut-short handshake's, another platform's
        elif mode == "device":
            out.migrate_from.append(topic)  # ours, to move into the device config
        # else: ours, and our announce replaces it if it changed

    # -- the device topic ----------------------------------------------------------------------
    if device_raw:
        cmps = _components(device_body) if device_body is not None else {}
        live = {k: c for k, c in cmps.items() if set(c) - {"platform", "p"}}
        markers = {k: str(_first(c, "platform", "p")) for k, c in cmps.items() if k not in live}
        gone = {k: str(_first(c, "platform", "p")) for k, c in live.items()
                if platforms.get(k) != _first(c, "platform", "p")}
        for key in gone:
            drop(key)
        if mode == "device":
            out.removed = {k: p for k, p in {**markers, **gone}.items()
                           if k not in platforms and _our_key(k) and _our_key(p)}
        elif device_body is None or _is_migrate(device_body) or not live:
            out.clear.append(device_topic)
        else:
            if gone:  # HA removes these before the rest moves to per-entity configs
                body = dict(device_body)
                body["components" if "components" in body else "cmps"] = {
                    **cmps, **{k: {"platform": p} for k, p in gone.items()}}
                out.before.append((device_topic, orjson.dumps(body)))
            out.migrate_from.append(device_topic)
    return out


def log_plan(node_id: str, mode: str, result: Plan) -> None:
    if result.adopt:
        log.warning("%s: the broker's retained discovery names these entities %s_*: keeping "
                    "those unique ids (HA's entity registry keys on them)", node_id, result.adopt)
    if result.migrate_from:
        log.warning("%s: discovery mode is now %r; moving %d retained config(s) with HA's "
                    "migrate_discovery handshake", node_id, mode, len(result.migrate_from))
    if result.dropped:
        log.info("%s: removing %d entity(ies) no longer declared: %s", node_id,
                 len(result.dropped), ", ".join(sorted(result.dropped)[:20]))
