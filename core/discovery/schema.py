"""Parse third-party Home Assistant discovery messages into typed entities.

``parse_discovery`` is pure and total: it returns entities or a removal, or raises
``PayloadError`` with a message naming the topic. It never raises anything else.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeGuard

import orjson
from pydantic import ValidationError

from spark.core.discovery.models import (
    AvailabilitySpec,
    DeviceDescription,
    DiscoveredEntity,
    OriginInfo,
    Removal,
)
from spark.core.discovery.normalize import normalize
from spark.core.errors import PayloadError
from spark.core.platforms.catalogue import catalogue, schema_for
from spark.core.topics import DiscoveryTopic

__all__ = [
    "MAX_DISCOVERY_BYTES",
    "PLATFORMS",
    "SHARED_OPTIONS",
    "AvailabilitySpec",
    "DeviceDescription",
    "DiscoveredEntity",
    "DiscoveryItem",
    "OriginInfo",
    "Removal",
    "normalize",
    "parse_discovery",
    "topic_name",
]

MAX_DISCOVERY_BYTES = 256 * 1024

PLATFORMS = frozenset(
    {
        "alarm_control_panel",
        "binary_sensor",
        "button",
        "camera",
        "climate",
        "cover",
        "device_automation",
        "device_tracker",
        "event",
        "fan",
        "humidifier",
        "image",
        "lawn_mower",
        "light",
        "lock",
        "notify",
        "number",
        "scene",
        "select",
        "sensor",
        "siren",
        "switch",
        "tag",
        "text",
        "update",
        "vacuum",
        "valve",
        "water_heater",
    }
)


def known_platform(name: object) -> TypeGuard[str]:
    """One of Home Assistant's MQTT platforms, or one we have a module for (core/platforms/)."""
    return isinstance(name, str) and (name in PLATFORMS or name in catalogue())


# Components of a device-based config that are not entities and need no unique_id.
NON_ENTITY_PLATFORMS = frozenset({"device_automation", "tag"})

# Top-level options of a device-based config that components inherit unless they set their own
# (HA's SHARED_OPTIONS), each only where the platform's schema has that key (its NOT_INHERITED).
SHARED_OPTIONS = (
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "command_topic",
    "encoding",
    "payload_available",
    "payload_not_available",
    "qos",
    "state_topic",
)
_AVAILABILITY_FORMS = ("availability", "availability_topic")

DiscoveryItem: TypeAlias = DiscoveredEntity | Removal


def topic_name(topic: DiscoveryTopic) -> str:
    """The discovery topic below the prefix, e.g. ``sensor/node/temp/config``."""
    parts = [topic.component, topic.node_id, topic.object_id, "config"]
    return "/".join(p for p in parts if p)


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        problems.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (+{more} more)" if more > 0 else "")


def _load(payload: bytes, name: str) -> dict[str, Any]:
    try:
        config = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"discovery payload on {name} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise PayloadError(
            f"discovery payload on {name} must be a JSON object, got {type(config).__name__}"
        )
    return config


def _entity(
    config: dict[str, Any],
    component: str,
    node_id: str | None,
    object_id: str | None,
    name: str,
    where: str,
) -> DiscoveredEntity:
    try:
        return schema_for(component).from_config(
            config,
            component=component,
            discovery_topic=name,
            node_id=node_id,
            object_id=object_id,
        )
    except ValidationError as exc:
        raise PayloadError(f"invalid discovery payload on {where}: {_describe(exc)}") from exc


def _component(
    config: dict[str, Any], device_id: str, component_id: str, comp: Any, name: str
) -> DiscoveryItem:
    where = f"component {component_id!r} on {name}"
    if not isinstance(comp, dict):
        raise PayloadError(f"{where} must be a JSON object, got {type(comp).__name__}")
    platform = comp.get("platform")
    if not known_platform(platform):
        raise PayloadError(f"{where}: unknown or missing platform ('p') {platform!r}")
    merged = {k: v for k, v in comp.items() if k != "platform"}
    if not merged:  # {"p": "sensor"} alone removes the component
        return Removal(name, platform, device_id, component_id)
    merged["device"] = config["device"]
    merged["origin"] = config["origin"]
    own_availability = any(k in merged for k in _AVAILABILITY_FORMS)
    not_inherited = schema_for(platform).NOT_INHERITED  # HA's schema would drop these
    for option in SHARED_OPTIONS:
        if option in config and option not in merged and option not in not_inherited:
            if own_availability and option in _AVAILABILITY_FORMS:
                continue
            merged[option] = config[option]
    if platform not in NON_ENTITY_PLATFORMS and not merged.get("unique_id"):
        raise PayloadError(f"{where}: 'unique_id' is required in device-based discovery")
    return _entity(merged, platform, device_id, component_id, name, where)


def _check_shared(config: dict[str, Any], name: str) -> None:
    """Validate the shared options once, at the device level, as HA's DEVICE_DISCOVERY_SCHEMA
    does (a bad one rejects the whole payload): a component that does not inherit one (a
    sensor, the shared ``command_topic``) must not let it through unchecked."""
    shared = {k: config[k] for k in SHARED_OPTIONS if k in config}
    if not shared:
        return
    try:
        DiscoveredEntity.from_config(shared, component="device", discovery_topic=name,
                                     node_id=None, object_id=None)
    except ValidationError as exc:
        raise PayloadError(f"invalid shared options on {name}: {_describe(exc)}") from exc


def _device(
    topic: DiscoveryTopic, config: dict[str, Any], name: str, errors: list[PayloadError] | None
) -> list[DiscoveryItem]:
    for key, short in (("device", "dev"), ("origin", "o")):
        if not isinstance(config.get(key), dict):
            raise PayloadError(
                f"device-based discovery payload on {name} needs a '{key}' ('{short}') object"
            )
    components = config.get("components")
    if not isinstance(components, dict) or not components:
        raise PayloadError(
            f"device-based discovery payload on {name} needs a non-empty 'components' ('cmps')"
        )
    _check_shared(config, name)
    device_id = topic.object_id or ""
    items: list[DiscoveryItem] = []
    for component_id, comp in components.items():
        try:
            items.append(_component(config, device_id, component_id, comp, name))
        except PayloadError as exc:
            if errors is None:
                raise
            errors.append(exc)
    return items


def _parse(
    topic: DiscoveryTopic,
    payload: bytes | bytearray | memoryview | str,
    max_bytes: int,
    name: str,
    errors: list[PayloadError] | None,
) -> list[DiscoveryItem] | Removal:
    if isinstance(payload, str):
        payload = payload.encode()
    elif not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadError(
            f"discovery payload on {name} must be bytes, got {type(payload).__name__}"
        )
    data = bytes(payload)
    if len(data) > max_bytes:
        raise PayloadError(
            f"discovery payload on {name} is {len(data)} bytes, more than the {max_bytes} allowed"
        )
    if not topic.is_device and not known_platform(topic.component):
        raise PayloadError(f"discovery topic {name} names unknown platform {topic.component!r}")
    if not data:
        return Removal(name, topic.component, topic.node_id, topic.object_id)
    raw = _load(data, name)
    try:
        config = normalize(raw)
    except PayloadError as exc:
        raise PayloadError(f"discovery payload on {name}: {exc}") from exc
    if topic.is_device:
        return _device(topic, config, name, errors)
    return [_entity(config, topic.component, topic.node_id, topic.object_id, name, name)]


def parse_discovery(
    topic: DiscoveryTopic,
    payload: bytes | bytearray | memoryview | str,
    max_bytes: int = MAX_DISCOVERY_BYTES,
    *,
    raw_topic: str | None = None,
    errors: list[PayloadError] | None = None,
) -> list[DiscoveryItem] | Removal:
    """Parse one retained discovery message.

    - empty payload: a :class:`Removal` naming the topic (for ``device`` topics: the whole device);
    - per-entity topic: a one-item list with the :class:`DiscoveredEntity`;
    - device-based topic: one item per ``components`` entry, each a :class:`DiscoveredEntity`
      (inheriting ``device``, ``origin`` and the :data:`SHARED_OPTIONS` its platform has) or,
      for an entry given only as ``{"p": "<platform>"}``, a :class:`Removal` of that component.

    ``raw_topic`` (the full MQTT topic) is used in messages and as ``discovery_topic``; by default
    the topic below the prefix is. Any problem raises ``PayloadError`` naming the topic. With an
    ``errors`` list, a bad component of a device-based payload is appended there and the others
    are still returned (as HA does); without one it fails the whole message.
    """
    name = raw_topic or topic_name(topic)
    try:
        return _parse(topic, payload, max_bytes, name, errors)
    except PayloadError:
        raise
    except Exception as exc:  # total by contract: a crafted payload must never escape as a crash
        raise PayloadError(
            f"discovery payload on {name} could not be parsed: {type(exc).__name__}: {exc}"
        ) from exc
