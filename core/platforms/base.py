"""What every platform module builds on: :class:`Platform` and its shared families.

A platform is a class with a ``name`` and five parts, each overridable:

- ``Schema``: its discovery schema, a :class:`~core.discovery.models.DiscoveredEntity` subclass
  with the platform's ``DEFAULTS``, ``REQUIRED`` keys and cross-field validators;
- :meth:`Platform.state`: how a state message becomes the state (and attributes, an image, a
  fired event);
- ``services`` and :meth:`Platform.command`: the services it has and the command payload each
  publishes (with the state that confirms it); :meth:`Platform.arguments`: the data each
  service takes, as JSON schema (the hub's conversation agent offers them as tools);
- ``control``: the control the panel draws, as data (:class:`Control`; ``ui/controls.py`` maps
  the kind to a widget) and ``display``: how the panel shows the state;
- ``words``: what voice may say to it, as data (:class:`Words`).

The families below play the part of Home Assistant's MQTT entity mixins: :class:`OnOffState`
(``payload_on`` / ``state_on`` -> ``"on"``), :class:`OnOff` (plus ``turn_on`` / ``turn_off`` /
``toggle``). A platform with no module of its own gets :class:`Platform` itself: the rendered
payload is the state, no service, no control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import PayloadError, ServiceError, SparkError


class _Ignore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


IGNORE: Any = _Ignore()  # the payload leaves the state unchanged


@dataclass(slots=True)
class Fired:
    """An event entity fired: its ``event_type`` and the rest of the payload."""

    event_type: str
    data: dict[str, Any]


class Renderer(Protocol):
    def render(self, payload: bytes) -> str: ...


class Entity(Protocol):
    """What a platform reads and writes of a hub entity record (``hub.entity.EntityRecord``)."""

    image: bytes | None

    @property
    def entity_id(self) -> str: ...
    @property
    def spec(self) -> DiscoveredEntity: ...
    @property
    def state(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def value_tpl(self) -> Renderer | None: ...


@dataclass(frozen=True, slots=True)
class Order:
    """A service call turned into a command: the payload, and the state that confirms it."""

    payload: str
    expect: str | None  # None: nothing to wait for


ControlKind = Literal["toggle", "select", "number", "button"]


@dataclass(frozen=True, slots=True)
class Control:
    """The panel's control for a platform, as data.

    ``kind`` picks the widget; ``on`` / ``off`` are the services a toggle calls and ``on_state``
    the state it shows as on; ``service`` is what a select, number or button calls and ``field``
    the data key its value goes in.
    """

    kind: ControlKind
    on: str = "turn_on"
    off: str = "turn_off"
    on_state: str = "on"
    service: str = ""
    field: str = ""

    def call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """The service call for a widget's new value."""
        if self.kind == "toggle":
            return (self.on if value else self.off), {}
        return self.service, ({self.field: value} if self.field else {})


@dataclass(frozen=True, slots=True)
class Words:
    """What voice may say about a platform's entities (data read by ``nodes/voice``).

    ``listed``: its entities are in the vocabulary at all; ``switchable``: "turn on / off",
    "toggle", "set X to on"; ``pressable``: "press X" (and "turn on X" presses); ``setter``:
    "set X to <number>" or "select <option> for X"; ``area_noun``: "the kitchen light" names it.
    """

    listed: bool = False
    switchable: bool = False
    pressable: bool = False
    setter: Literal["number", "option"] | None = None
    area_noun: bool = False


Display = Literal["value", "event", "image"]


class Platform:
    """A platform with no knowledge of its own (and the base of every platform module)."""

    name: ClassVar[str] = ""
    Schema: ClassVar[type[DiscoveredEntity]] = DiscoveredEntity
    services: ClassVar[tuple[str, ...]] = ()
    control: ClassVar[Control | None] = None
    display: ClassVar[Display] = "value"
    words: ClassVar[Words] = Words()

    # ---- state -------------------------------------------------------------------------------
    def state(self, entity: Entity, payload: bytes) -> Any:
        """The new state string, ``None`` (unknown), ``IGNORE`` or a :class:`Fired` event."""
        tpl = entity.value_tpl  # (render inlined: this runs for every state message)
        value = payload.decode("utf-8", "replace") if tpl is None else self.render(entity, payload)
        if value == "None":
            return None
        return self.parse(entity, value)

    def parse(self, entity: Entity, value: str) -> Any:
        """A rendered payload (not ``"None"``) -> state; raise ``PayloadError`` when invalid."""
        return value

    @staticmethod
    def render(entity: Entity, payload: bytes) -> str:
        """The payload through ``value_template`` (or decoded when there is none)."""
        tpl = entity.value_tpl
        if tpl is None:
            return payload.decode("utf-8", errors="replace")
        try:
            return tpl.render(payload)
        except SparkError as exc:
            raise PayloadError(f"value_template of {entity.entity_id}: {exc}") from None

    # ---- services ----------------------------------------------------------------------------
    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        """The data ``service`` takes on ``entity`` beside its entity id: each key's JSON
        schema, all required (none by default: turn_on, press, lock ...)."""
        return {}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        """The command for ``service`` (one of ``services``) with its ``data``."""
        raise self.refuse(entity, service)

    @staticmethod
    def refuse(entity: Entity, service: str) -> ServiceError:
        return ServiceError(
            f"{service} does not apply to {entity.spec.component} {entity.entity_id}"
        )


# ---- shared families (HA's entity mixins) ------------------------------------------------------
class OnOffSchema(DiscoveredEntity):
    """Switch-like payloads default to ``"ON"`` / ``"OFF"`` as in Home Assistant."""

    DEFAULTS = {"payload_on": "ON", "payload_off": "OFF"}


class OnOffState(Platform):
    """The state is ``"on"`` / ``"off"``: ``state_on`` (else ``payload_on``) and its opposite."""

    Schema = OnOffSchema

    def state(self, entity: Entity, payload: bytes) -> Any:
        tpl = entity.value_tpl
        value = payload.decode("utf-8", "replace") if tpl is None else self.render(entity, payload)
        spec = entity.spec
        on = spec.state_on if spec.state_on is not None else spec.payload_on
        off = spec.state_off if spec.state_off is not None else spec.payload_off
        if value == on:
            return "on"
        if value == off:
            return "off"
        if value in ("None", ""):
            return None
        raise PayloadError(
            f"{entity.entity_id}: payload {value[:40]!r} is neither {on!r} nor {off!r}"
        )


class OnOff(OnOffState):
    """An on/off state that can be switched: ``turn_on`` / ``turn_off`` / ``toggle``."""

    services = ("turn_on", "turn_off", "toggle")
    control = Control("toggle")
    words = Words(listed=True, switchable=True)

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        if service not in ("turn_on", "turn_off"):
            raise self.refuse(entity, service)
        on = service == "turn_on"
        return Order(self.payload(entity, on, data), "on" if on else "off")

    def payload(self, entity: Entity, on: bool, data: dict[str, Any]) -> str:
        spec = entity.spec
        return str(spec.payload_on if on else spec.payload_off)


def check_option(entity: Entity, value: str) -> None:
    options = entity.spec.options
    if options and value not in options:
        raise PayloadError(f"{entity.entity_id}: {value[:40]!r} not in options")
