"""``vacuum``, with Home Assistant's MQTT vacuum semantics (HA 2025.4, the ``state`` schema, the
only one left).

- State: ``state_topic`` carries JSON: ``state`` (``cleaning``, ``docked``, ``paused``,
  ``idle``, ``returning``, ``error``; null: unknown; anything else leaves the state),
  ``battery_level`` and ``fan_speed`` become attributes. A payload that is not a JSON object is
  ignored. ``fan_speed_list`` is an attribute too.
- ``supported_features`` (default ``start``, ``stop``, ``return_home``, ``status``,
  ``battery``, ``clean_spot``) decides which services work; another is refused.
- ``start`` / ``pause`` / ``stop`` / ``return_to_base`` / ``clean_spot`` / ``locate`` publish
  ``payload_<service>`` (defaults: the service's name) to ``command_topic``;
  ``set_fan_speed`` publishes the speed (one of ``fan_speed_list``) to ``set_fan_speed_topic``;
  ``send_command`` publishes the command, or JSON ``{"command": ..., **params}`` with params, to
  ``send_command_topic``. Nothing is optimistic: the vacuum reports its state.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import field_validator

from spark.core.discovery.models import DiscoveredEntity, PubTopic, Str
from spark.core.errors import ServiceError
from spark.core.platforms._families import check_features, spec_of
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Publish, Words

STATES = frozenset({"cleaning", "docked", "paused", "idle", "returning", "error"})
FEATURES = ("start", "stop", "pause", "return_home", "battery", "status", "locate",
            "clean_spot", "fan_speed", "send_command")
DEFAULT_FEATURES = ("start", "stop", "return_home", "status", "battery", "clean_spot")
# service -> (feature, payload key)
COMMANDS = {"start": ("start", "payload_start"), "pause": ("pause", "payload_pause"),
            "stop": ("stop", "payload_stop"),
            "return_to_base": ("return_home", "payload_return_to_base"),
            "clean_spot": ("clean_spot", "payload_clean_spot"),
            "locate": ("locate", "payload_locate")}
MAX_COMMAND = 1024


class VacuumSchema(DiscoveredEntity):
    set_fan_speed_topic: PubTopic = None
    send_command_topic: PubTopic = None
    fan_speed_list: list[Str] = []
    payload_start: Str = "start"
    payload_pause: Str = "pause"
    payload_stop: Str = "stop"
    payload_return_to_base: Str = "return_to_base"
    payload_clean_spot: Str = "clean_spot"
    payload_locate: Str = "locate"
    supported_features: tuple[str, ...] = DEFAULT_FEATURES

    @field_validator("supported_features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return check_features(value, FEATURES)

    @field_validator("fan_speed_list", mode="before")
    @classmethod
    def _speeds(cls, value: Any) -> Any:
        if not isinstance(value, list) or len(value) > 64:
            raise ValueError("fan_speed_list must be a list of at most 64 speeds")
        return value


def _schema(entity: Entity) -> VacuumSchema:
    return spec_of(entity, VacuumSchema)


class Vacuum(Platform):
    name = "vacuum"
    Schema = VacuumSchema
    services = (*COMMANDS, "set_fan_speed", "send_command")
    state_attributes = True
    control = Control("group", parts=(
        Control("button", service="start", label="Start", needs="command_topic"),
        Control("button", service="pause", label="Pause", needs="command_topic"),
        Control("button", service="stop", label="Stop", needs="command_topic"),
        Control("button", service="return_to_base", label="Dock", needs="command_topic"),
    ))
    # HA's HassVacuumStart / HassVacuumReturnToBase: "start the vacuum", "dock the vacuum"
    words = Words(listed=True, on_verbs=("start",), off_verbs=("dock", "return"),
                  on_service="start", off_service="return_to_base")

    def state(self, entity: Entity, payload: bytes) -> Any:
        spec = _schema(entity)
        entity.attributes["fan_speed_list"] = list(spec.fan_speed_list)
        try:
            data = orjson.loads(self.render(entity, payload))
        except orjson.JSONDecodeError:
            return IGNORE
        if not isinstance(data, dict):
            return IGNORE
        for key in ("battery_level", "fan_speed"):
            if key in data and (data[key] is None or isinstance(data[key], str | int | float)):
                entity.attributes[key] = data[key]
        if "state" not in data:
            return IGNORE
        state = data["state"]
        if state is None:
            return None
        return state if state in STATES else IGNORE

    def optimistic(self, entity: Entity) -> bool:
        return False

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        if service == "set_fan_speed":
            return {"fan_speed": {"type": "string",
                                  "enum": list(_schema(entity).fan_speed_list)}}
        if service == "send_command":
            return {"command": {"type": "string", "maxLength": MAX_COMMAND}}
        return {}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service in COMMANDS:
            feature, key = COMMANDS[service]
            self._supports(entity, spec, feature, service)
            payload = getattr(spec, key)
            return Order(payload, None, publishes=(Publish("command_topic", payload),))
        if service == "set_fan_speed":
            self._supports(entity, spec, "fan_speed", service)
            speed = data.get("fan_speed")
            if not isinstance(speed, str) or speed not in spec.fan_speed_list:
                raise ServiceError(f"set_fan_speed on {entity.entity_id}: fan_speed must be "
                                   f"one of {spec.fan_speed_list[:10]}")
            return Order(speed, None, publishes=(Publish("set_fan_speed_topic", speed),))
        if service == "send_command":
            self._supports(entity, spec, "send_command", service)
            command, params = data.get("command"), data.get("params")
            if not isinstance(command, str) or not command or len(command) > MAX_COMMAND:
                raise ServiceError(f"send_command needs a 'command' of 1..{MAX_COMMAND} "
                                   "characters")
            if params is not None and not isinstance(params, dict):
                raise ServiceError("send_command: 'params' must be an object")
            payload = (orjson.dumps({"command": command, **params}).decode() if params
                       else command)
            if len(payload) > 16 * MAX_COMMAND:
                raise ServiceError("send_command: params too large")
            return Order(payload, None, publishes=(Publish("send_command_topic", payload),))
        raise self.refuse(entity, service)

    @staticmethod
    def _supports(entity: Entity, spec: VacuumSchema, feature: str, service: str) -> None:
        if feature not in spec.supported_features:
            raise ServiceError(f"{service}: {entity.entity_id} does not support {feature} "
                               "(not in its supported_features)")
