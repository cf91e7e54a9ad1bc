"""Typed views of third-party discovery configs (already normalised to HA's long keys).

Tolerant like Home Assistant: unknown keys are ignored (the full config stays in ``raw``) and
scalars are coerced to strings where HA's ``cv.string`` would (``payload_on: true`` -> ``"True"``).
Wrong shapes, bad topics and broken cross-field rules raise ``pydantic.ValidationError``;
:func:`core.discovery.schema.parse_discovery` turns that into a ``PayloadError`` naming the topic.

:class:`DiscoveredEntity` holds what every platform shares (the keys HA's abbreviation table
knows, read by the registry, the API and the recorder). What one platform adds (its defaults,
required keys and cross-field rules) lives in that platform's module under ``core/platforms/``,
as a subclass with ``DEFAULTS`` / ``REQUIRED`` and its own validators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from spark.core.topics import valid_publish_topic, valid_subscribe_filter


def _ha_string(value: Any) -> Any:
    """Coerce like HA's ``cv.string``: scalars become ``str``; containers are rejected."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _ensure_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _sub_topic(value: str | None) -> str | None:
    return None if value is None else valid_subscribe_filter(value)


def _pub_topic(value: str | None) -> str | None:
    return None if value is None else valid_publish_topic(value)


Str = Annotated[str, BeforeValidator(_ha_string)]
OptStr = Annotated[str | None, BeforeValidator(_ha_string)]
StrList = Annotated[list[Str], BeforeValidator(_ensure_list)]
SubTopic = Annotated[str | None, BeforeValidator(_ha_string), AfterValidator(_sub_topic)]
PubTopic = Annotated[str | None, BeforeValidator(_ha_string), AfterValidator(_pub_topic)]

_TOLERANT = ConfigDict(extra="ignore", frozen=True, protected_namespaces=(), allow_inf_nan=False)

# HA's availability options (MQTT_AVAILABILITY_SCHEMA): every entity platform has them; a device
# trigger or a tag scanner has none.
AVAILABILITY_OPTIONS = frozenset({"availability", "availability_mode", "availability_template",
                                  "availability_topic", "payload_available",
                                  "payload_not_available"})


class DeviceDescription(BaseModel):
    """The ``device`` mapping: ties entities to one device in the registry."""

    model_config = _TOLERANT

    identifiers: StrList = Field(default_factory=list)
    connections: list[tuple[Str, Str]] = Field(default_factory=list)
    name: OptStr = None
    manufacturer: OptStr = None
    model: OptStr = None
    model_id: OptStr = None
    sw_version: OptStr = None
    hw_version: OptStr = None
    serial_number: OptStr = None
    suggested_area: OptStr = None
    via_device: OptStr = None
    configuration_url: OptStr = None

    @model_validator(mode="after")
    def _identified(self) -> DeviceDescription:
        if not self.identifiers and not self.connections:
            raise ValueError("device needs 'identifiers' ('ids') or 'connections' ('cns')")
        return self


class OriginInfo(BaseModel):
    """The ``origin`` mapping: which application published the config."""

    model_config = _TOLERANT

    name: Str
    sw_version: OptStr = None
    support_url: OptStr = None


class AvailabilitySpec(BaseModel):
    """One availability topic and the payloads that mean online / offline."""

    model_config = _TOLERANT

    topic: Annotated[str, BeforeValidator(_ha_string), AfterValidator(valid_subscribe_filter)]
    payload_available: Str = "online"
    payload_not_available: Str = "offline"
    value_template: OptStr = None


class DiscoveredEntity(BaseModel):
    """One entity (or trigger / tag) announced by a third-party discovery config.

    ``node_id`` / ``object_id`` come from the discovery topic (for device-based discovery: the
    device id and the component id). The config's own ``object_id`` (the entity-id hint of HA
    2024.x-2025.x) is folded into ``default_entity_id``.
    """

    model_config = ConfigDict(  # allow_inf_nan: a "nan" min_temp or "inf" step is an error
        extra="ignore", frozen=True, protected_namespaces=(), populate_by_name=True,
        allow_inf_nan=False,
    )

    component: str
    discovery_topic: str
    node_id: str | None = None
    object_id: str | None = None
    unique_id: OptStr = None
    name: OptStr = None
    default_entity_id: OptStr = None
    state_topic: SubTopic = None
    command_topic: PubTopic = None
    json_attributes_topic: SubTopic = None
    json_attributes_template: OptStr = None
    value_template: OptStr = None
    command_template: OptStr = None
    availability: list[AvailabilitySpec] = Field(default_factory=list)
    availability_mode: Literal["latest", "all", "any"] = "latest"
    device: DeviceDescription | None = None
    origin: OriginInfo | None = None
    device_class: OptStr = None
    state_class: OptStr = None
    unit_of_measurement: OptStr = None
    entity_category: Literal["config", "diagnostic"] | None = None
    icon: OptStr = None
    enabled_by_default: bool = True
    options: list[Str] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    mode: OptStr = None
    payload_on: OptStr = None
    payload_off: OptStr = None
    state_on: OptStr = None
    state_off: OptStr = None
    payload_press: OptStr = None
    event_types: list[Str] | None = None
    image_topic: SubTopic = None
    url_topic: SubTopic = None
    image_encoding: OptStr = None
    content_type: OptStr = None
    expire_after: int | None = Field(default=None, ge=0)
    force_update: bool = False
    suggested_display_precision: int | None = Field(default=None, ge=0)
    encoding: str = "utf-8"
    qos: int = Field(default=0, ge=0, le=2)
    retain: bool = False
    optimistic: bool | None = None
    light_schema: Literal["basic", "json", "template"] | None = Field(default=None, alias="schema")
    raw: dict[str, Any] = Field(default_factory=dict)

    # A platform's schema (core/platforms/<platform>.py) sets these: keys it fills in when the
    # config leaves them out, and keys it cannot work without (checked on the normalised config).
    DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    # The shared options of a device-based config (core.discovery.schema.SHARED_OPTIONS) that
    # Home Assistant's schema for this platform has no key for: a component does not inherit
    # them (HA merges every shared option, then the platform's DISCOVERY_SCHEMA drops the keys
    # it does not know, vol.REMOVE_EXTRA). A button inherits no ``state_topic``, a sensor no
    # ``command_topic``. Only inherited options: a component's own keys are validated as ever.
    NOT_INHERITED: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        *,
        component: str,
        discovery_topic: str,
        node_id: str | None,
        object_id: str | None,
    ) -> DiscoveredEntity:
        """Validate a normalised config (raises ``pydantic.ValidationError``)."""
        data = {k: v for k, v in config.items() if k not in ("object_id", "platform", "raw")}
        hint = config.get("object_id")
        if "default_entity_id" not in data and isinstance(hint, str | int) and str(hint):
            data["default_entity_id"] = f"{component}.{hint}"
        data.update(
            component=component,
            discovery_topic=discovery_topic,
            node_id=node_id,
            object_id=object_id,
            raw=config,
        )
        return cls.model_validate(data)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "availability" in data and "availability_topic" in data:
            raise ValueError("'availability' and 'availability_topic' are mutually exclusive")
        if "availability_topic" in data:
            single = {"topic": data["availability_topic"]}
            for src, dst in (
                ("payload_available", "payload_available"),
                ("payload_not_available", "payload_not_available"),
                ("availability_template", "value_template"),
            ):
                if src in data:
                    single[dst] = data[src]
            data["availability"] = [single]
        elif isinstance(data.get("availability"), dict):
            data["availability"] = [data["availability"]]
        for key, value in cls.DEFAULTS.items():
            data.setdefault(key, value)
        return data

    @field_validator("event_types", "options", mode="before")
    @classmethod
    def _list_only(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, list):
            raise ValueError("expected a list")
        return value

    @model_validator(mode="after")
    def _required(self) -> DiscoveredEntity:
        missing = [key for key in self.REQUIRED if self.raw.get(key) in (None, "")]
        if missing:
            raise ValueError(f"{self.component} needs {', '.join(map(repr, missing))}")
        return self

    # ---- compact storage (the registry keeps tens of thousands of these) -----------------
    def compact(self) -> None:
        """Drop from this instance's storage the fields that hold the very object the config
        (``raw``) holds under their name, and those that hold their default and are not in the
        config (both read back, see :meth:`__getattr__`): a config sets a handful of the
        schema's fifty-odd keys, and the registry keeps tens of thousands of these (a
        fifty-key dict each was a fifth of its memory; a copy of the config's keys another
        tenth). The instance is frozen, so nothing is ever written back."""
        defaults = _defaults(type(self))
        raw = self.raw
        kept = {}
        for name, value in self.__dict__.items():
            if name in HOT_FIELDS:  # read on every state message: kept, default or not
                kept[name] = value
                continue
            held = raw.get(name, _MISSING)
            if held is value:
                continue
            default = defaults.get(name, _MISSING)
            if held is _MISSING and (value is default
                                     or (type(value) is type(default) and value == default)):
                continue
            kept[name] = value
        object.__setattr__(self, "__dict__", kept)  # a new, small dict (dicts never shrink)

    def __getattr__(self, name: str) -> Any:
        # Reached only for names missing from the instance: a field compact() dropped, which
        # is the config's own value if the config has the name, else the field's default.
        try:
            default = _defaults(type(self))[name]
        except KeyError:
            return super().__getattr__(name)  # type: ignore[misc]
        return self.__dict__["raw"].get(name, default)

    @property
    def key(self) -> str:
        """Stable registry key: ``unique_id``, else component, node and object id."""
        if self.unique_id:
            return self.unique_id
        return f"{self.component}.{self.node_id or ''}.{self.object_id}"

    @property
    def discovery_id(self) -> tuple[str, str | None, str | None]:
        """What HA keys a discovered component by: (component, node_id, object_id)."""
        return (self.component, self.node_id, self.object_id)

    def state_topics(self) -> tuple[str, ...]:
        """Every topic to subscribe to for this entity's state, attributes and availability.

        Any config key ending in ``topic`` counts except command topics (``*command*``,
        ``set_*``), so platform-specific ones (light ``brightness_state_topic``, climate
        ``current_temperature_topic``, camera / tag / trigger ``topic`` ...) are included.
        """
        found: dict[str, None] = {}
        for key in ("state_topic", "json_attributes_topic"):
            value = self.raw.get(key)
            if isinstance(value, str) and value:
                found[value] = None
        for key, value in self.raw.items():
            if (
                key.endswith("topic")
                and "command" not in key
                and not key.startswith("set_")
                and key != "availability_topic"
                and isinstance(value, str)
                and value
            ):
                found[value] = None
        for spec in self.availability:
            found[spec.topic] = None
        return tuple(found)


_MISSING = object()
# Fields read on every state message (a read back through __getattr__ costs ~1.5 us, a stored
# one ~0.1 us): compact() keeps them when the config sets them.
HOT_FIELDS = frozenset({"raw", "device_class", "availability_mode", "unit_of_measurement",
                        "options", "expire_after", "force_update"})


def _defaults(cls: type[DiscoveredEntity]) -> dict[str, Any]:
    """Each field's default (computed once per class, kept on the class)."""
    found = cls.__dict__.get("spark_field_defaults")
    if found is None:
        found = {name: info.get_default(call_default_factory=True)
                 for name, info in cls.model_fields.items() if not info.is_required()}
        found.pop("raw", None)
        type.__setattr__(cls, "spark_field_defaults", found)
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Removal:
    """An empty config: forget what ``discovery_topic`` announced.

    For a whole device-based topic ``component`` is ``"device"`` (drop every component it
    announced); for one entry of ``components`` it names that component's platform and ids.
    """

    discovery_topic: str
    component: str
    node_id: str | None
    object_id: str | None

    @property
    def is_device(self) -> bool:
        return self.component == "device"

    @property
    def discovery_id(self) -> tuple[str, str | None, str | None]:
        return (self.component, self.node_id, self.object_id)
