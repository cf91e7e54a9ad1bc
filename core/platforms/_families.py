"""What the multi-value platforms share, beside the arithmetic in ``_values.py``.

- Every platform: its typed config (:func:`spec_of`), a sub-topic's payload through its own
  template (:func:`render_part`), a service refused for a missing config key (:func:`needs`).
- Platforms with a state topic per attribute (fan, humidifier, climate, water heater):
  :class:`PartsSchema` (HA's per-attribute optimism), a mode attribute from its topic
  (:func:`take_mode`), the attributes an optimistic call takes at once (:func:`assumed`), a
  call's messages as one order (:func:`parts_order`), and the switchable ones' on / off state
  (:class:`OnOffParts`); a sub-topic read through its template or ``value_template``
  (:func:`render_topic`).
- Temperatures (climate, water heater): :class:`TemperatureSchema`, HA's ``precision`` and
  ``temperature_unit`` rules and the precision shown.
- Moving things (cover, valve): the four movement states, a state payload read against the
  config's ``state_*`` keys (:func:`movement`) and HA's toggle (:func:`toggle_service`).
- Feature lists (alarm panel, vacuum): :func:`check_features`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator

from spark.core.discovery.models import DiscoveredEntity, OptStr
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms._values import PRECISIONS
from spark.core.platforms.base import IGNORE, Entity, Order, Platform, Publish

S = TypeVar("S", bound=DiscoveredEntity)
Part = tuple[Publish, bool, dict[str, Any]]  # a message, optimistic?, the attributes it sets


def spec_of(entity: Entity, cls: type[S]) -> S:
    """The entity's config as its platform's schema (the registry parsed it with that one)."""
    spec = entity.spec
    assert isinstance(spec, cls), f"{entity.entity_id} was not parsed as {cls.__name__}"
    return spec


def render_part(entity: Entity, key: str, payload: bytes, **variables: Any) -> str:
    """A payload through the template in config key ``key`` (decoded when there is none)."""
    tpl = entity.template(key)
    if tpl is None:
        return payload.decode("utf-8", "replace")
    return tpl.render(payload, **variables)


def render_topic(entity: Entity, key: str, payload: bytes) -> str:
    """A sub-topic's payload through the template in ``key``, else ``value_template`` (HA's
    climate and water heater), decoded when there is neither."""
    tpl = entity.template(key) or entity.value_tpl
    return payload.decode("utf-8", "replace") if tpl is None else tpl.render(payload)


def needs(entity: Entity, key: str, service: str) -> None:
    """Refuse ``service`` when the entity's config lacks ``key`` (a command topic ...)."""
    if not getattr(entity.spec, key, None):
        raise ServiceError(f"{entity.entity_id} cannot {service}: its config has no {key}")


# ---- a state topic per attribute ---------------------------------------------------------------
class PartsSchema(DiscoveredEntity):
    """A platform whose attributes each have a state topic of their own."""

    def optimistic_for(self, state_topic: str) -> bool:
        """HA's per-attribute rule: optimistic when the config says so or the attribute has no
        state topic."""
        return bool(self.optimistic) or getattr(self, state_topic) is None


def on_off_state(spec: DiscoveredEntity, value: str) -> Any:
    """``payload_on`` / ``payload_off`` -> ``on`` / ``off``, ``None`` -> unknown; anything else
    (empty, unknown) is ignored, as HA's fan and humidifier do."""
    if value == spec.payload_on:
        return "on"
    if value == spec.payload_off:
        return "off"
    if value == "None":
        return None
    return IGNORE


class OnOffParts(Platform):
    """A switchable platform with a state topic per attribute (fan, humidifier): its on / off
    state comes through ``state_value_template``."""

    def state(self, entity: Entity, payload: bytes) -> Any:
        return on_off_state(entity.spec, render_part(entity, "state_value_template", payload))


def take_mode(attrs: dict[str, Any], attribute: str, value: str, reset: str,
              modes: list[str], refused: str) -> None:
    """A mode from its state topic: ``reset`` clears it, empty is ignored, one of ``modes`` is
    taken, anything else is a ``PayloadError`` (``refused`` is its text)."""
    if value == reset:
        attrs[attribute] = None
    elif value:
        if value not in modes:
            raise PayloadError(refused)
        attrs[attribute] = value


def assumed(parts: list[Part]) -> dict[str, Any]:
    """The attributes the optimistic parts of a call set, taken at once."""
    return {k: v for _, optimistic, values in parts if optimistic for k, v in values.items()}


def parts_order(entity: Entity, parts: list[Part], mode: str | None = None) -> Order:
    """One call's messages, in HA's order; those without a command topic are skipped as HA
    does (values without a state topic are still taken). ``mode``: the mode the call sets,
    the state at once when the mode has no state topic (a climate's, a water heater's)."""
    spec = spec_of(entity, PartsSchema)
    publishes = tuple(p for p, _, _ in parts if getattr(spec, p.topic_key, None))
    if not publishes:
        keys = ", ".join(sorted({p.topic_key for p, _, _ in parts}))
        raise ServiceError(f"{entity.entity_id}: its config has no {keys}")
    assume = assumed(parts)
    mode_optimistic = mode is not None and spec.optimistic_for("mode_state_topic")
    if assume or mode_optimistic:
        return Order(str(publishes[0].value), mode if mode_optimistic else None,
                     publishes=publishes, assume=assume, optimistic=True)
    return Order(str(publishes[0].value), mode, publishes=publishes, optimistic=False)


# ---- temperatures ------------------------------------------------------------------------------
def _precision(value: float | None) -> float | None:
    if value is not None and value not in PRECISIONS:
        raise ValueError("precision must be 0.1, 0.5 or 1.0")
    return value


def _unit(value: str | None) -> str | None:
    if value is not None and value not in ("C", "F"):
        raise ValueError("temperature_unit must be C or F")
    return value


class TemperatureSchema(PartsSchema):
    """HA's temperature settings: ``precision`` (0.1, 0.5, 1) and ``temperature_unit``."""

    precision: Annotated[float | None, AfterValidator(_precision)] = None
    temperature_unit: Annotated[OptStr, AfterValidator(_unit)] = None

    @property
    def fahrenheit(self) -> bool:
        return self.temperature_unit == "F"

    @property
    def shown_precision(self) -> float:
        """HA's default: tenths in Celsius, whole degrees in Fahrenheit."""
        if self.precision is not None:
            return self.precision
        return 1.0 if self.fahrenheit else 0.1


# ---- moving things -----------------------------------------------------------------------------
OPEN, OPENING, CLOSED, CLOSING = "open", "opening", "closed", "closing"
_MOVEMENT = (("state_opening", OPENING), ("state_closing", CLOSING), ("state_open", OPEN),
             ("state_closed", CLOSED))


def movement(spec: DiscoveredEntity, value: Any) -> str | None:
    """The movement state whose config key (``state_open`` ...) says ``value``; None: none."""
    for key, state in _MOVEMENT:
        if value == getattr(spec, key):
            return state
    return None


def toggle_service(state: str | None, can_stop: bool, services: tuple[str, str, str], *,
                   position: Any = None, last_open: bool = True) -> str:
    """HA's toggle of a cover (``CoverEntity._get_toggle_function``) or valve, ``services``
    being (open, close, stop): stop a moving one (when it can); open a closed or closing one;
    close one fully open (``position`` 100) or opening; otherwise (open without a position,
    stopped part-way, unknown) go the other way from the last movement it reported
    (``last_open``: HA's ``_cover_is_last_toggle_direction_open``, true until it reports
    ``closing``)."""
    open_, close, stop = services
    if can_stop and state in (OPENING, CLOSING):
        return stop
    if state in (CLOSED, CLOSING):
        return open_
    if position == 100 or state == OPENING:
        return close
    return close if last_open else open_


# ---- feature lists -----------------------------------------------------------------------------
def check_features(value: Any, known: tuple[str, ...]) -> tuple[str, ...]:
    """``supported_features`` as a tuple of known names (a ``ValueError`` otherwise)."""
    if not isinstance(value, list | tuple):
        raise ValueError("supported_features must be a list")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise ValueError(f"supported_features: unknown {unknown[:3]}; known: {', '.join(known)}")
    return tuple(value)
