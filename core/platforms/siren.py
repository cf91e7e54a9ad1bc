"""``siren``, with Home Assistant's MQTT siren semantics (HA 2025.4).

- State (``state_topic`` through ``state_value_template``): ``state_on`` / ``state_off``
  (defaults ``payload_on`` / ``payload_off``, ``ON`` / ``OFF``) or ``None`` (unknown), or a JSON
  object whose ``state`` is one of those (``null``: unknown) and whose ``tone``,
  ``volume_level`` (0..1) and ``duration`` (seconds, >= 0) become attributes when the siren
  supports them; an empty payload or ``{}`` is ignored, anything else (or an invalid attribute)
  is ignored whole.
- Supported: ``tones`` with ``available_tones`` (an attribute too), ``volume_set`` unless
  ``support_volume_set: false``, ``duration`` unless ``support_duration: false``; a turn-on
  parameter the siren does not support is dropped, an invalid one refused.
- Commands: ``turn_on`` renders ``command_template`` with ``value`` = ``payload_on`` and the
  variables ``state``, ``tone``, ``volume_level``, ``duration``; ``turn_off`` renders
  ``command_off_template`` (else ``command_template``) with ``payload_off``; without a template
  the payload is JSON: ``{"state": "ON", "tone": ...}``. ``toggle`` picks one.
- Optimistic (no ``state_topic`` or ``optimistic: true``): it starts ``off``, and a call sets
  the state and the given attributes at once.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from spark.core.discovery.models import OptStr
from spark.core.errors import ServiceError
from spark.core.platforms._families import spec_of
from spark.core.platforms.base import IGNORE, Entity, OnOff, OnOffSchema, Order, Publish, Words

PARAMS = ("tone", "volume_level", "duration")
MAX_DURATION = 86_400


class SirenSchema(OnOffSchema):
    REQUIRED = ("command_topic",)

    available_tones: list[OptStr] | None = Field(default=None, max_length=256)
    support_duration: bool = True
    support_volume_set: bool = True


def _schema(entity: Entity) -> SirenSchema:
    return spec_of(entity, SirenSchema)


def _supported(spec: SirenSchema) -> set[str]:
    out = set()
    if spec.available_tones:
        out.add("tone")
    if spec.support_volume_set:
        out.add("volume_level")
    if spec.support_duration:
        out.add("duration")
    return out


def _params(spec: SirenSchema, data: dict[str, Any]) -> dict[str, Any]:
    """The turn-on parameters in ``data`` the siren supports, checked (``ValueError``)."""
    out: dict[str, Any] = {}
    supported = _supported(spec)
    for key, value in data.items():
        if key not in PARAMS or key not in supported:
            continue
        if key == "tone":
            tones = spec.available_tones or []
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"tone {str(value)[:40]!r} is not text")
            if value not in tones and str(value) not in tones:
                raise ValueError(f"tone {str(value)[:40]!r} is not one of {tones[:10]}")
        elif key == "volume_level":
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not 0 <= value <= 1:  # (before isfinite: a 400-digit int overflows it)
                raise ValueError(f"volume_level {str(value)[:20]!r} is not in 0..1")
            value = float(value)
        elif isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= MAX_DURATION:
            raise ValueError(f"duration {str(value)[:20]!r} is not whole seconds "
                             f"in 0..{MAX_DURATION}")
        out[key] = value
    return out


class Siren(OnOff):
    name = "siren"
    Schema = SirenSchema
    state_attributes = True
    words = Words(listed=True, switchable=True, ha_domains=("switch",))  # "turn on the siren"

    def state(self, entity: Entity, payload: bytes) -> Any:
        spec = _schema(entity)
        value = self.render_key(entity, "state_value_template", payload)
        attrs = entity.attributes
        if spec.available_tones:
            attrs["available_tones"] = spec.available_tones
        for key in _supported(spec):  # HA shows each supported attribute, None until known
            attrs.setdefault(key, None)
        if not value or value == "{}":
            return IGNORE
        on = spec.state_on if spec.state_on is not None else spec.payload_on
        off = spec.state_off if spec.state_off is not None else spec.payload_off
        if value in (on, off, "None"):
            data: dict[str, Any] = {"state": value}
        else:
            try:
                data = orjson.loads(value)
            except orjson.JSONDecodeError:
                return IGNORE  # HA: "no valid (JSON) payload", ignored
            if not isinstance(data, dict):
                return IGNORE
        new: Any = IGNORE
        if "state" in data:
            state = data.pop("state")
            new = ("on" if state == on else "off" if state == off
                   else None if state in ("None", None) else IGNORE)
        if data:
            try:
                entity.attributes.update(_params(spec, data))
            except ValueError:
                return IGNORE  # HA: "unable to update siren state attributes", ignored whole
        return new

    def initial(self, entity: Entity) -> str | None:
        """HA: an optimistic siren starts off (one with a state topic: unknown)."""
        return "off" if self.optimistic(entity) else None

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        return {}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        if service not in ("turn_on", "turn_off"):
            raise self.refuse(entity, service)
        spec = _schema(entity)
        on = service == "turn_on"
        value = str(spec.payload_on if on else spec.payload_off)
        try:
            params = _params(spec, data) if on else {}
        except ValueError as exc:
            raise ServiceError(f"{service} on {entity.entity_id}: {exc}") from None
        variables = {"state": value, **params}
        template = "command_template"
        if not on and entity.template("command_off_template") is not None:
            template = "command_off_template"
        if entity.template(template) is not None:
            publish = Publish("command_topic", value, template, variables)
        else:
            publish = Publish("command_topic", orjson.dumps(variables).decode())
        return Order(value, "on" if on else "off", publishes=(publish,), assume=params)
