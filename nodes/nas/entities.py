"""The NAS node's entity declarations and their keys (one place, so tests and agent agree)."""

from __future__ import annotations

from pathlib import Path

from spark.core.agent.entities import (
    BinarySensor,
    Button,
    Entity,
    EntityCategory,
    Event,
    Sensor,
    Switch,
)
from spark.nodes.nas.config import ExportCheck, NasNodeConfig
from spark.nodes.system.parsers import path_slug, slug

DIAG: EntityCategory = "diagnostic"
BACKUP_EVENTS = ["success", "failure"]


def mount_key(mountpoint: str) -> str:
    return f"mount_{path_slug(mountpoint)}"


def disk_key(device: str) -> str:
    return f"disk_{slug(Path(device).name, 20)}"


def export_key(export: ExportCheck) -> str:
    return f"export_{slug(export.name, 30)}"


def mount_entities(mountpoint: str) -> list[Entity]:
    key = mount_key(mountpoint)
    return [
        Sensor(key=f"{key}_used", name=f"{mountpoint} used", unit="%", icon="mdi:harddisk",
               state_class="measurement", suggested_display_precision=1, attributes=True),
        Sensor(key=f"{key}_free", name=f"{mountpoint} free", unit="GB",
               device_class="data_size", state_class="measurement",
               suggested_display_precision=1),
        BinarySensor(key=f"{key}_mounted", name=f"{mountpoint} mounted", icon="mdi:folder-network",
                     attributes=True),
        BinarySensor(key=f"{key}_read_only", name=f"{mountpoint} read-only", icon="mdi:lock",
                     entity_category=DIAG),
    ]


def disk_entities(device: str) -> list[Entity]:
    key, name = disk_key(device), f"Disk {Path(device).name}"
    return [
        BinarySensor(key=key, name=name, device_class="problem", attributes=True,
                     icon="mdi:harddisk"),
        Sensor(key=f"{key}_temperature", name=f"{name} temperature", device_class="temperature",
               unit="°C", state_class="measurement", suggested_display_precision=0),
        Sensor(key=f"{key}_power_on_hours", name=f"{name} power-on hours",
               device_class="duration", unit="h", state_class="total_increasing",
               entity_category=DIAG),
        Sensor(key=f"{key}_reallocated", name=f"{name} reallocated sectors",
               state_class="measurement", entity_category=DIAG, icon="mdi:harddisk-remove"),
    ]


def export_entity(export: ExportCheck) -> Entity:
    return BinarySensor(key=export_key(export),
                        name=f"{export.protocol.upper()} {export.name}",
                        device_class="connectivity", attributes=True)


def backup_entities() -> list[Entity]:
    return [
        Button(key="backup", name="Back up now", icon="mdi:backup-restore"),
        Sensor(key="last_backup", name="Last backup", device_class="timestamp",
               attributes=True),
        Event(key="backup_result", name="Backup result", event_types=list(BACKUP_EVENTS)),
        BinarySensor(key="backup_running", name="Backup running", device_class="running",
                     entity_category=DIAG),
    ]


def simulation_entities() -> list[Entity]:
    return [Switch(key="simulate_disk_failure", name="Simulate disk failure",
                   entity_category="config", icon="mdi:harddisk-remove")]


def declare(cfg: NasNodeConfig, simulated: bool) -> list[Entity]:
    """Everything but the per-disk entities (those need SMART to be readable here)."""
    entities: list[Entity] = [e for m in cfg.mounts for e in mount_entities(m)]
    entities += [export_entity(e) for e in cfg.exports]
    if cfg.backup.enabled:
        entities += backup_entities()
    if simulated:
        entities += simulation_entities()
    return entities
