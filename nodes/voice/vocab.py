"""The closed vocabulary: what can be said about which entity, built from the hub registry.

Input: the hub's ``list_entities`` answer (third-party, HA-discovered entities included) and,
when the hub provides them, device names and areas. Each entity becomes a :class:`Target` with
spoken aliases: "<device> <name>", "<name>", "<area> <name>", the entity id's words, and
singular/plural forms ("light"/"lights"). Every alias is normalised (``sim1`` -> "sim one") and,
given a :class:`Lexicon`, spelled with words the recogniser knows ("setpoint" -> "set point",
"nas" -> "n a s"); aliases it cannot pronounce are dropped.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from spark.core.platforms import Level, Words, platform_for
from spark.core.slug import slugify
from spark.nodes.voice.numbers import int_to_words

# Which platforms voice knows and what may be said to each: each platform's ``words``
# (core/platforms/<platform>.py). ``with_words("switchable")``: the platforms "turn on" reaches.
FILLER = frozenset({"the", "a", "an", "my", "of"})
_SPLIT_RE = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_JUNK_RE = re.compile(r"[^a-z0-9' ]+")


class Lexicon(Protocol):
    def spell(self, word: str) -> list[str] | None:
        """Dictionary words that say ``word``; None when it cannot be said."""


class AnyWord:
    """The lexicon of recognisers without a closed dictionary (typed text, Vosk, Whisper)."""

    def spell(self, word: str) -> list[str] | None:
        return [word]


def normalize(text: str) -> str:
    """Lower case, words only: ``"Sim1 Lamp_2 (°C)"`` -> ``"sim one lamp two c"``."""
    text = text.lower().replace("&", " and ").replace("%", " percent ")
    text = _JUNK_RE.sub(" ", re.sub(r"[_\-./:]", " ", text))
    words: list[str] = []
    for token in text.split():
        for part in _SPLIT_RE.split(token):
            if part.isdigit():
                words += int_to_words(int(part)) if len(part) <= 6 else list(part)
            elif part.strip("'"):
                words.append(part.strip("'"))
    return " ".join(words)


def content(text: str) -> str:
    """``normalize`` without filler words (what name lookup compares)."""
    return " ".join(w for w in normalize(text).split() if w not in FILLER)


@dataclass(frozen=True, slots=True)
class Target:
    entity_id: str
    platform: str
    spoken: str  # canonical spoken name, used in replies
    aliases: tuple[str, ...]
    options: tuple[str, ...] = ()  # raw option values (select)
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str | None = None
    device_class: str | None = None
    commandable: bool = False

    @property
    def words(self) -> Words:
        """What may be said to this target: its platform's words."""
        return platform_for(self.platform).words

    def option_for(self, spoken: str) -> str | None:
        want = content(spoken)
        for option in self.options:
            if content(option) == want:
                return option
        return None


@dataclass(slots=True)
class Vocabulary:
    targets: list[Target] = field(default_factory=list)
    names: dict[str, list[Target]] = field(default_factory=dict)  # content(alias) -> targets
    spelled: dict[str, str] = field(default_factory=dict)  # option/alias -> lexicon spelling
    signature: str = ""

    def lookup(self, spoken: str) -> list[Target]:
        key = content(spoken)
        found = self.names.get(key)
        if found is None and key.endswith("s"):
            found = self.names.get(key[:-1])
        return list(found or [])

    def aliases(self, platforms: Iterable[str] | None = None) -> list[str]:
        """Lexicon-spelled aliases of targets on ``platforms`` (all when None), sorted."""
        keep = set(platforms) if platforms is not None else None
        out = {self.spelled.get(a, a) for t in self.targets
               if keep is None or t.platform in keep for a in t.aliases}
        return sorted(out)

    def options(self) -> list[str]:
        return sorted({self.spelled.get(normalize(o), normalize(o))
                       for t in self.targets for o in t.options if normalize(o)})


def _device_slug(entity_id: str, name: str | None) -> str | None:
    obj = entity_id.split(".", 1)[-1]
    if not name:
        return obj
    tail = slugify(name)
    if obj.endswith("_" + tail):
        return obj[: -len(tail) - 1]
    return None


def _say(text: str, lexicon: Lexicon) -> str | None:
    out: list[str] = []
    for word in normalize(text).split():
        spelled = lexicon.spell(word)
        if not spelled:
            return None
        out += spelled
    return " ".join(out) or None


def _plural_forms(alias: str) -> list[str]:
    head, _, last = alias.rpartition(" ")
    pre = head + " " if head else ""
    if last.endswith("s") and len(last) > 3:
        return [pre + last[:-1]]
    return [pre + last + "s"]


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) else default


def _level_range(level: Level, attributes: Mapping[str, Any]
                 ) -> tuple[float, float, float, str]:
    """(min, max, step, unit) of what ``level`` sets: the entity's own attributes when it has
    them (a climate's ``min_temp``), else the platform's defaults; a step below 0.1 is 0.1
    (what can be said), a range that makes no sense the defaults."""
    low = _number(attributes.get(level.min_attr), level.min) if level.min_attr else level.min
    high = _number(attributes.get(level.max_attr), level.max) if level.max_attr else level.max
    step = (_number(attributes.get(level.step_attr), level.step) if level.step_attr
            else level.step)
    if not low < high or step <= 0:
        low, high, step = level.min, level.max, level.step
    return low, high, max(step, 0.1), level.unit


def build_vocabulary(entities: Iterable[Mapping[str, Any]],
                     devices: Mapping[str, Mapping[str, Any]] | None = None,
                     lexicon: Lexicon | None = None) -> Vocabulary:
    lexicon = lexicon or AnyWord()
    devices = devices or {}
    vocab = Vocabulary()
    for e in sorted(entities, key=lambda e: str(e.get("entity_id"))):
        entity_id = str(e.get("entity_id") or "")
        platform = str(e.get("platform") or entity_id.partition(".")[0])
        words = platform_for(platform).words
        if not words.listed or e.get("entity_category") == "diagnostic":
            continue
        name = e.get("name")
        device = devices.get(str(e.get("device_id") or "")) or {}
        device_name = device.get("name") or e.get("device_name") or _device_slug(entity_id, name)
        area = device.get("area") or e.get("area")
        raw: list[str] = []
        if device_name and name and not normalize(str(name)).startswith(
                normalize(str(device_name))):  # "Power mode" of device "power": no "power power"
            raw.append(f"{device_name} {name}")
        raw.append(str(name or device_name or entity_id.split(".", 1)[-1]))
        if area:
            raw.append(f"{area} {name or device_name}")
            if words.area_noun:  # "the kitchen light", as in HA's area intents
                raw.append(f"{area} {platform}")
        raw.append(entity_id.split(".", 1)[-1])
        if words.noun and name:  # "the movie scene" for the scene "Movie"
            if not normalize(str(name)).endswith(words.noun):
                raw.append(f"{name} {words.noun}")
        aliases: list[str] = []
        for text in raw:
            said = _say(text, lexicon)
            if said is None or not content(said):
                continue
            for form in [said, *_plural_forms(said)]:
                if _say(form, lexicon) == form and form not in aliases:
                    aliases.append(form)
            vocab.spelled[normalize(text)] = said
        if not aliases:
            continue
        options = tuple(str(o) for o in (e.get("options") or []))
        for option in options:
            said_option = _say(option, lexicon)
            if said_option:
                vocab.spelled[normalize(option)] = said_option
        low, high, step, unit = (e.get("min"), e.get("max"), e.get("step"),
                                 e.get("unit_of_measurement"))
        if words.level is not None:  # a cover's position, a climate's target temperature
            low, high, step, unit = _level_range(words.level, e.get("attributes") or {})
        target = Target(
            entity_id=entity_id, platform=platform, spoken=aliases[0], aliases=tuple(aliases),
            options=options, min=low, max=high, step=step,
            unit=unit, device_class=e.get("device_class"),
            commandable=bool(e.get("commandable")),
        )
        vocab.targets.append(target)
        for alias in aliases:
            key = content(alias)
            bucket = vocab.names.setdefault(key, [])
            if target not in bucket:
                bucket.append(target)
        for text in raw:  # the unspelled form too, for typed text ("setpoint")
            key = content(text)
            if key and target not in vocab.names.setdefault(key, []):
                vocab.names[key].append(target)
    digest = hashlib.sha1()
    for t in vocab.targets:
        digest.update(repr((t.entity_id, t.platform, t.aliases, t.options, t.min, t.max,
                            t.step, t.commandable)).encode())
    vocab.signature = digest.hexdigest()[:16]
    return vocab
