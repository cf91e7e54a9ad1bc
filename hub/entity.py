"""Registry records: devices and entities as the hub knows them, with live state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spark.core.discovery import DiscoveredEntity
    from spark.core.pictures import PictureBudget
    from spark.hub.templates import CompiledTemplate, TemplateEngine


@dataclass(slots=True)
class Device:
    id: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    model_id: str | None = None
    sw_version: str | None = None
    hw_version: str | None = None
    serial_number: str | None = None
    suggested_area: str | None = None
    via_device: str | None = None
    configuration_url: str | None = None
    identifiers: list[str] = field(default_factory=list)
    connections: list[tuple[str, str]] = field(default_factory=list)  # (type, id): ("mac", ...)
    entities: set[str] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)  # device triggers and tag scanners

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "manufacturer": self.manufacturer,
            "model": self.model, "model_id": self.model_id, "sw_version": self.sw_version,
            "hw_version": self.hw_version, "configuration_url": self.configuration_url,
            "connections": [list(c) for c in self.connections],
            "triggers": sorted(self.triggers),
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
    avail_tpls: tuple[CompiledTemplate | None, ...] = ()
    state: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    last_changed: float = 0.0
    last_updated: float = 0.0
    available: bool = True
    avail_values: list[bool | None] = field(default_factory=list)
    avail_latest: bool | None = None
    image: bytes | None = None  # a camera's / image's picture, kept through ``pictures``
    expires_at: float | None = None
    expired: bool = False
    engine: TemplateEngine | None = None  # compiles the config's other templates on first use
    tpls: dict[str, CompiledTemplate | None] | None = None  # made on first use
    disabled_by_default: bool = False  # enabled_by_default: false (HA: registered, disabled)
    own: dict[str, Any] | None = None  # the platform's own memory (memo), made on first use
    owner: str | None = None  # the discovery topic it takes configs from (None: released)
    publisher: str | None = None  # who it counts against (registry_guard.Quota)
    pictures: PictureBudget | None = None  # the hub's budget for kept pictures

    @property
    def memo(self) -> dict[str, Any]:
        """What the platform remembers of the entity and does not show (a light's brightness
        while it is off, its config's capabilities)."""
        if self.own is None:
            self.own = {}
        return self.own

    def template(self, key: str) -> CompiledTemplate | None:
        """The compiled template in config key ``key`` (``brightness_value_template`` ...),
        ``None`` when the config has none; compiled once per config."""
        if self.tpls is None:
            self.tpls = {}
        elif key in self.tpls:
            return self.tpls[key]
        source = self.spec.raw.get(key) if key.endswith("_template") else None
        tpl = None
        if isinstance(source, str) and source and self.engine is not None:
            tpl = self.engine.compile(source)
        self.tpls[key] = tpl
        return tpl

    @property
    def commandable(self) -> bool:
        """Any command topic: ``command_topic``, or a platform's own (a climate may have only
        ``mode_command_topic``, a cover only ``set_position_topic``)."""
        spec = self.spec
        return bool(spec.command_topic) or any(
            (key.endswith("command_topic") or key == "set_position_topic") and bool(value)
            for key, value in spec.raw.items())

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
            # HA: a disabled entity (enabled_by_default: false) has no state at all
            "state": (None if self.disabled_by_default
                      else self.state if self.available else "unavailable"),
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
            "commandable": self.commandable,
            "enabled": not self.disabled_by_default,
        }
