"""Registry records: devices and entities as the hub knows them, with live state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spark.core.discovery import DiscoveredEntity
    from spark.hub.templates import CompiledTemplate, TemplateEngine


@dataclass(slots=True)
class Device:
    id: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    sw_version: str | None = None
    hw_version: str | None = None
    serial_number: str | None = None
    suggested_area: str | None = None
    via_device: str | None = None
    identifiers: list[str] = field(default_factory=list)
    entities: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "manufacturer": self.manufacturer,
            "model": self.model, "sw_version": self.sw_version, "hw_version": self.hw_version,
            "serial_number": self.serial_number, "area": self.suggested_area,
            "via_device": self.via_device, "identifiers": list(self.identifiers),
            "entities": sorted(self.entities),
        }


@dataclass(slots=True)
class EntityRecord:
    entity_id: str
    key: str
    spec: DiscoveredEntity
    device_id: str | None
    value_tpl: CompiledTemplate | None = None
    attr_tpl: CompiledTemplate | None = None
    avail_tpls: list[CompiledTemplate | None] = field(default_factory=list)
    state: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    last_changed: float = 0.0
    last_updated: float = 0.0
    available: bool = True
    avail_values: list[bool | None] = field(default_factory=list)
    avail_latest: bool | None = None
    image: bytes | None = None
    expires_at: float | None = None
    expired: bool = False
    engine: TemplateEngine | None = None  # compiles the config's other templates on first use
    tpls: dict[str, CompiledTemplate | None] = field(default_factory=dict)
    disabled_by_default: bool = False  # enabled_by_default: false (HA: registered, disabled)

    def template(self, key: str) -> CompiledTemplate | None:
        """The compiled template in config key ``key`` (``brightness_value_template`` ...),
        ``None`` when the config has none; compiled once per config."""
        try:
            return self.tpls[key]
        except KeyError:
            pass
        source = self.spec.raw.get(key) if key.endswith("_template") else None
        tpl = None
        if isinstance(source, str) and source and self.engine is not None:
            tpl = self.engine.compile(source)
        self.tpls[key] = tpl
        return tpl

    @property
    def platform(self) -> str:
        return self.spec.component

    @property
    def name(self) -> str | None:
        return self.spec.name

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "entity_id": self.entity_id,
            "unique_id": spec.unique_id,
            "platform": spec.component,
            "name": spec.name,
            "device_id": self.device_id,
            "state": self.state if self.available else "unavailable",
            "raw_state": self.state,
            "available": self.available,
            "attributes": dict(self.attributes),
            "last_changed": self.last_changed,
            "last_updated": self.last_updated,
            "device_class": spec.device_class,
            "state_class": spec.state_class,
            "unit_of_measurement": spec.unit_of_measurement,
            "entity_category": spec.entity_category,
            "icon": spec.icon,
            "options": spec.options,
            "min": spec.min, "max": spec.max, "step": spec.step,
            "event_types": spec.event_types,
            "commandable": bool(spec.command_topic),
        }
