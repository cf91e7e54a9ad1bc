"""``valve``, with Home Assistant's MQTT valve semantics (``components/mqtt/valve.py`` of HA
2024.1-2025.4; ``None`` resetting to unknown is taken from the cover).

- Without ``reports_position``: the state payload (through ``value_template``; or JSON with a
  ``state`` key) is matched against ``state_open`` / ``state_opening`` / ``state_closed`` /
  ``state_closing`` (``open`` ...); ``None`` -> unknown; others refused, empty ignored.
- With ``reports_position: true``: the payload is a position in
  ``position_closed..position_open`` scaled to 0..100 into attribute ``current_position`` (or
  JSON ``{"position": .., "state": ..}``); the state is ``closed`` at 0 else ``open``, unless
  the device says ``opening`` / ``closing`` (kept until the valve reaches 0 or 100).
- Services: ``open_valve`` / ``close_valve`` / ``stop_valve`` publish ``payload_open`` /
  ``payload_close`` / ``payload_stop`` (stop only when set) through ``command_template``; a
  valve that reports its position opens and closes by ``set_valve_position`` 100 / 0, which
  publishes the scaled position through ``command_template`` (variables ``position``,
  ``position_open``, ``position_closed``); ``toggle`` as HA's ``ValveEntity``. Optimistic
  without ``state_topic`` (or ``optimistic: true``).
- Panel: open / stop / close buttons, and a position slider when it reports its position.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity, OptStr, Str
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms._families import (
    CLOSED,
    CLOSING,
    OPEN,
    OPENING,
    movement,
    spec_of,
    toggle_service,
)
from spark.core.platforms._values import data_percentage, from_percentage, number, to_percentage
from spark.core.platforms.base import (
    IGNORE,
    Control,
    Entity,
    Level,
    Order,
    Platform,
    Publish,
    Words,
)


class ValveSchema(DiscoveredEntity):
    reports_position: bool = False
    payload_open: OptStr = None  # default OPEN / CLOSE unless the valve reports its position
    payload_close: OptStr = None
    payload_stop: OptStr = None
    state_open: Str = OPEN
    state_opening: Str = OPENING
    state_closed: Str = CLOSED
    state_closing: Str = CLOSING
    position_open: int = 100
    position_closed: int = 0

    @model_validator(mode="after")
    def _rules(self) -> ValveSchema:
        if not self.reports_position:
            return self
        if any(key in self.raw for key in ("payload_open", "payload_close", "state_open",
                                            "state_closed")):
            raise ValueError("payload_open, payload_close, state_open and state_closed are not "
                             "allowed if the valve reports a position")
        if self.position_open == self.position_closed:  # an empty range: nothing to scale to
            raise ValueError("position_open and position_closed must differ")
        return self

    @property
    def range(self) -> tuple[int, int]:
        return (self.position_closed + 1, self.position_open)

    def payload(self, key: str) -> str | None:
        value = getattr(self, key)
        if value is None and not self.reports_position and key != "payload_stop":
            return "OPEN" if key == "payload_open" else "CLOSE"
        return value


def _schema(entity: Entity) -> ValveSchema:
    return spec_of(entity, ValveSchema)


class Valve(Platform):
    name = "valve"
    Schema = ValveSchema
    services = ("open_valve", "close_valve", "stop_valve", "set_valve_position", "toggle")
    state_attributes = True
    blocked_attributes = frozenset({"current_position"})
    control = Control("group", parts=(
        Control("button", service="open_valve", label="Open", needs="command_topic"),
        Control("button", service="stop_valve", label="Stop", needs="payload_stop"),
        Control("button", service="close_valve", label="Close", needs="command_topic"),
        Control("slider", service="set_valve_position", field="position",
                value="current_position", needs="reports_position"),
    ))
    words = Words(listed=True, setter="number", on_verbs=("open",), off_verbs=("close", "shut"),
                  on_service="open_valve", off_service="close_valve",
                  level=Level("set_valve_position", "position", noun="position"))

    # ---- state -----------------------------------------------------------------------------
    def state(self, entity: Entity, payload: bytes) -> Any:
        spec = _schema(entity)
        value = self.render(entity, payload)
        if not value:
            return IGNORE
        position: Any = value
        state: Any = value
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            if spec.reports_position and "position" not in data:
                raise PayloadError(f"{entity.entity_id}: JSON without 'position'")
            if not spec.reports_position and "state" not in data:
                raise PayloadError(f"{entity.entity_id}: JSON without 'state'")
            position, state = data.get("position"), data.get("state")
        if spec.reports_position:
            return self._position(entity, position, state)
        ours = movement(spec, state)
        if ours is not None:
            return ours
        if state == "None":
            return None
        raise PayloadError(f"{entity.entity_id}: {str(state)[:40]!r} is not a valve state")

    @staticmethod
    def _position(entity: Entity, position: Any, state: Any) -> Any:
        spec = _schema(entity)
        moving = None
        if state == spec.state_opening:
            moving = OPENING
        elif state == spec.state_closing:
            moving = CLOSING
        elif state == "None":
            entity.attributes.pop("current_position", None)
            return None
        if moving is not None and position == state:
            return moving  # only the movement was reported
        if isinstance(position, bool) or not isinstance(position, str | int | float):
            if moving is not None:
                return moving
            raise PayloadError(f"{entity.entity_id}: position {str(position)[:40]!r} is not "
                               "numeric")
        try:
            percentage = to_percentage(spec.range, number(str(position), entity.entity_id))
        except PayloadError:
            if moving is not None:
                return moving
            if state not in (None, position):
                raise PayloadError(f"{entity.entity_id}: {str(state)[:40]!r} is not opening "
                                   "or closing") from None
            raise
        percentage = min(max(percentage, 0), 100)
        entity.attributes["current_position"] = percentage
        if moving is not None:
            return moving
        if entity.state in (OPENING, CLOSING) and percentage not in (0, 100):
            return IGNORE  # still moving
        return CLOSED if percentage == 0 else OPEN

    # ---- services --------------------------------------------------------------------------
    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if not spec.command_topic:
            raise ServiceError(f"{entity.entity_id} has no command topic (read-only)")
        if service == "toggle":
            service = self._toggle(entity)
        if spec.reports_position and service in ("open_valve", "close_valve"):
            service, data = "set_valve_position", {
                "position": 100 if service == "open_valve" else 0}
        if service == "set_valve_position":
            if not spec.reports_position:
                raise ServiceError(f"{entity.entity_id} cannot {service}: it does not report "
                                   "a position (reports_position)")
            percentage = data_percentage(data, "position", service)
            ranged = round(from_percentage(spec.range, percentage))
            variables = {"position": percentage, "position_open": spec.position_open,
                         "position_closed": spec.position_closed}
            # (HA compares the percentage with position_closed, not with 0)
            state = CLOSED if percentage == spec.position_closed else OPEN
            return Order(str(ranged), state, publishes=(
                Publish("command_topic", ranged, "command_template", variables),),
                assume={"current_position": percentage})
        key = {"open_valve": "payload_open", "close_valve": "payload_close",
               "stop_valve": "payload_stop"}[service]
        payload = spec.payload(key)
        if payload is None:
            raise ServiceError(f"{entity.entity_id} cannot {service}: its config has no {key}")
        expect = None if service == "stop_valve" else (
            OPEN if service == "open_valve" else CLOSED)
        return Order(payload, expect, publishes=(
            Publish("command_topic", payload, "command_template"),))

    def _toggle(self, entity: Entity) -> str:
        can_stop = _schema(entity).payload("payload_stop") is not None
        return toggle_service(entity.state, can_stop, ("open_valve", "close_valve", "stop_valve"))
