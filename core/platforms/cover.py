"""``cover``, with Home Assistant's MQTT cover semantics (``components/mqtt/cover.py`` of HA
2024.8-2025.4, plus ``payload_stop_tilt`` of 2025.x).

- State (``state_topic`` through ``value_template``): ``state_open`` / ``state_opening`` /
  ``state_closed`` / ``state_closing`` (defaults ``open``, ``opening``, ``closed``,
  ``closing``) become ``open`` ... ``closing``; ``state_stopped`` (``stopped``) becomes
  ``closed`` when the position is 0 (with a position topic) or when the cover was closing
  (without), else ``open``; ``None`` makes it unknown; an empty payload is ignored; anything
  else is refused.
- Position (``position_topic`` through ``position_template``, which also sees
  ``position_open`` / ``position_closed`` / ``tilt_min`` / ``tilt_max``): a number, or JSON
  ``{"position": .., "tilt_position": ..}``, scaled from ``position_closed..position_open`` to
  0..100 into attribute ``current_position``; without a state topic it also sets the state
  (``closed`` at 0, else ``open``).
- Tilt (``tilt_status_topic`` through ``tilt_status_template``): ``tilt_min..tilt_max`` (either
  way round) scaled to attribute ``current_tilt_position``; out of range is refused.
- Services: ``open_cover`` / ``close_cover`` / ``stop_cover`` publish ``payload_open`` /
  ``payload_close`` / ``payload_stop`` to ``command_topic`` (no template, as HA; a payload set
  to null removes the service); ``set_cover_position`` publishes the scaled position to
  ``set_position_topic`` through ``set_position_template`` (variables ``position`` = the
  percentage, ``position_open``, ...); the tilt services publish to ``tilt_command_topic``
  (``tilt_opened_value``, ``tilt_closed_value``, the scaled tilt through
  ``tilt_command_template``, ``payload_stop_tilt``); ``toggle`` as HA's ``CoverEntity``
  (``cover/__init__.py`` ``_get_toggle_function``): stop a moving cover when it can stop,
  open a closed or closing one, close a fully open (position 100) or opening one, else go the
  other way from the last ``opening`` / ``closing`` the cover reported (close when none);
  ``toggle_cover_tilt`` as HA's MQTT cover (no memory): open when the tilt is at or below
  ``tilt_closed_value``, else close (an unknown tilt closes).
- Optimistic (HA's rule): ``optimistic: true``, or each of position, state and tilt is absent
  or has a command topic without its state topic. The tilt alone is optimistic without
  ``tilt_status_topic`` (or with ``tilt_optimistic``).
- Panel: open / stop / close buttons and a position slider (when ``set_position_topic`` is
  set). Voice: the cover can be asked about.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity, OptStr, PubTopic, Str, SubTopic
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms._families import (
    CLOSED,
    CLOSING,
    OPEN,
    OPENING,
    movement,
    needs,
    render_part,
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

# The entity's memo key for the direction of the last movement it reported (True: opening):
# HA's ``_cover_is_last_toggle_direction_open``, set only by an ``opening`` / ``closing``
# state (not by our calls, nor by optimistic states, nor by positions), kept across config
# updates (HA keeps the entity), forgotten when the entity is removed.
LAST_OPEN = "last_toggle_open"


class CoverSchema(DiscoveredEntity):
    position_topic: SubTopic = None
    tilt_status_topic: SubTopic = None
    set_position_topic: PubTopic = None
    tilt_command_topic: PubTopic = None
    payload_open: OptStr = "OPEN"
    payload_close: OptStr = "CLOSE"
    payload_stop: OptStr = "STOP"
    payload_stop_tilt: OptStr = "STOP"
    state_open: Str = OPEN
    state_opening: Str = OPENING
    state_closed: Str = CLOSED
    state_closing: Str = CLOSING
    state_stopped: Str = "stopped"
    position_open: int = 100
    position_closed: int = 0
    tilt_min: int = 0
    tilt_max: int = 100
    tilt_opened_value: int = 100
    tilt_closed_value: int = 0
    tilt_optimistic: bool = False

    @model_validator(mode="after")
    def _pairs(self) -> CoverSchema:
        raw = self.raw
        for needing, key in (("set_position_topic", "position_topic"),
                             ("value_template", "state_topic"),
                             ("position_template", "position_topic"),
                             ("set_position_template", "set_position_topic"),
                             ("tilt_command_template", "tilt_command_topic"),
                             ("tilt_status_template", "tilt_status_topic")):
            if raw.get(needing) is not None and raw.get(key) is None:
                raise ValueError(f"'{needing}' must be set together with '{key}'")
        # an empty range would divide by zero on every message (HA logs a traceback each time)
        if self.position_open == self.position_closed:
            raise ValueError("position_open and position_closed must differ")
        if self.tilt_min == self.tilt_max:
            raise ValueError("tilt_min and tilt_max must differ")
        return self

    @property
    def pos_range(self) -> tuple[int, int]:
        return (self.position_closed + 1, self.position_open)

    @property
    def tilt_range(self) -> tuple[int, int]:
        return (self.tilt_min + 1, self.tilt_max)

    def variables(self, entity_id: str, **extra: Any) -> dict[str, Any]:
        """The template variables HA passes to the position and tilt templates."""
        return {"entity_id": entity_id, "position_open": self.position_open,
                "position_closed": self.position_closed, "tilt_min": self.tilt_min,
                "tilt_max": self.tilt_max, **extra}


def _schema(entity: Entity) -> CoverSchema:
    return spec_of(entity, CoverSchema)


def _render(entity: Entity, key: str, payload: bytes) -> str:
    return render_part(entity, key, payload, **_schema(entity).variables(entity.entity_id))


class Cover(Platform):
    name = "cover"
    Schema = CoverSchema
    services = ("open_cover", "close_cover", "stop_cover", "set_cover_position", "toggle",
                "open_cover_tilt", "close_cover_tilt", "stop_cover_tilt",
                "set_cover_tilt_position", "toggle_cover_tilt")
    state_topics = ("position_topic", "tilt_status_topic")
    state_attributes = True
    blocked_attributes = frozenset({"current_position", "current_tilt_position"})
    control = Control("group", parts=(
        Control("button", service="open_cover", label="Open", needs="command_topic"),
        Control("button", service="stop_cover", label="Stop", needs="command_topic"),
        Control("button", service="close_cover", label="Close", needs="command_topic"),
        Control("slider", service="set_cover_position", field="position",
                value="current_position", needs="set_position_topic"),
    ))
    # HA's HassTurnOn / HassTurnOff for covers are "open" / "close" (never "stop": it is not
    # "close"); HassSetPosition "set the blind to forty percent"; opening always asked back.
    confirm_calls = True  # the agent asks first
    words = Words(listed=True, setter="number", on_verbs=("open", "raise", "lift"),
                  off_verbs=("close", "shut", "lower"), on_service="open_cover",
                  off_service="close_cover",
                  level=Level("set_cover_position", "position", noun="position"))

    # ---- state -----------------------------------------------------------------------------
    def state(self, entity: Entity, payload: bytes) -> Any:
        spec = _schema(entity)
        value = self.render(entity, payload)
        if not value:
            return IGNORE
        if value == spec.state_stopped:
            if spec.position_topic is not None:
                return CLOSED if entity.attributes.get("current_position") == 0 else OPEN
            return CLOSED if entity.state in (CLOSED, CLOSING) else OPEN
        state = movement(spec, value)
        if state is not None:
            if state in (OPENING, CLOSING):  # HA's CoverEntity.state: the toggle's memory
                entity.memo[LAST_OPEN] = state == OPENING
            return state
        if value == "None":
            return None
        raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a cover state "
                           "(open, closed, opening, closing, stopped)")

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        if key == "tilt_status_topic":
            tilt = _render(entity, "tilt_status_template", payload)
            if tilt:
                self._tilt(entity, tilt)
            return IGNORE
        spec = _schema(entity)
        value: Any = _render(entity, "position_template", payload)
        if not value:
            return IGNORE
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = None
        if data and isinstance(data, dict):
            if "position" not in data:
                raise PayloadError(f"{entity.entity_id}: position JSON without 'position'")
            if "tilt_position" in data:
                self._tilt(entity, data["tilt_position"])
            value = data["position"]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PayloadError(f"{entity.entity_id}: position {str(value)[:40]!r} is not numeric")
        percentage = to_percentage(spec.pos_range, number(str(value), entity.entity_id))
        position = min(100, max(0, percentage))
        entity.attributes["current_position"] = position
        if spec.state_topic is None:
            return CLOSED if position == 0 else OPEN
        return IGNORE

    @staticmethod
    def _tilt(entity: Entity, value: Any) -> None:
        spec = _schema(entity)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PayloadError(f"{entity.entity_id}: tilt {str(value)[:40]!r} is not numeric")
        tilt = round(number(str(value), f"{entity.entity_id} tilt"))
        low, high = sorted((spec.tilt_min, spec.tilt_max))
        if not low <= tilt <= high:
            raise PayloadError(f"{entity.entity_id}: tilt {tilt} is outside "
                               f"{spec.tilt_min}..{spec.tilt_max}")
        entity.attributes["current_tilt_position"] = to_percentage(spec.tilt_range, tilt)

    # ---- optimistic ------------------------------------------------------------------------
    def optimistic(self, entity: Entity) -> bool:
        """HA's rule: position, state and tilt each absent or command-only, i.e. none of
        ``position_topic``, ``state_topic``, ``tilt_status_topic`` (or ``optimistic``)."""
        spec = _schema(entity)
        return bool(spec.optimistic) or (spec.position_topic is None
                                         and spec.state_topic is None
                                         and spec.tilt_status_topic is None)

    @staticmethod
    def tilt_optimistic(entity: Entity) -> bool:
        spec = _schema(entity)
        return spec.tilt_optimistic or spec.tilt_status_topic is None

    # ---- services --------------------------------------------------------------------------
    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service == "toggle":
            service = self._toggle(entity)
        elif service == "toggle_cover_tilt":
            tilt = entity.attributes.get("current_tilt_position")
            closed = to_percentage(spec.tilt_range, spec.tilt_closed_value)
            tilted_shut = isinstance(tilt, int) and tilt <= closed
            service = "open_cover_tilt" if tilted_shut else "close_cover_tilt"
        if service in ("open_cover", "close_cover", "stop_cover"):
            return self._move(entity, service)
        if service == "set_cover_position":
            needs(entity, "set_position_topic", service)
            percentage = data_percentage(data, "position", service)
            ranged = round(from_percentage(spec.pos_range, percentage))
            state = CLOSED if percentage <= spec.position_closed else OPEN
            return Order(str(ranged), state, publishes=(Publish(
                "set_position_topic", ranged, "set_position_template",
                spec.variables(entity.entity_id, position=percentage)),),
                assume={"current_position": percentage})
        if service in ("open_cover_tilt", "close_cover_tilt", "set_cover_tilt_position",
                       "stop_cover_tilt"):
            return self._tilt_order(entity, service, data)
        raise self.refuse(entity, service)

    def _toggle(self, entity: Entity) -> str:
        """HA's ``CoverEntity`` toggle: stop a moving cover (when it can), open a closed or
        closing one, close a fully open (position 100) or opening one, and otherwise go the
        other way from the last movement the cover reported (close when it never did)."""
        spec = _schema(entity)
        can_stop = bool(spec.command_topic) and spec.payload_stop is not None
        return toggle_service(entity.state, can_stop, ("open_cover", "close_cover", "stop_cover"),
                              position=entity.attributes.get("current_position"),
                              last_open=entity.memo.get(LAST_OPEN, True))

    def _move(self, entity: Entity, service: str) -> Order:
        spec = _schema(entity)
        key = {"open_cover": "payload_open", "close_cover": "payload_close",
               "stop_cover": "payload_stop"}[service]
        payload = getattr(spec, key)
        if spec.command_topic is None or payload is None:
            missing = "command_topic" if spec.command_topic is None else key
            raise ServiceError(f"{entity.entity_id} cannot {service}: its config has no "
                               f"{missing}")
        if service == "stop_cover":
            return Order(payload, None, publishes=(Publish("command_topic", payload),))
        state = OPEN if service == "open_cover" else CLOSED
        assume = ({"current_position": 100 if state == OPEN else 0}
                  if spec.position_topic else {})
        return Order(payload, state, publishes=(Publish("command_topic", payload),),
                     assume=assume)

    def _tilt_order(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        spec = _schema(entity)
        needs(entity, "tilt_command_topic", service)
        optimistic = self.tilt_optimistic(entity)
        if service == "stop_cover_tilt":
            if spec.payload_stop_tilt is None:
                raise ServiceError(f"{entity.entity_id} cannot {service}: payload_stop_tilt "
                                   "is null")
            stop = spec.payload_stop_tilt
            return Order(stop, None, publishes=(Publish("tilt_command_topic", stop),),
                         optimistic=optimistic)
        if service == "set_cover_tilt_position":
            percentage = data_percentage(data, "tilt_position", service)
            value = round(from_percentage(spec.tilt_range, percentage))
        else:
            value = (spec.tilt_opened_value if service == "open_cover_tilt"
                     else spec.tilt_closed_value)
            percentage = to_percentage(spec.tilt_range, value)
        variables = spec.variables(entity.entity_id, tilt_position=(
            percentage if service == "set_cover_tilt_position" else value))
        return Order(str(value), None, publishes=(Publish(
            "tilt_command_topic", value, "tilt_command_template", variables),),
            assume={"current_tilt_position": percentage}, optimistic=optimistic)
