"""Device triggers and tag scanners (HA: not entities, each firing an ``EntityFired``) and
events as the registry shows them: a trigger as the API lists it, a firing's ISO time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from spark.hub.entity import EntityRecord
from spark.hub.entity_ids import TRIGGERS

__all__ = ["TRIGGERS", "iso_time", "trigger_dict"]


def trigger_dict(record: EntityRecord) -> dict[str, Any]:
    """A device trigger or tag scanner as the API lists it."""
    raw = record.spec.raw
    return {"id": record.entity_id, "platform": record.spec.component,
            "device_id": record.device_id, "type": raw.get("type"), "subtype": raw.get("subtype"),
            "topic": raw.get("topic"), "payload": raw.get("payload"),
            "last_fired": record.state}


def iso_time(ts: float) -> str:
    """HA's state of an event entity or trigger: its last firing time."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
