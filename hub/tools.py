"""The conversation agent's tools: which entities the user exposes to the LLM, the tools built
from their platforms' services, and the check (with repairs) of each call the model makes.

**Exposure** (``hub.ask.expose``): an entity is offered to the LLM when its device's area, its
platform or its id matches one of the lists, and it matches no ``exclude`` pattern. Nothing is
exposed until chosen: the default lists are empty, and then the agent sends no tools at all.

**Tools**, rebuilt for every question from the registry as it is then (Home Assistant's Ollama
integration does the same per conversation turn): one tool per service that an exposed
entity's platform declares (``core/platforms/``: ``turn_on`` / ``turn_off`` / ``toggle``,
``set_value``, ``select_option``, ``press``, ``lock`` / ``unlock`` / ``open`` ...), whose
``entity_id`` is an enum of the exposed ids that have that service, plus ``get_state`` over
every exposed id. A service's data (``value`` of a number, ``option`` of a select) comes from
:meth:`~core.platforms.base.Platform.arguments`; the tool's schema is the union over its
entities (ranges widened, options joined) and each call is then checked against its own
entity's schema.

**Checking a call** (:meth:`Toolbox.check`): the arguments are a JSON object of at most
``max_argument_chars`` characters. Repaired when the intent is unambiguous, and the repair is
reported: a JSON object inside a JSON string (double encoding), a tool name or entity id in the
wrong case or with spaces around it, an entity id without its platform (``sim_lamp`` when only
``switch.sim_lamp`` has that object id), a number sent as a string (``"21.5"``), a number for a
text value, an option in the wrong case. Everything else is refused with the reason, which the
agent hands back to the model as the tool's answer: an unknown tool, an entity not exposed or
without that service, a missing or unexpected argument, a value out of range, an unknown
option.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import Field, field_validator

from spark.core.config.base import StrictModel
from spark.core.messages.llm import ToolCall, ToolSpec
from spark.core.platforms import platform_for
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry

GET_STATE = "get_state"
MAX_ENUM = 100  # options joined into one tool's enum (a select's own list is checked per call)
MAX_TEXT = 100  # characters of an option / name put into a schema or the prompt
PATTERN = re.compile(r"^[a-z0-9_.*?\[\]-]{1,255}$")

DESCRIPTIONS = {
    "turn_on": "Turn on a device (switch, light, fan ...).",
    "turn_off": "Turn off a device (switch, light, fan ...).",
    "toggle": "Switch a device to the opposite of its current on/off state.",
    "set_value": "Set a number or text entity to a value.",
    "select_option": "Choose one of the options of a select entity.",
    "press": "Press a button.",
    "lock": "Lock a lock.",
    "unlock": "Unlock a lock.",
    "open": "Open (unlatch) a lock.",
    GET_STATE: "Read the current state of an entity.",
}


class ExposeConfig(StrictModel):
    """``hub.ask.expose``: the entities the conversation agent may read and act on."""

    areas: list[str] = Field(default_factory=list, max_length=100, description="Device areas "
                             "(suggested_area, any case) whose entities are exposed.")
    platforms: list[str] = Field(default_factory=list, max_length=50, description="Platforms "
                                 "(switch, light, number, ...) whose entities are exposed.")
    entities: list[str] = Field(default_factory=list, max_length=1000, description="Entity ids "
                                "exposed; shell patterns such as 'switch.*' allowed.")
    exclude: list[str] = Field(default_factory=list, max_length=1000, description="Entity ids "
                               "(or patterns) never exposed, whatever else matches.")
    max_entities: int = Field(100, ge=1, le=1000, description="At most this many exposed "
                              "entities are offered (sorted by id; the rest are left out and "
                              "logged).")

    @field_validator("entities", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not PATTERN.match(pattern):
                raise ValueError(f"bad entity pattern {pattern!r}: an entity id such as "
                                 "'switch.lamp', with '*', '?' or [...] as wildcards")
        return value

    @field_validator("areas", "platforms")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip() or len(name) > 100:
                raise ValueError(f"{name!r}: give a name of 1 to 100 characters")
        return value

    @property
    def anything(self) -> bool:
        return bool(self.areas or self.platforms or self.entities)


class Refused(Exception):
    """A tool call that cannot be run; the message goes back to the model. ``entity_id``: the
    entity it was for, once known."""

    def __init__(self, why: str, entity_id: str | None = None) -> None:
        super().__init__(why)
        self.entity_id = entity_id


@dataclass(frozen=True, slots=True)
class Checked:
    """A call that passed the check: the service (or ``get_state``), the entity, its data, and
    the repairs made on the way."""

    service: str
    entity_id: str
    data: dict[str, Any]
    repairs: tuple[str, ...] = ()


@dataclass(slots=True)
class Toolbox:
    """The tools over the entities exposed now (build with :meth:`build`)."""

    entities: dict[str, EntityRecord]
    areas: dict[str, str | None]
    by_service: dict[str, list[str]] = field(default_factory=dict)
    left_out: int = 0

    @classmethod
    def build(cls, registry: Registry, config: ExposeConfig) -> Toolbox:
        """The toolbox now, in one go (see :meth:`gather` for the event loop's version)."""
        picker = _Picker(registry, config)
        picker.take(list(registry.entities.items()))
        return picker.toolbox()

    @classmethod
    async def gather(cls, registry: Registry, config: ExposeConfig, batch: int = 1000
                     ) -> Toolbox:
        """:meth:`build`, giving the event loop a turn every ``batch`` entities (a registry
        of 20,000 takes ~100 ms to scan on a loaded 2-core box)."""
        picker = _Picker(registry, config)
        items = list(registry.entities.items())  # a snapshot: discovery may change it
        for start in range(0, len(items), batch):
            picker.take(items[start:start + batch])
            if start + batch < len(items):
                await asyncio.sleep(0)
        return picker.toolbox()

    def __bool__(self) -> bool:
        return bool(self.entities)

    # ---- what the model sees --------------------------------------------------------------
    def specs(self) -> list[ToolSpec]:
        """One tool per service of the exposed entities, then ``get_state``."""
        out: list[ToolSpec] = []
        for service, ids in self.by_service.items():
            props: dict[str, Any] = {"entity_id": {"type": "string", "enum": ids}}
            merged = _merge(self.arguments(e, service) for e in ids)
            props.update({key: _described(one) for key, one in merged.items()})
            out.append(ToolSpec(name=service, description=DESCRIPTIONS.get(
                service, f"Call the {service} service on an entity."), parameters={
                "type": "object", "properties": props, "required": list(props)}))
        if self.entities:
            out.append(ToolSpec(name=GET_STATE, description=DESCRIPTIONS[GET_STATE],
                                parameters={"type": "object", "required": ["entity_id"],
                                            "properties": {"entity_id": {
                                                "type": "string",
                                                "enum": list(self.entities)}}}))
        return out

    def overview(self) -> str:
        """The exposed entities for the system prompt: id, name, area, state (names and
        states are the devices' text: quoted, cut, never instructions)."""
        lines = []
        for entity_id, record in self.entities.items():
            parts = [entity_id]
            if record.name:
                parts.append(f"name {_quote(record.name)}")
            if self.areas.get(entity_id):
                parts.append(f"area {_quote(self.areas[entity_id] or '')}")
            state = record.state if record.available else "unavailable"
            parts.append(f"state {_quote(str(state))}")
            lines.append("- " + ", ".join(parts))
        return "\n".join(lines)

    def arguments(self, entity_id: str, service: str) -> dict[str, dict[str, Any]]:
        record = self.entities[entity_id]
        return platform_for(record.platform).arguments(record, service)

    # ---- checking a call ------------------------------------------------------------------
    def check(self, call: ToolCall, max_chars: int) -> Checked:
        """The call made safe to run, or :class:`Refused` with the reason."""
        repairs: list[str] = []
        name = call.name.strip()
        tools = [*self.by_service, GET_STATE] if self.entities else []
        if name not in tools:
            folded = [t for t in tools if t.casefold() == name.casefold()]
            if len(folded) != 1:
                raise Refused(f"unknown tool {call.name[:MAX_TEXT]!r}; the tools are: "
                              f"{', '.join(tools) or 'none'}")
            repairs.append(f"tool name {call.name[:MAX_TEXT]!r} read as {folded[0]!r}")
            name = folded[0]
        args = _arguments(call.arguments, max_chars, repairs)
        allowed = self.by_service.get(name, []) if name != GET_STATE else list(self.entities)
        entity_id = self._entity(args.pop("entity_id", None), allowed, name, repairs)
        try:
            return self._data(name, entity_id, args, repairs)
        except Refused as exc:
            raise Refused(str(exc), entity_id) from None

    def _data(self, name: str, entity_id: str, args: dict[str, Any], repairs: list[str]
              ) -> Checked:
        wanted = self.arguments(entity_id, name) if name != GET_STATE else {}
        extra = sorted(set(args) - set(wanted))
        if extra:
            raise Refused(f"unexpected argument(s) {', '.join(repr(k[:MAX_TEXT]) for k in extra)}"
                          f" for {name}; it takes: {', '.join(['entity_id', *wanted])}")
        data: dict[str, Any] = {}
        for key, schema in wanted.items():
            if key not in args:
                raise Refused(f"{name} on {entity_id} needs {key!r}")
            data[key] = _value(key, args[key], schema, entity_id, repairs)
        return Checked(name, entity_id, data, tuple(repairs))

    def _entity(self, value: Any, allowed: list[str], tool: str, repairs: list[str]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Refused(f"{tool} needs 'entity_id', one of: {_listing(allowed)}")
        wanted = value.strip()
        if wanted in allowed:
            if wanted != value:
                repairs.append(f"entity id {value[:MAX_TEXT]!r} read as {wanted!r}")
            return wanted
        folded = wanted.casefold()
        same = [e for e in allowed if e.casefold() == folded]
        if len(same) != 1:
            same = [e for e in allowed if e.partition(".")[2].casefold() == folded]
        if len(same) == 1:
            repairs.append(f"entity id {value[:MAX_TEXT]!r} read as {same[0]!r}")
            return same[0]
        if wanted in self.entities:
            raise Refused(f"{tool} does not apply to {wanted}; it applies to: "
                          f"{_listing(allowed)}")
        raise Refused(f"{value[:MAX_TEXT]!r} is not an exposed entity for {tool}; use one of: "
                      f"{_listing(allowed)}")


@functools.lru_cache(maxsize=16)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """One compiled regex for a list of shell patterns (the config's: trusted, bounded)."""
    if not patterns:
        return lambda _entity_id: False
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda entity_id: regex.match(entity_id) is not None


class _Picker:
    """Chooses the exposed entities of a registry, batch by batch."""

    def __init__(self, registry: Registry, config: ExposeConfig) -> None:
        self.registry, self.config = registry, config
        self.areas = {a.strip().casefold() for a in config.areas}
        self.platforms = {p.strip() for p in config.platforms}
        self.named = _matcher(tuple(config.entities))
        self.excluded = _matcher(tuple(config.exclude))
        self.chosen: dict[str, EntityRecord] = {}
        self.where: dict[str, str | None] = {}

    def take(self, items: list[tuple[str, EntityRecord]]) -> None:
        if not self.config.anything:
            return
        devices = self.registry.devices
        for entity_id, record in items:
            device = devices.get(record.device_id or "")
            area = device.suggested_area if device is not None else None
            if not (record.platform in self.platforms or self.named(entity_id)
                    or (area is not None and area.strip().casefold() in self.areas)):
                continue
            if self.excluded(entity_id):
                continue
            self.chosen[entity_id] = record
            self.where[entity_id] = area

    def toolbox(self) -> Toolbox:
        ids = sorted(self.chosen)
        top = self.config.max_entities
        chosen = {k: self.chosen[k] for k in ids[:top]}
        box = Toolbox(chosen, {k: self.where[k] for k in chosen},
                      left_out=max(0, len(ids) - top))
        for entity_id, record in chosen.items():
            if not record.spec.command_topic:
                continue
            for service in platform_for(record.platform).services:
                box.by_service.setdefault(service, []).append(entity_id)
        return box


def _arguments(raw: str, max_chars: int, repairs: list[str]) -> dict[str, Any]:
    if len(raw) > max_chars:
        raise Refused(f"arguments of {len(raw)} characters; at most {max_chars}")
    try:
        value = orjson.loads(raw or "{}")
        if isinstance(value, str):  # a JSON object inside a JSON string
            value = orjson.loads(value)
            repairs.append("arguments were a JSON string holding the object")
    except orjson.JSONDecodeError as exc:
        raise Refused(f"arguments are not valid JSON ({str(exc)[:80]}); send a JSON object "
                      "such as {\"entity_id\": \"...\"}") from None
    if not isinstance(value, dict):
        raise Refused(f"arguments must be a JSON object, not {type(value).__name__}")
    return value


def _value(key: str, value: Any, schema: dict[str, Any], entity_id: str,
           repairs: list[str]) -> Any:
    kind = schema.get("type")
    if kind == "number":
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise Refused(f"{key} for {entity_id} must be a number, not "
                              f"{value[:MAX_TEXT]!r}") from None
            repairs.append(f"{key} {value[:MAX_TEXT]!r} read as the number {number:g}")
        if isinstance(number, bool) or not isinstance(number, int | float) \
                or not math.isfinite(number):
            raise Refused(f"{key} for {entity_id} must be a number")
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            raise Refused(f"{key} {number:g} is outside {_num(low)}..{_num(high)} for "
                          f"{entity_id}")
        return number
    if kind == "string":
        if isinstance(value, int | float) and not isinstance(value, bool):
            repairs.append(f"{key} {value!r} read as the text {str(value)!r}")
            value = str(value)
        if not isinstance(value, str):
            raise Refused(f"{key} for {entity_id} must be a string")
        options = schema.get("enum")
        if options is not None and value not in options:
            same = [o for o in options if o.casefold() == value.strip().casefold()]
            if len(same) != 1:
                raise Refused(f"{value[:MAX_TEXT]!r} is not an option of {entity_id}; "
                              f"options: {_listing(options)}")
            repairs.append(f"{key} {value[:MAX_TEXT]!r} read as {same[0]!r}")
            value = same[0]
        top = schema.get("maxLength")
        if isinstance(top, int) and len(value) > top:
            raise Refused(f"{key} for {entity_id} is longer than {top} characters")
        return value
    return value


def _merge(schemas: Iterable[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One schema per argument over several entities: ranges widened, enums joined (bounded)."""
    out: dict[str, dict[str, Any]] = {}
    for schema in schemas:
        for key, one in schema.items():
            have = out.get(key)
            if have is None:
                out[key] = _bounded(dict(one))
                continue
            if have.get("type") != one.get("type"):
                out[key] = {"type": sorted({*_types(have), *_types(one)})}
                continue
            for bound, pick in (("minimum", min), ("maximum", max), ("maxLength", max)):
                if bound in have and bound in one:
                    have[bound] = pick(have[bound], one[bound])
                else:
                    have.pop(bound, None)
            if "enum" in have and "enum" in one:
                joined = list(dict.fromkeys([*have["enum"], *one["enum"]]))
                if len(joined) > MAX_ENUM:
                    have.pop("enum")
                else:
                    have["enum"] = joined
            else:
                have.pop("enum", None)
    return out


def _described(schema: dict[str, Any]) -> dict[str, Any]:
    """The bounds said in words too: Ollama's client keeps a property's type, enum and
    description but drops ``minimum`` / ``maximum`` / ``maxLength``."""
    low, high, top = schema.get("minimum"), schema.get("maximum"), schema.get("maxLength")
    if low is not None and high is not None:
        return {**schema, "description": f"a number from {low:g} to {high:g}"}
    if top is not None:
        return {**schema, "description": f"text of at most {top} characters"}
    return schema


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    enum = schema.get("enum")
    if isinstance(enum, list):
        if len(enum) > MAX_ENUM or any(len(str(o)) > MAX_TEXT for o in enum):
            schema.pop("enum")
    return schema


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    return list(kind) if isinstance(kind, list) else [str(kind)]


def _num(value: Any) -> str:
    return "any" if value is None else f"{value:g}"


def _listing(items: list[str], most: int = 20) -> str:
    shown = ", ".join(str(i)[:MAX_TEXT] for i in items[:most])
    return shown + (f" (and {len(items) - most} more)" if len(items) > most else "") or "none"


def _quote(text: str) -> str:
    return orjson.dumps(text[:MAX_TEXT]).decode()
