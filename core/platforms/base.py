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
- ``words``: what voice may say to it, as data (:class:`Words`); ``confirm_calls``: the
  hub's conversation agent asks the user first.

The families below play the part of Home Assistant's MQTT entity mixins: :class:`OnOffState`
(``payload_on`` / ``state_on`` -> ``"on"``), :class:`OnOff` (plus ``turn_on`` / ``turn_off`` /
``toggle``). A platform with no module of its own gets :class:`Platform` itself: the rendered
payload is the state, no service, no control.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import PayloadError, ServiceError, SparkError
from spark.core.pictures import PictureBudget


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


class Template(Protocol):
    """A compiled template of the entity's config (``hub.templates.CompiledTemplate``)."""

    def render(self, payload: bytes | str, value_json: Any = ..., **variables: Any) -> str: ...
    def render_command(self, value: Any, **variables: Any) -> str: ...


class Entity(Protocol):
    """What a platform reads and writes of a hub entity record (``hub.entity.EntityRecord``).

    ``attributes`` may be changed in place by :meth:`Platform.state` and
    :meth:`Platform.topic_state` (the registry notices, for platforms that say
    ``state_attributes = True``); ``memo`` is the platform's own memory of the entity, not
    shown (a light's brightness while it is off); :meth:`template` is the compiled template in
    a config key (``brightness_value_template`` ...), ``None`` when the config has none.
    ``image`` is a camera's or image's latest picture, set through :attr:`pictures` (the hub's
    :class:`~spark.core.pictures.PictureBudget`; ``None`` outside a hub: set directly).
    """

    image: bytes | None

    @property
    def entity_id(self) -> str: ...
    @property
    def memo(self) -> dict[str, Any]: ...
    @property
    def spec(self) -> DiscoveredEntity: ...
    @property
    def state(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def value_tpl(self) -> Renderer | None: ...
    @property
    def pictures(self) -> PictureBudget | None: ...
    def template(self, key: str) -> Template | None: ...


@dataclass(frozen=True, slots=True)
class Publish:
    """One message of a command: to the topic in config key ``topic_key`` (``command_topic``,
    ``brightness_command_topic``, ``set_position_topic`` ...), ``value`` through the template in
    config key ``template_key`` when the config has one (``render_command(value, **variables)``),
    else ``str(value)``."""

    topic_key: str
    value: Any
    template_key: str | None = None
    variables: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """A service call turned into a command: the payload, and the state that confirms it.

    A simple platform sets ``payload`` (published to ``command_topic`` through
    ``command_template``). A platform with several command topics (a light's brightness, a
    cover's position, a climate's target temperature) sets ``publishes`` instead, in the order
    Home Assistant publishes them; ``payload`` is then only what the caller is told.

    ``assume`` is what an optimistic entity (see :meth:`Platform.optimistic`) takes at once:
    the attributes to set; its state becomes ``expect`` (unless ``expect`` is None).
    ``optimistic`` overrides :meth:`Platform.optimistic` for this call where Home Assistant
    decides per attribute (a cover's tilt without ``tilt_status_topic``, a climate's fan mode
    without ``fan_mode_state_topic``); None: the platform's rule. With ``assume_always`` the
    attributes are taken even when the call is not optimistic (its state still waits for the
    device): HA's light, whose attributes without a state topic of their own are optimistic
    while its on/off state is not. ``memo`` is what the call sets of the entity's private
    memory (:attr:`Entity.memo`), taken with the attributes.
    ``secret``: what is published carries a secret (an alarm code): the caller is not shown it.
    """

    payload: str
    expect: str | None  # None: nothing to wait for
    publishes: tuple[Publish, ...] = ()
    assume: dict[str, Any] | None = None
    optimistic: bool | None = None
    assume_always: bool = False
    memo: dict[str, Any] | None = None
    secret: bool = False


# alarm: arm / disarm buttons (with a code field: Control.code); text: a text field
ControlKind = Literal["toggle", "select", "number", "button", "slider", "group", "light",
                      "alarm", "text"]


@dataclass(frozen=True, slots=True)
class Control:
    """The panel's control for a platform, as data.

    ``kind`` picks the widget; ``on`` / ``off`` are the services a toggle (or a light: on/off,
    brightness, colour temperature, colour) calls and ``on_state`` the state it shows as on;
    ``service`` is what a select, number, slider (0..100) or button calls and ``field`` the
    data key its value goes in.

    A ``group`` draws its ``parts`` side by side (a cover's open / stop / close buttons and its
    position slider). A part shows attribute ``value`` (``""``: the state), offers the options
    in attribute ``options`` (``""``: the config's ``options``), takes its bounds from the
    attributes named in ``bounds`` (min, max, step), is drawn only when config key ``needs`` is
    set, and carries a ``label`` (our own text, never the device's).

    ``code`` names the state attribute that, when the entity has it, makes the panel ask for a
    code (HA's ``code_format``: a lock's pattern, an alarm panel's ``number`` / ``text``): a
    password field beside the control whose value goes with each call as data ``code``.
    """

    kind: ControlKind
    on: str = "turn_on"
    off: str = "turn_off"
    on_state: str = "on"
    service: str = ""
    field: str = ""
    parts: tuple[Control, ...] = ()
    value: str = ""
    options: str = ""
    bounds: tuple[str, str, str] | None = None
    needs: str = ""
    label: str = ""
    code: str = ""

    def call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """The service call for a widget's new value (a group: its first part's)."""
        if self.kind == "group":
            return self.parts[0].call(value)
        if self.kind == "toggle":
            return (self.on if value else self.off), {}
        if self.kind == "alarm":  # (service, code or None) from the keypad
            service, code = value
            return str(service), ({self.field: code} if code else {})
        if self.kind == "light":  # True / False: on / off; a mapping: turn_on with that data
            if isinstance(value, dict):
                return self.on, dict(value)
            return (self.on if value else self.off), {}
        return self.service, ({self.field: value} if self.field else {})

    def services(self) -> set[str]:
        """Every service the control (and its parts) may call."""
        if self.kind == "group":
            return set().union(*(part.services() for part in self.parts))
        if self.kind in ("toggle", "light"):
            return {self.on, self.off}
        return {self.service}


@dataclass(frozen=True, slots=True)
class Level:
    """A number voice may set on a platform's entities ("set the blind to forty percent"):
    the service and its data key, the unit said, and the range (fixed, or read from the
    entity's attributes ``min_attr`` / ``max_attr`` / ``step_attr`` when it has them);
    ``noun``: the word that may follow the name ("the lamp brightness", "the fan speed")."""

    service: str
    field: str
    unit: str = "%"
    min: float = 0.0
    max: float = 100.0
    step: float = 1.0
    min_attr: str | None = None
    max_attr: str | None = None
    step_attr: str | None = None
    noun: str | None = None


@dataclass(frozen=True, slots=True)
class Words:
    """What voice may say about a platform's entities (data read by ``nodes/voice``).

    ``listed``: its entities are in the vocabulary at all; ``switchable``: "turn on / off",
    "toggle", "set X to on"; ``pressable``: "press X" (and "turn on X" presses); ``setter``:
    "set X to <number>" or "select <option> for X"; ``area_noun``: "the kitchen light" names it.
    ``on_verbs`` / ``off_verbs``: the platform's own verbs ("open" / "close" a cover, "lock" /
    "unlock"), calling ``on_service`` / ``off_service`` (also what "turn on / off" calls);
    ``press_service``: what "press" / "activate" calls; ``level``: the number "set X to N"
    sets (with ``setter="number"``); ``noun``: "the movie scene" names the scene "Movie";
    ``confirm``: voice always asks back ("Did you mean: unlock the front door?") and acts
    only on a "yes", however clear the audio (a platform voice must never act on at all has
    no verbs: an alarm panel). ``ha_domains``: Home Assistant's sentence templates written
    for these domains name this platform's entities too (a siren is turned on as a
    ``switch``, a number's state asked as a ``sensor``'s); ``ha_position_domains``: the same
    for HA's ``HassSetPosition`` sentences only ("set the setpoint to twenty" as a cover's).
    """

    listed: bool = False
    switchable: bool = False
    pressable: bool = False
    setter: Literal["number", "option"] | None = None
    area_noun: bool = False
    on_verbs: tuple[str, ...] = ()
    off_verbs: tuple[str, ...] = ()
    on_service: str = "turn_on"
    off_service: str = "turn_off"
    press_service: str = "press"
    level: Level | None = None
    noun: str | None = None
    confirm: bool = False
    ha_domains: tuple[str, ...] = ()
    ha_position_domains: tuple[str, ...] = ()


Display = Literal["value", "event", "image"]


class Platform:
    """A platform with no knowledge of its own (and the base of every platform module)."""

    name: ClassVar[str] = ""
    Schema: ClassVar[type[DiscoveredEntity]] = DiscoveredEntity
    services: ClassVar[tuple[str, ...]] = ()
    # Config keys of further state topics (``brightness_state_topic``, ``position_topic`` ...,
    # declared as ``SubTopic`` fields of ``Schema``); a message on one goes to topic_state().
    state_topics: ClassVar[tuple[str, ...]] = ()
    # True when state()/topic_state() change attributes: the registry then compares them and
    # reports an attribute-only change (as HA's state_changed with the same state).
    state_attributes: ClassVar[bool] = False
    # Attributes the platform sets itself, which ``json_attributes_topic`` may not overwrite
    # (HA's ``_attributes_extra_blocked``: a cover's ``current_position`` ...).
    blocked_attributes: ClassVar[frozenset[str]] = frozenset()
    control: ClassVar[Control | None] = None
    display: ClassVar[Display] = "value"
    words: ClassVar[Words] = Words()
    # The hub's conversation agent asks the user before it calls a service of this platform
    # (a lock, an alarm panel, a cover: HA's assistant confirms these too).
    confirm_calls: ClassVar[bool] = False
    # Its states are numbers the history charts as a line: always (a number), or when the
    # entity has a unit or state class (a sensor); never: a timeline of states.
    numeric: ClassVar[Literal["never", "with_unit", "always"]] = "never"

    # ---- state -------------------------------------------------------------------------------
    def initial(self, entity: Entity) -> str | None:
        """The state a new (or re-configured) entity starts in, before any message; may set
        attributes in place (Home Assistant's climate starts ``off`` at 21 degrees without a
        mode state topic). None: unknown, as most platforms."""
        return None

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

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        """A message on the topic in config key ``key`` (one of ``state_topics``): the new
        state, ``None`` (unknown) or ``IGNORE`` (attributes may change in place)."""
        return IGNORE

    def revert_after(self, entity: Entity, state: Any) -> tuple[float, str] | None:
        """``(seconds, state)``: the state this one turns into after that long unless a new
        message comes first (HA's ``off_delay``); None: it stays."""
        return None

    def optimistic(self, entity: Entity) -> bool:
        """HA's rule: optimistic when the config says so or there is no state topic."""
        spec = entity.spec
        return bool(spec.optimistic) or not spec.state_topic

    @staticmethod
    def render_key(entity: Entity, key: str, payload: bytes) -> str:
        """The payload through the template in config key ``key`` (decoded when none)."""
        tpl = entity.template(key)
        if tpl is None:
            return payload.decode("utf-8", errors="replace")
        try:
            return tpl.render(payload)
        except SparkError as exc:
            raise PayloadError(f"{key} of {entity.entity_id}: {exc}") from None

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
        if value == "None":
            return None
        if value == "":
            return IGNORE  # HA: an empty payload (or template output) is ignored
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


def now_iso() -> str:
    """Now as HA writes a timestamp state (a scene's, button's or notify's last use)."""
    return datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds")


def check_option(entity: Entity, value: str) -> None:
    options = entity.spec.options
    if options and value not in options:
        raise PayloadError(f"{entity.entity_id}: {value[:40]!r} not in options")
