"""Text -> intent, in the spirit of Home Assistant's built-in intents.

``HassTurnOn`` / ``HassTurnOff`` / ``HassToggle`` / ``HassGetState`` / ``HassSetValue`` /
``HassSelectOption`` / ``HassPress`` / system status, plus ``ask`` for the free-form path
("ask spark ...", "hey spark, ask ...": the hub's LLM answers; nothing else goes there). Works
on any text (the grammar recogniser's output, Vosk / Whisper, typed lines): the phrase lists
below are also what ``grammar.py`` turns into the JSGF grammar, so the recogniser can only
produce sentences this module understands.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from spark.core.platforms import catalogue
from spark.nodes.voice import phrases
from spark.nodes.voice.numbers import words_to_number
from spark.nodes.voice.vocab import Target, Vocabulary, content, normalize

ON_VERBS = ("turn on", "switch on", "enable", "activate", "start")
OFF_VERBS = ("turn off", "switch off", "disable", "deactivate", "stop")
QUERY_VERBS = ("what is", "what's", "how is", "tell me", "get")
STATE_WORDS = ("state", "status", "value", "level", "reading")
PRESS_VERBS = ("press", "push")
STATUS_PHRASES = ("system status", "status report", "how is the system", "how is everything")
ASK_PREFIX = "ask spark"
ASK_PREFIXES = (ASK_PREFIX, "ask")  # "ask spark ..." or, after "hey spark", "ask ..."
POLITE = ("please", "spark", "hey spark", "okay spark", "could you", "can you")

COMPLETE = frozenset({"turn_on", "turn_off", "toggle", "get_state", "set_value",
                      "select_option", "press", "system_status"})
IntentName = Literal["turn_on", "turn_off", "toggle", "get_state", "set_value", "select_option",
                     "press", "system_status", "ask", "nevermind", "unknown", "unknown_entity",
                     "ambiguous", "unsupported"]
NEVERMIND = ("never mind", "nevermind", "cancel", "forget it")


@dataclass(slots=True)
class Intent:
    name: IntentName
    text: str
    target: Target | None = None
    data: dict[str, Any] = field(default_factory=dict)
    heard_name: str | None = None  # the name as said (unknown / ambiguous replies)
    candidates: list[Target] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"intent": self.name, "text": self.text}
        if self.target is not None:
            out["entity_id"] = self.target.entity_id
        if self.data:
            out["data"] = dict(self.data)
        if self.heard_name:
            out["name"] = self.heard_name
        if self.candidates:
            out["candidates"] = [t.entity_id for t in self.candidates]
        return out


def _alt(phrases: tuple[str, ...]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


_THE = r"(?:the |my )?"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("turn_on", re.compile(rf"^(?:{_alt(ON_VERBS)}) {_THE}(?P<name>.+)$")),
    ("turn_off", re.compile(rf"^(?:{_alt(OFF_VERBS)}) {_THE}(?P<name>.+)$")),
    ("turn_on", re.compile(rf"^(?:turn|switch) {_THE}(?P<name>.+) on$")),
    ("turn_off", re.compile(rf"^(?:turn|switch) {_THE}(?P<name>.+) off$")),
    ("toggle", re.compile(rf"^toggle {_THE}(?P<name>.+)$")),
    ("set", re.compile(rf"^(?:set|change|put) {_THE}(?P<name>.+?) (?:to|at) (?P<value>.+)$")),
    ("select", re.compile(rf"^(?:select|choose|use) (?P<value>.+?) (?:for|on|as) {_THE}"
                          r"(?P<name>.+)$")),
    ("press", re.compile(rf"^(?:{_alt(PRESS_VERBS)}) {_THE}(?P<name>.+?)(?: button)?$")),
    ("get_state", re.compile(rf"^(?:{_alt(QUERY_VERBS)}) {_THE}(?P<name>.+)$")),
]


@functools.cache
def platform_verbs() -> tuple[frozenset[str], frozenset[str]]:
    """Every platform's own on / off verbs ("open", "close", "lock", "unlock", "start",
    "dock": ``Words.on_verbs`` / ``off_verbs`` in core/platforms)."""
    on = {v for p in catalogue().values() for v in p.words.on_verbs}
    off = {v for p in catalogue().values() for v in p.words.off_verbs}
    return frozenset(on), frozenset(off)


@functools.cache
def _verb_patterns() -> list[tuple[str, re.Pattern[str]]]:
    on, off = platform_verbs()
    out = []
    for kind, verbs in (("turn_on", on), ("turn_off", off)):
        if verbs:
            out.append((kind, re.compile(rf"^(?P<verb>{_alt(tuple(verbs))}) {_THE}"
                                         r"(?P<name>.+?)(?: to base| home| to the dock)?$")))
    return out


def level_nouns() -> frozenset[str]:
    """The words that may follow a name before its value ("the lamp brightness")."""
    return frozenset(p.words.level.noun for p in catalogue().values()
                     if p.words.level is not None and p.words.level.noun)


_UNIT_RE = re.compile(r" (?:percent|degrees?(?: celsius)?|watts?|volts?|amps?|minutes?|"
                      r"seconds?|hours?)$")


def _strip_polite(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in sorted(POLITE, key=len, reverse=True):
            if text.startswith(p + " "):
                text, changed = text[len(p) + 1:], True
            if text.endswith(" " + p):
                text, changed = text[: -len(p) - 1], True
    return text


def _find(vocab: Vocabulary, name: str) -> tuple[list[Target], str]:
    found = vocab.lookup(name)
    if not found:
        words = name.split()
        if len(words) > 1 and words[-1] in STATE_WORDS:
            name = " ".join(words[:-1])
            found = vocab.lookup(name)
        elif len(words) > 1 and words[-1] in level_nouns():  # "the lamp brightness"
            found = [t for t in vocab.lookup(" ".join(words[:-1]))
                     if t.words.level is not None and t.words.level.noun == words[-1]]
            if found:
                name = " ".join(words[:-1])
    return found, name


def recognize(text: str, vocab: Vocabulary) -> Intent:
    """Our patterns first; what they do not know (or whose name they cannot find) is read
    with Home Assistant's own templates (``phrases.py``: word orders, "is X on", HA's skip
    words)."""
    intent = _recognize(text, vocab)
    if intent.name in ("unknown", "unknown_entity"):
        ha = _from_ha(text, vocab)
        if ha is not None:
            return ha
    return intent


def _from_ha(text: str, vocab: Vocabulary) -> Intent | None:
    found = phrases.match(normalize(text), vocab)
    if found is None:
        return None
    if found.kind == "nevermind":
        return Intent("nevermind", text)
    targets = [t for t in vocab.targets if t.entity_id == found.entity_id]
    if not targets:
        return None
    if found.kind == "get_state":
        return Intent("get_state", text, targets[0],
                      data={"state": found.state} if found.state else {})
    on, off = platform_verbs()
    verb = next((w for w in normalize(text).split() if w in on | off), None)
    return _resolve(found.kind, text, targets[0], found.value, verb)


def _recognize(text: str, vocab: Vocabulary) -> Intent:
    said = _strip_polite(normalize(text))
    if not said:
        return Intent("unknown", text)
    if said in STATUS_PHRASES:
        return Intent("system_status", text)
    if said in NEVERMIND:  # HA's HassNevermind
        return Intent("nevermind", text)
    for prefix in ASK_PREFIXES:  # the free-form path: only what is explicitly asked
        if said.startswith(prefix + " ") or said == prefix:
            return Intent("ask", text, data={"question": said[len(prefix):].strip()})
    for kind, pattern in (*_PATTERNS[:2], *_verb_patterns(), *_PATTERNS[2:]):
        m = pattern.match(said)
        if m is None:
            continue
        found, name = _find(vocab, m.group("name"))
        if kind == "get_state" and not found and name.endswith(" state"):
            found, name = _find(vocab, name)
        if not found and not content(name):  # "what is the": no name at all
            return Intent("unknown", text)
        if not found:
            return Intent("unknown_entity", text, heard_name=name)
        if len(found) > 1:
            return Intent("ambiguous", text, heard_name=name, candidates=found)
        verb = m.groupdict().get("verb") or said.split()[0]
        return _resolve(kind, text, found[0], m.groupdict().get("value"), verb)
    return Intent("unknown", text)


def off_range(target: Target, number: float) -> str:
    """Why ``number`` is not a value of ``target`` ("" when it is)."""
    if target.min is not None and number < target.min - 1e-9:
        return "below the minimum"
    if target.max is not None and number > target.max + 1e-9:
        return "above the maximum"
    if target.step:
        base = target.min or 0.0
        steps = (number - base) / target.step
        if abs(steps - round(steps)) > 1e-6:
            return "not on its step"
    return ""


def _resolve(kind: str, text: str, target: Target, value: str | None,
             verb: str | None = None) -> Intent:
    words = target.words  # what its platform lets voice do (core/platforms/<platform>.py)
    if kind in ("turn_on", "turn_off", "toggle"):
        if words.pressable and kind == "turn_on":
            return Intent("press", text, target)
        own = words.on_verbs if kind == "turn_on" else words.off_verbs
        if verb is not None and verb in own:  # "open the blind", "unlock the front door"
            return Intent(kind, text, target)  # type: ignore[arg-type]
        if not words.switchable or (verb is not None and verb in (
                platform_verbs()[0] | platform_verbs()[1]) - set(ON_VERBS) - set(OFF_VERBS)):
            return Intent("unsupported", text, target, data={"wanted": kind})
        return Intent(kind, text, target)  # type: ignore[arg-type]
    if kind == "press":
        if not words.pressable:
            return Intent("unsupported", text, target, data={"wanted": "press"})
        return Intent("press", text, target)
    if kind == "get_state":
        return Intent("get_state", text, target)
    assert value is not None
    value = _UNIT_RE.sub("", value.strip())
    if words.switchable and kind == "set" and value in ("on", "off"):
        return Intent("turn_on" if value == "on" else "turn_off", text, target)
    if words.setter == "option":
        option = target.option_for(value)
        if option is None:
            return Intent("unsupported", text, target, data={"wanted": "select_option",
                                                              "option": value})
        return Intent("select_option", text, target, data={"option": option})
    if words.setter == "number" and kind == "set":
        number = words_to_number(value)
        if number is None:
            return Intent("unsupported", text, target, data={"wanted": "set_value",
                                                              "value": value})
        problem = off_range(target, number)
        if problem:  # never a silent change of what was said ("twenty two point five eight")
            return Intent("unsupported", text, target, data={"wanted": "set_value",
                                                              "value": number,
                                                              "problem": problem})
        return Intent("set_value", text, target, data={"value": number})
    if words.switchable and kind == "set" and value in ("on", "off"):
        return Intent("turn_on" if value == "on" else "turn_off", text, target)
    return Intent("unsupported", text, target, data={"wanted": kind})


def question_in(words: list[str], heard: list[str]) -> str:
    """The question in a free reading's ``words`` (the general model's or the listener's):
    after "(ask) spark"; after a bare "ask" (the wake phrase already gone), from where the
    verifier's ``heard`` "ask <word> ..." goes on (the general model often hears "ask" as
    "asked", "as", "es"), else without a first "ask"."""
    if "spark" in words:
        return " ".join(words[words.index("spark") + 1:])
    after = heard[1] if len(heard) > 1 and heard[0] == "ask" else None
    if after is not None and after in words[:3]:
        return " ".join(words[words.index(after):])
    return " ".join(words[1:] if words[:1] == ["ask"] else words)


def asks(reading: str) -> bool:
    """A reading of the free-form path: "ask spark ..." anywhere, or starting with "ask"."""
    return ASK_PREFIX in reading or reading.split()[:1] == ["ask"]
