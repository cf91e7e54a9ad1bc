"""What ``spark up`` tells the user once the lab is in the registry: the nodes (kind, online,
how many entities, a few states as Home Assistant shows them), where to look next, and how to
log in to the panel, last, so it is the last thing on the screen."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from spark.app.config.models import SparkConfig
from spark.hub.entity import EntityRecord

if TYPE_CHECKING:
    from spark.core.agent.agent import NodeAgent
    from spark.hub.app import Hub

SAMPLES = 3  # states shown per node
FRAMEWORK = ("_connectivity", "_started_at", "_commands_rejected")  # every agent has them


def ha_state(record: EntityRecord) -> str:
    """The state as Home Assistant shows it: ``unavailable``, ``unknown`` (no unit), an
    event's last firing as an ISO 8601 timestamp, else the value with its unit."""
    if not record.available:
        return "unavailable"
    if record.state is None:
        return "unknown"
    if record.platform == "event":
        when = datetime.fromtimestamp(record.last_changed, UTC).replace(microsecond=0)
        return when.isoformat()
    unit = record.spec.unit_of_measurement
    return f"{record.state} {unit}" if unit else str(record.state)


def _label(record: EntityRecord) -> str:
    return record.spec.name or record.entity_id


def _sample(records: list[EntityRecord], width: int = 72) -> str:
    """A few states of a node: its main entities, else its diagnostic ones (not the
    framework's own connectivity / start time / rejected commands)."""
    main = [r for r in records if r.spec.entity_category is None]
    if not main:
        main = [r for r in records if not (r.spec.unique_id or "").endswith(FRAMEWORK)]
    text = ""
    for record in sorted(main, key=_label)[:SAMPLES]:
        item = f"{_label(record)} {ha_state(record)}"
        if text and len(text) + len(item) + 2 > width:
            break
        text = f"{text}, {item}" if text else item
    return text


def node_lines(hub: Hub, agents: Sequence[NodeAgent]) -> list[str]:
    """One line per local node (the hub first): id, kind, online, entities, sample states."""
    reg = hub.registry
    if reg is None:
        return []
    local = [hub.agent, *agents]  # the hub's own device first
    by_prefix: dict[str, list[EntityRecord]] = {a.unique_prefix: [] for a in local}
    ours = 0
    for record in reg.entities.values():
        uid = record.spec.unique_id or ""
        for prefix, records in by_prefix.items():
            if uid.startswith(prefix + "_"):
                records.append(record)
                ours += 1
                break
    rows = [("node", "kind", "state", "entities", "for example")]
    for agent in local:
        records = by_prefix[agent.unique_prefix]
        online = hub.nodes_online.get(agent.node_id)
        rows.append((agent.node_id, agent.kind,
                     "online" if online else "offline" if online is False else "?",
                     str(len(records)), "" if agent is hub.agent else _sample(records)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [("  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
              + f"  {row[4]}").rstrip() for row in rows]
    others = len(reg.entities) - ours
    if others:
        devices = len({r.device_id for r in reg.entities.values() if r.device_id} -
                      {r.device_id for rs in by_prefix.values() for r in rs})
        lines.append(f"  + {others} entities of {devices} other devices found on the broker "
                     "(Zigbee2MQTT, Tasmota, ESPHome, ...)")
    return lines


def login_lines(cfg: SparkConfig, url: str | None) -> list[str]:
    """How to log in to the panel: the URL, the user, where the password is."""
    auth = cfg.ui.auth
    if url is None:
        return ["how to log in:", "  the panel is off (ui.enabled: false)"]
    from spark.ui.api.auth import generated_password_file

    generated = generated_password_file(cfg.ui.data_dir, auth.admin_user)
    if generated.exists():
        where = (f"cat {_shown(generated)}   (generated; the panel asks you to choose "
                 "your own at the first log-in)")
    elif auth.admin_password_file is not None:
        where = f"in {_shown(auth.admin_password_file)} (ui.auth.admin_password_file)"
    elif auth.admin_password is not None:
        where = "the one given in ui.auth.admin_password / SPARK__UI__AUTH__ADMIN_PASSWORD"
    else:
        where = (f"the one you chose; lost it? spark user reset-password {auth.admin_user}")
    return ["how to log in:", f"  {'open':<9} {url}", f"  {'user':<9} {auth.admin_user}",
            f"  {'password':<9} {where}",
            f"  {'users':<9} spark user add|list|reset-password|remove"]


def _shown(path: Path) -> str:
    """A path as the user can paste it from where they ran the command."""
    absolute = path.resolve()
    try:
        relative = absolute.relative_to(Path(os.getcwd()).resolve())
    except ValueError:
        return str(absolute)
    return str(relative)
