"""Home Assistant's own phrasings: its sentence templates (``home-assistant-intents``, the lean
set HA made for constrained recognisers, Speech-to-Phrase) and its matcher (``hassil``).

Two uses, one source:

- :func:`match`: text -> (HA intent, entity, value words, state) with hassil over the lab's
  names, so "could you switch on the sim one lamp for me", "the sim one lamp off", "is the
  sim one lamp on" or "set the setpoint position to twenty" read as HA reads them;
- :func:`jsgf_alternatives` / :func:`samples`: the same templates as JSGF for the grammar
  decoder and as example sentences for the verifier's bigram model, so what HA's templates
  say is in the recogniser's language, with HA's skip words ("please", "could you", "for me")
  around every command.

Only the intents voice can carry out are kept (:data:`INTENTS`), and only the slot
combinations about one named entity (no areas or floors: our names already include the area).
Lists become our slots: ``{name}`` the entity names allowed for the template's domains,
``{position}`` / ``{brightness}`` the entity's own values, ``{on_off_states}`` on / off. A
template part with a word the recogniser cannot say, or a list we do not have, drops out.
Every expansion is bounded (:data:`MAX_ALTERNATIVES` per template, :data:`MAX_SAMPLES`);
the parsed templates are cached for the process (the package data does not change).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from spark.core.platforms import catalogue
from spark.nodes.voice.vocab import Vocabulary

# HA intent -> our intent kind (intents.py); HassToggle is not in HA's English templates.
INTENTS = {"HassTurnOn": "turn_on", "HassTurnOff": "turn_off", "HassGetState": "get_state",
           "HassSetPosition": "set", "HassLightSet": "set", "HassFanSetSpeed": "set",
           "HassNevermind": "nevermind"}
COMBINATIONS = frozenset({"name_only", "name_state", "name_brightness", "default"})
SWITCH_DOMAINS = frozenset({"switch", "light", "fan"})
VALUE_LISTS = frozenset({"position", "brightness", "fan_speed"})
MAX_ALTERNATIVES = 400  # JSGF alternatives one template may expand to (orderings, options)
MAX_SAMPLES = 12  # example sentences per template and entity for the verifier


def available() -> bool:
    try:
        import hassil  # noqa: F401
        import home_assistant_intents  # noqa: F401
    except ImportError:
        return False
    return True


def extra_domains(position: bool = False) -> dict[str, tuple[str, ...]]:
    """HA domain -> our platforms its sentence templates also name: each platform's
    ``Words.ha_domains`` (``ha_position_domains`` for HA's HassSetPosition sentences)."""
    out: dict[str, list[str]] = {}
    for name, platform in catalogue().items():
        words = platform.words
        for domain in words.ha_position_domains if position else words.ha_domains:
            out.setdefault(domain, []).append(name)
    return {domain: tuple(names) for domain, names in out.items()}


# Verbs of one kind of device (a cover opens and closes): never lent to the platforms that borrow
# a domain's sentences (``Words.ha_domains`` / ``ha_position_domains``).
_OWN_VERB = re.compile(r"^\s*[(\[]?\s*(?:open|close|lock|unlock)\b")


@functools.cache
def templates() -> dict[str, Any]:
    """HA's English Speech-to-Phrase templates, only what voice can carry out, with our
    platforms added to each template's domains. Empty without the packages."""
    if not available():
        return {}
    from home_assistant_intents import get_speech_to_phrase_intents

    data = get_speech_to_phrase_intents("en") or {}
    kept: dict[str, Any] = {}
    for name, intent in (data.get("intents") or {}).items():
        if name not in INTENTS:
            continue
        groups = []
        for group in intent.get("data", []):
            combo = (group.get("metadata") or {}).get("slot_combination", "default")
            if combo not in COMBINATIONS:
                continue
            group = dict(group)
            context = dict(group.get("requires_context") or {})
            domains = context.get("domain")
            if isinstance(domains, list):
                extra = extra_domains(position=name == "HassSetPosition")
                more = [d for dom in domains for d in extra.get(dom, ())]
                if more:
                    # A sentence with a platform's own verb stays with HA's domains: "set the
                    # setpoint to twenty" is a number's, "close the setpoint to twenty" is not.
                    own = [t for t in group.get("sentences", []) if _OWN_VERB.search(t)]
                    if own:
                        groups.append({**group, "sentences": own})
                    group["sentences"] = [t for t in group.get("sentences", []) if t not in own]
                context["domain"] = sorted({*domains, *more})
                group["requires_context"] = context
            groups.append(group)
        if groups:
            kept[name] = {"data": groups}
    return {**data, "intents": kept}


@functools.cache
def _intents() -> Any:
    from hassil import Intents

    return Intents.from_dict(templates())


def skip_words() -> list[str]:
    return list(templates().get("skip_words") or [])


@dataclass(frozen=True, slots=True)
class Match:
    kind: str  # our intent kind: turn_on, turn_off, get_state, set, nevermind
    entity_id: str | None = None
    value: str | None = None  # the value as said ("twenty one point five")
    state: str | None = None  # "is X on": the state asked about
    template: str = ""


_SLOTS: dict[str, Any] = {}  # vocabulary signature -> hassil slot lists (one kept)


def _slot_lists(vocab: Vocabulary) -> dict[str, Any]:
    from hassil.intents import TextSlotList, WildcardSlotList

    cached = _SLOTS.get(vocab.signature)
    if cached is not None:
        return cached
    values: list[tuple[str, Any, dict[str, Any]]] = []
    for target in vocab.targets:
        for alias in target.aliases:
            values.append((alias, target.entity_id, {"domain": target.platform}))
    lists: dict[str, Any] = {
        "name": TextSlotList.from_tuples(values, allow_template=False),
        "position": WildcardSlotList("position"),
        "brightness": WildcardSlotList("brightness"),
        "fan_speed": WildcardSlotList("fan_speed"),
    }
    _SLOTS.clear()
    _SLOTS[vocab.signature] = lists
    return lists


def match(text: str, vocab: Vocabulary) -> Match | None:
    """HA's reading of ``text`` (normalised words) over ``vocab``'s names, or None."""
    if not text or not templates() or not vocab.targets:
        return None
    from hassil import recognize

    lists = _slot_lists(vocab)
    result = recognize(text, _intents(), slot_lists=lists)
    if result is None:
        return None
    kind = INTENTS.get(result.intent.name)
    if kind is None:
        return None
    slots = {k: v.value for k, v in result.entities.items()}
    value = slots.get("position", slots.get("brightness", slots.get("percentage")))
    template = result.intent_sentence.text if result.intent_sentence is not None else ""
    entity = slots.get("name")
    return Match(kind, str(entity) if entity is not None else None,
                 None if value is None else str(value).strip(),
                 None if slots.get("state") is None else str(slots["state"]), template or "")


# ---- the recogniser's language --------------------------------------------------------
Slot = Callable[[str, str | None, list[str]], str | None]


def _jsgf(expr: Any, rules: dict[str, Any], known: Callable[[str], bool], slot: Slot,
          domains: list[str]) -> str | None:
    """One hassil expression as JSGF, or None when it cannot be said."""
    from hassil.expression import (
        Alternative,
        ListReference,
        Permutation,
        RuleReference,
        Sequence,
        TextChunk,
    )

    if isinstance(expr, TextChunk):
        words = expr.text.lower().split()
        if not all(known(w) for w in words):
            return None
        return " ".join(words)
    if isinstance(expr, ListReference):
        return slot(expr.list_name, expr.slot_name, domains)
    if isinstance(expr, RuleReference):
        rule = rules.get(expr.rule_name)
        return None if rule is None else _jsgf(rule.expression, rules, known, slot, domains)
    if isinstance(expr, Permutation):
        parts = [_jsgf(item, rules, known, slot, domains) for item in expr.items]
        if any(p is None for p in parts):
            return None
        orders = itertools.islice(itertools.permutations([p for p in parts if p]), 24)
        return "(" + " | ".join(" ".join(o) for o in orders) + ")"
    if isinstance(expr, Alternative):
        alts = [_jsgf(item, rules, known, slot, domains) for item in expr.items]
        said = [a for a in alts if a]
        empty = expr.is_optional or any(a == "" for a in alts)
        if not said:
            return "" if empty else None
        body = "(" + " | ".join(dict.fromkeys(said)) + ")"
        return f"[{body}]" if empty else body
    if isinstance(expr, Sequence):
        parts = [_jsgf(item, rules, known, slot, domains) for item in expr.items]
        if any(p is None for p in parts):
            return None
        return " ".join(p for p in parts if p)
    return None


def _parsed() -> list[tuple[str, list[str], Any]]:
    """(HA intent, domains, parsed sentence) for every kept template."""
    from hassil import parse_sentence

    out = []
    for name, intent in templates().get("intents", {}).items():
        for group in intent["data"]:
            domains = list((group.get("requires_context") or {}).get("domain") or [])
            for sentence in group.get("sentences", []):
                out.append((name, domains, parse_sentence(sentence)))
    return out


@functools.cache
def _parsed_cached() -> tuple[tuple[str, tuple[str, ...], Any], ...]:
    return tuple((n, tuple(d), s) for n, d, s in _parsed())


def _rules() -> dict[str, Any]:
    from hassil import parse_sentence

    return {k: parse_sentence(v) for k, v in (templates().get("expansion_rules") or {}).items()}


_RULES: dict[str, Any] = {}


def jsgf_alternatives(known: Callable[[str], bool], slot: Slot,
                      intents: Iterable[str] = tuple(INTENTS)) -> list[str]:
    """HA's templates for ``intents`` as JSGF alternatives; ``slot(list, slot name, domains)``
    says each ``{list}`` (a JSGF rule reference or alternatives; None drops the template)."""
    if not templates():
        return []
    if not _RULES:
        _RULES.update(_rules())
    wanted = set(intents)
    out: list[str] = []
    for name, domains, sentence in _parsed_cached():
        if name not in wanted:
            continue
        said = _jsgf(sentence.expression, _RULES, known, slot, list(domains))
        if said and said.count("|") < MAX_ALTERNATIVES:
            out.append(said)
    return list(dict.fromkeys(out))


def polite(known: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """HA's skip words the recogniser can say, as (before, after) a command."""
    said = [w for w in skip_words() if all(known(x) for x in w.split())]
    # before a command only the ones a command follows directly ("i want" needs a "to")
    before = [w for w in said if w in ("please", "can you", "could you", "would you")]
    after = [w for w in said if w in ("please", "for me")]
    return before, after


def samples(alternatives: Iterable[str], seed: int = 0) -> list[str]:
    """Up to :data:`MAX_SAMPLES` sentences of each JSGF alternative (deterministic): the
    verifier's model learns HA's word orders from them."""
    rng = random.Random(seed)
    out: list[str] = []
    for alt in alternatives:
        seen: set[str] = set()
        for _ in range(MAX_SAMPLES * 3):
            text = " ".join(_sample(alt, rng).split())
            if text and text not in seen:
                seen.add(text)
                out.append(text)
            if len(seen) >= MAX_SAMPLES:
                break
    return out


def _sample(jsgf: str, rng: random.Random) -> str:
    """One sentence of a JSGF expression without rule references (those stay as written)."""
    tokens = jsgf.replace("(", " ( ").replace(")", " ) ").replace("[", " [ ").replace(
        "]", " ] ").replace("|", " | ").split()
    pos = 0

    def seq(stop: set[str]) -> list[str]:
        nonlocal pos
        words: list[str] = []
        while pos < len(tokens) and tokens[pos] not in stop:
            tok = tokens[pos]
            pos += 1
            if tok in ("(", "["):
                close = ")" if tok == "(" else "]"
                choices = [seq({"|", close})]
                while pos < len(tokens) and tokens[pos] == "|":
                    pos += 1
                    choices.append(seq({"|", close}))
                pos += 1  # the closing bracket
                if tok == "[":
                    choices.append([])
                words += rng.choice(choices)
            else:
                words.append(tok)
        return words

    return " ".join(seq(set()))
