"""The corpus's commands: the default lab as people name it, sentence templates (each with a
stable id, the held-out split's unit) and every template filled over the entities it fits, with
the outcome the hub must produce."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bench.voice_corpus import held_out, stable_unit


# ---- the lab ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabEntity:
    """An entity of the default lab as people name it (``names``: what they say)."""

    node: str
    key: str
    platform: str
    names: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()  # (spoken, option)
    values: tuple[float, ...] = ()  # numbers worth saying
    unit: str = ""

    @property
    def entity_id(self) -> str:
        return f"{self.platform}.{self.node}_{self.key}"


# The default lab (``spark up`` without a config: app.runtime.default_lab) minus the camera:
# sim (simulated), power (simulated backend), nas (simulated backend), system, voice.
LAB: tuple[LabEntity, ...] = (
    LabEntity("sim", "lamp", "switch", ("sim lamp", "lamp")),
    LabEntity("power", "grid", "switch", ("power grid",)),
    LabEntity("sim", "setpoint", "number", ("sim setpoint", "setpoint"),
              values=(5, 7.5, 9, 12, 15, 16.5, 18, 19, 20, 21, 21.5, 22, 22.5, 23, 24, 25, 26, 28,
                      30), unit="degrees"),
    LabEntity("voice", "volume", "number", ("volume", "voice volume"),
              values=(10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100), unit="percent"),
    LabEntity("sim", "mode", "select", ("sim mode",),
              options=(("eco", "eco"), ("comfort", "comfort"), ("away", "away"))),
    LabEntity("power", "power_mode", "select", ("power mode",),
              options=(("auto", "auto"), ("on grid", "on-grid"), ("off grid", "off-grid"))),
    LabEntity("sim", "identify", "button", ("sim identify", "identify")),
    LabEntity("sim", "temperature", "sensor", ("sim temperature",)),
    LabEntity("power", "battery", "sensor", ("battery", "power battery")),
    LabEntity("power", "voltage", "sensor", ("battery voltage",)),
    LabEntity("power", "current", "sensor", ("battery current",)),
    LabEntity("power", "power_draw", "sensor", ("power load",)),
    LabEntity("power", "time_to_empty", "sensor", ("time to empty",)),
    LabEntity("power", "strategy", "sensor", ("routing strategy",)),
    LabEntity("power", "power_source", "sensor", ("power source",)),
    LabEntity("sim", "motion", "binary_sensor", ("sim motion", "motion")),
    LabEntity("power", "charging", "binary_sensor", ("charging",)),
)


# ---- expected outcomes and commands -----------------------------------------------------------
OutcomeKind = Literal["command", "none"]
AnswerKind = Literal["state", "status", "refuse"]


@dataclass(frozen=True)
class Expected:
    """What the hub must publish: ``payload`` on ``<base>/<node>/<key>/set`` (``TOGGLE``: the
    opposite of the state before), or nothing (``answer``: state of ``entity_id``, system
    status, or a refusal / "didn't understand")."""

    kind: OutcomeKind
    node: str = ""
    key: str = ""
    payload: str = ""
    answer: AnswerKind | None = None
    entity_id: str = ""

    def describe(self) -> str:
        if self.kind == "command":
            return f"{self.node}/{self.key} {self.payload}"
        return f"no action ({self.answer}{' ' + self.entity_id if self.entity_id else ''})"


@dataclass(frozen=True)
class Command:
    text: str  # the command as said after the wake phrase
    template: str  # the sentence template's id (the split)
    service: str
    expected: Expected

    @property
    def held_out(self) -> bool:
        return held_out(self.template)


@dataclass(frozen=True)
class Template:
    id: str
    service: str  # turn_on, turn_off, toggle, set_value, select_option, press, get_state, ...
    text: str  # {name}, {value}, {unit}, {option}


def _t(service: str, *pairs: tuple[str, str]) -> list[Template]:
    return [Template(f"{service}.{tid}", service, text) for tid, text in pairs]


TEMPLATES: tuple[Template, ...] = tuple(
    _t("turn_on",
       ("turn-on-the", "turn on the {name}"), ("switch-on-the", "switch on the {name}"),
       ("turn-the-on", "turn the {name} on"), ("switch-the-on", "switch the {name} on"),
       ("please-turn-on", "please turn on the {name}"),
       ("could-you-turn-on", "could you turn on the {name}"),
       ("can-you-switch-my-on", "can you switch my {name} on please"),
       ("terse-on", "{name} on"), ("enable-the", "enable the {name}"),
       ("turn-on-my", "turn on my {name}"), ("activate-the", "activate the {name}"),
       ("put-the-on", "put the {name} on"), ("turn-on-bare", "turn on {name}"))
    + _t("turn_off",
         ("turn-off-the", "turn off the {name}"), ("switch-off-the", "switch off the {name}"),
         ("turn-the-off", "turn the {name} off"), ("switch-the-off", "switch the {name} off"),
         ("please-turn-off", "please turn off the {name}"),
         ("could-you-turn-off", "could you turn off the {name}"),
         ("can-you-switch-my-off", "can you switch my {name} off please"),
         ("terse-off", "{name} off"), ("disable-the", "disable the {name}"),
         ("turn-off-my", "turn off my {name}"), ("deactivate-the", "deactivate the {name}"),
         ("shut-off-the", "shut off the {name}"), ("turn-off-bare", "turn off {name}"))
    + _t("toggle",
         ("toggle-the", "toggle the {name}"), ("please-toggle", "please toggle the {name}"),
         ("could-you-toggle", "could you toggle my {name}"), ("terse-toggle", "toggle {name}"))
    + _t("set_value",
         ("set-the-to", "set the {name} to {value}"),
         ("change-the-to", "change the {name} to {value}"),
         ("set-my-to-unit", "set my {name} to {value} {unit}"),
         ("please-set-to", "please set the {name} to {value}"),
         ("could-you-change", "could you change the {name} to {value} please"),
         ("terse-set", "{name} {value}"), ("make-the", "make the {name} {value}"),
         ("put-the-at", "put the {name} at {value} {unit}"),
         ("can-you-set", "can you set the {name} to {value} {unit}"),
         ("set-to-unit", "set the {name} to {value} {unit}"))
    + _t("select_option",
         ("set-the-to", "set the {name} to {option}"),
         ("change-the-to", "change the {name} to {option}"),
         ("switch-the-to", "switch the {name} to {option}"),
         ("put-the-on", "put the {name} on {option}"),
         ("select-for", "select {option} for the {name}"),
         ("could-you-set", "could you set the {name} to {option} please"),
         ("please-change-my", "please change my {name} to {option}"),
         ("terse-option", "{name} {option}"), ("use-for", "use {option} for the {name}"))
    + _t("press",
         ("press-the-button", "press the {name} button"), ("press-the", "press the {name}"),
         ("please-press", "please press the {name} button"),
         ("push-the-button", "push the {name} button"), ("could-you-press",
                                                        "could you press {name}"))
    + _t("get_state",
         ("what-is-the", "what is the {name}"), ("whats-the", "what's the {name}"),
         ("what-is-my", "what is my {name}"), ("tell-me-the", "tell me the {name}"),
         ("could-you-tell-me", "could you tell me the {name} please"),
         ("whats-the-now", "what's the {name} right now"),
         ("how-is-the", "how is the {name}"), ("what-does-the-say", "what does the {name} say"),
         ("whats-my", "what's my {name}"), ("read-the", "read the {name} to me"))
    + _t("system_status",
         ("system-status", "system status"), ("how-is-everything", "how is everything"),
         ("status-report", "give me a status report"), ("how-is-the-system", "how is the system"))
    + _t("chat",
         ("thank-you", "thank you"), ("never-mind", "never mind"),
         ("good-morning", "good morning"), ("how-are-you", "how are you today"),
         ("what-time", "what time is it"), ("tell-joke", "tell me a joke"),
         ("weather", "is it going to rain tomorrow"), ("who-are-you", "who are you"))
    + _t("mute",  # the node's own mute is not a voice target (issue 18): no action
         ("mute-yourself", "mute yourself"), ("turn-on-mute", "turn on the voice mute"),
         ("stop-listening", "stop listening"), ("be-quiet", "be quiet"))
)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def commands(lab: Sequence[LabEntity] = LAB) -> list[Command]:
    """Every template filled over every entity it fits (deterministic order)."""
    out: list[Command] = []
    for tpl in TEMPLATES:
        if tpl.service in ("chat", "mute"):
            out.append(Command(tpl.text, tpl.id, tpl.service, Expected("none", answer="refuse")))
            continue
        if tpl.service == "system_status":
            out.append(Command(tpl.text, tpl.id, tpl.service, Expected("none", answer="status")))
            continue
        for ent in lab:
            for name in ent.names:
                out += _fill(tpl, ent, name)
    return out


def _fill(tpl: Template, ent: LabEntity, name: str) -> list[Command]:
    svc, p = tpl.service, ent.platform
    cmd = lambda text, payload: Command(text, tpl.id, svc,  # noqa: E731
                                        Expected("command", ent.node, ent.key, payload))
    if svc in ("turn_on", "turn_off", "toggle") and p == "switch":
        payload = {"turn_on": "ON", "turn_off": "OFF", "toggle": "TOGGLE"}[svc]
        return [cmd(tpl.text.format(name=name), payload)]
    if svc == "set_value" and p == "number":
        # ten of its values per (template, name), chosen by the template: every value is
        # said, each in several phrasings, without one service outweighing the rest
        values = sorted(ent.values, key=lambda v: stable_unit("value", tpl.id, name, str(v)))[:10]
        return [cmd(" ".join(tpl.text.format(name=name, value=_number(v), unit=ent.unit)
                             .split()), _number(v)) for v in values]
    if svc == "select_option" and p == "select":
        return [cmd(tpl.text.format(name=name, option=spoken), option)
                for spoken, option in ent.options]
    if svc == "press" and p == "button":
        return [cmd(tpl.text.format(name=name), "PRESS")]
    if svc == "get_state" and p in ("sensor", "binary_sensor"):
        return [Command(tpl.text.format(name=name), tpl.id, svc,
                        Expected("none", answer="state", entity_id=ent.entity_id))]
    return []
