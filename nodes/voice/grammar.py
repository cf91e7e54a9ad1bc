"""The recogniser's language, generated from the vocabulary: a JSGF grammar for the command
decoder and example sentences for the verification / wake-word language model (``lm.py``).

Both come from the phrase lists in ``intents.py`` and from Home Assistant's own sentence
templates (``phrases.py``: HA's word orders and its skip words "please", "could you", "for me"
around every command), so everything the grammar accepts parses.
Values are tied to their entity: "set the setpoint to ..." only allows the setpoint's own range
at its step (21.5 is "twenty one point five"), "set the power mode to ..." only its options.
That constraint is most of the accuracy on numbers and options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from spark.core.platforms import with_words
from spark.nodes.voice import phrases
from spark.nodes.voice.confirm import CONFIRM_PHRASES
from spark.nodes.voice.intents import (
    ASK_PREFIX,
    NEVERMIND,
    OFF_VERBS,
    ON_VERBS,
    PRESS_VERBS,
    QUERY_VERBS,
    STATUS_PHRASES,
)
from spark.nodes.voice.numbers import ONES, TENS, number_to_words
from spark.nodes.voice.vocab import Target, Vocabulary, normalize

UNITS = ("percent", "degrees", "watts", "volts", "minutes", "seconds")
MAX_VALUES = 400  # a wider number range gets the generic number rule
# One command in this many opens with each of HA's openers ("please", "could you") in the
# free model's sentences; 0: none. Off: measured at 20 (bench/voice_intent.py, tune split)
# it made 2 of 24 polite commands right, but the free reading of a wake phrase and command
# in one breath ("hey spark, turn on the sim one lamp", en-us+f3) fell apart ("the on the
# ceiling on": tests/test_voice_units.py::test_pipeline_on_synthesised_speech).
POLITE_SHARE = 0
_NUMBER_RULES = f"""<digit> = {" | ".join(ONES[1:10])};
<teen> = {" | ".join(ONES[10:20])};
<tens> = {" | ".join(t for t in TENS if t)};
<n99> = zero | <digit> | <teen> | <tens> [<digit>];
<n999> = <n99> | <digit> hundred [[and] <n99>];
<number> = [minus] <n999> [point <digit>];"""


def _alts(phrases: Iterable[str]) -> str:
    return " | ".join(sorted({p for p in phrases if p}))


def _rule(name: str, phrases: Iterable[str]) -> str:
    return f"<{name}> = {_alts(phrases)};"


def values(target: Target) -> list[str] | None:
    """Every value of a number entity as words, or None when there are too many."""
    low = 1.0 if target.min is None else float(target.min)
    high = 100.0 if target.max is None else float(target.max)
    step = float(target.step or 1.0)
    if step <= 0 or high < low:
        return None
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > MAX_VALUES:
        return None
    decimals = 0 if step.is_integer() and low.is_integer() else 1
    return [number_to_words(low + i * step, decimals) for i in range(count)]


_UNIT_WORDS = {"%": "percent", "°c": "degrees", "°f": "degrees", "c": "degrees", "w": "watts",
               "v": "volts", "min": "minutes", "s": "seconds"}


def unit_word(target: Target) -> str | None:
    """The spoken unit of a number entity ("degrees" for °C), None when it has none we say:
    only its own unit may follow its value, so "twenty one" is not heard as "twenty watts"."""
    word = _UNIT_WORDS.get((target.unit or "").strip().lower())
    return word if word in UNITS else None


def options(vocab: Vocabulary, target: Target) -> list[str]:
    return [vocab.spelled.get(normalize(o), normalize(o)) for o in target.options]


def _ha_slot(name: str, _slot: str | None, domains: list[str]) -> str | None:
    """HA's lists in the grammar: entity names by domain, on / off."""
    if name == "name":
        if "sensor" in domains:
            return "<anything>"
        return "<switchable>" if phrases.SWITCH_DOMAINS & set(domains) else None
    if name == "on_off_states":
        return "(on | off)"
    return None


def _ha_setters(known: Callable[[str], bool], target: Target, value: str) -> list[str]:
    """HA's set templates (position, brightness) for one number entity and its values."""
    names = "(" + _alts(target.aliases) + ")"

    def slot(name: str, _slot: str | None, domains: list[str]) -> str | None:
        if name == "name":
            return names if target.platform in domains else None
        return value if name in phrases.VALUE_LISTS else None

    return phrases.jsgf_alternatives(known, slot, ("HassSetPosition", "HassLightSet",
                                                   "HassFanSetSpeed"))


def _verb_groups(vocab: Vocabulary) -> dict[tuple[str, ...], list[str]]:
    """Each set of a platform's own verbs (``Words.on_verbs`` / ``off_verbs``) -> the names
    of the targets they take."""
    out: dict[tuple[str, ...], list[str]] = {}
    for target in vocab.targets:
        for verbs in (target.words.on_verbs, target.words.off_verbs):
            if verbs:
                said = [vocab.spelled.get(a, a) for a in target.aliases]
                out.setdefault(tuple(sorted(verbs)), []).extend(said)
    return out


def jsgf(vocab: Vocabulary, wake_phrases: Iterable[str] = (),
         kinds: Iterable[str] | None = None, known: Callable[[str], bool] | None = None,
         any_number: bool = False) -> str:
    """A JSGF grammar for every command about ``vocab``'s targets (rules for empty categories
    are left out: pocketsphinx's FSG cannot take ``<VOID>`` alternatives); ``kinds``: only
    these kinds of command (``onoff``, ``toggle``, ``query``, ``set``, ...); ``known``: the
    recogniser's dictionary (with it, HA's templates and skip words join the grammar);
    ``any_number``: every number entity takes any number (not only its own values): the
    second, differently constrained reading that confirms a value (stt/sphinx.py)."""
    wake = sorted(set(wake_phrases))
    slots = {
        "switchable": vocab.aliases(with_words("switchable")),
        "anything": vocab.aliases(),
        "pressable": vocab.aliases(with_words("pressable")),
    }
    extra: list[str] = []
    setters: list[str] = []
    generic = False
    for i, target in enumerate(vocab.targets):
        names = _alts(target.aliases)
        if target.words.setter == "number":
            said = None if any_number else values(target)
            unit = unit_word(target)
            after = f" [{unit}]" if unit else ""
            level = target.words.level
            noun = f" [{level.noun}]" if level is not None and level.noun else ""
            if said is None:
                generic = True
                setters.append(f"set [the] ({names}){noun} to <number>{after}")
            else:
                extra.append(_rule(f"v{i}", said))
                setters.append(f"set [the] ({names}){noun} to <v{i}>{after}")
                if known is not None:
                    setters += _ha_setters(known, target, f"<v{i}>{after}")
        elif target.words.setter == "option" and target.options:
            extra.append(_rule(f"o{i}", options(vocab, target)))
            setters += [f"set [the] ({names}) to <o{i}>",
                        f"(select | choose) <o{i}> for [the] ({names})"]
    verbs: list[str] = []  # the platforms' own verbs: "open the blind", "lock the door"
    for group, names_of in _verb_groups(vocab).items():
        verbs.append(f"({' | '.join(group)}) [the] ({_alts(names_of)})")
    commands: dict[str, list[str]] = {
        "onoff": ["(<on> | <off>) [the] <switchable>",
                  "(turn | switch) [the] <switchable> (on | off)"] if slots["switchable"] else [],
        "toggle": ["toggle [the] <switchable>"] if slots["switchable"] else [],
        "verbs": verbs,
        "query": ["(" + " | ".join(QUERY_VERBS) + ") [the] <anything> [<state>]"]
        if slots["anything"] else [],
        "set": setters,
        "press": ["(" + " | ".join(PRESS_VERBS) + ") [the] <pressable> [button]"]
        if slots["pressable"] else [],
        "status": [" | ".join(STATUS_PHRASES)],
        "ask": ["ask [spark]"],  # the question itself: the general model (stt/sphinx.py)
        # (not HA's verbless "[the] lamp on": measured, the grammar then lost "turn off")
        "ha": [a for a in phrases.jsgf_alternatives(known, _ha_slot, (
            "HassTurnOn", "HassTurnOff", "HassGetState", "HassNevermind"))
            if not a.startswith(("[", "(", "<"))
            and (slots["switchable"] or "<switchable>" not in a)
            and (slots["anything"] or "<anything>" not in a)] if known is not None else [],
        "confirm": [" | ".join(p for p in dict.fromkeys((*CONFIRM_PHRASES, *NEVERMIND))
                               if known is None or all(known(w) for w in p.split()))],
    }
    wanted = set(commands) if kinds is None else set(kinds)
    used = [name for name, alts in commands.items() if alts and name in wanted]
    # HA's skip words before a command ("please", "could you"); not after it: measured, a
    # trailing "please" soaked up the end of commands ("... to eighteen" -> "... level please")
    before = phrases.polite(known)[0] if known is not None else []
    lines = [
        "#JSGF V1.0;",
        "grammar spark;",
        "public <command> = " + ("[<wake>] " if wake else "")
        + ("[<polite>] " if before else "")
        + "(" + " | ".join(f"<{n}>" for n in used) + ")"
        + ";",
        _rule("polite", before) if before else "",
        _rule("wake", wake) if wake else "",
        _rule("on", ON_VERBS),
        _rule("off", OFF_VERBS),
        "<state> = state | status | value | level;",
        *(f"<{name}> = {' | '.join(alts)};" for name, alts in commands.items() if alts),
        *(_rule(name, phrases) for name, phrases in slots.items() if phrases),
        *extra,
        _NUMBER_RULES if generic else "",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def ha_sentences(vocab: Vocabulary, known: Callable[[str], bool]) -> list[str]:
    """Sentences of HA's templates over ``vocab``'s names (bounded samples): the verifier's
    model hears HA's phrasings too (not the skip words: measured, they pulled its readings
    towards "please")."""
    switchable = "(" + _alts(vocab.aliases(with_words("switchable"))) + ")"
    anything = "(" + _alts(vocab.aliases()) + ")"

    def slot(name: str, _slot: str | None, domains: list[str]) -> str | None:
        if name == "name":
            if "sensor" in domains:
                return anything
            return switchable if phrases.SWITCH_DOMAINS & set(domains) else None
        return "(on | off)" if name == "on_off_states" else None

    if not vocab.targets:
        return []
    alts = phrases.jsgf_alternatives(known, slot, ("HassTurnOn", "HassTurnOff",
                                                   "HassGetState", "HassNevermind"))
    for target in vocab.targets:
        said = values(target) if target.words.setter == "number" else None
        if said:
            alts += _ha_setters(known, target, "(" + _alts(said[::max(
                1, len(said) // 12)]) + ")")
    # Not the verbless ones ("[the] lamp on"): as bigrams they pulled whole commands towards
    # "the ... on" (the grammar keeps them).
    return phrases.samples(a for a in alts if not a.startswith(("[", "(", "<")))


def sentences(vocab: Vocabulary, wake_phrases: Iterable[str] = (),
              known: Callable[[str], bool] | None = None,
              polite_share: int = POLITE_SHARE) -> list[str]:
    """Representative sentences (every alias with every verb, values, options) for the
    n-gram model; ``wake_phrases`` also stand alone and before a few commands; with
    ``known`` (the recogniser's dictionary) also HA's phrasings, and one command in
    ``polite_share`` (0: none) after each of HA's openers."""
    out: list[str] = ha_sentences(vocab, known) if known is not None else []
    for alias in vocab.aliases(with_words("switchable")):
        for verb in (*ON_VERBS, *OFF_VERBS):
            out += [f"{verb} the {alias}", f"{verb} {alias}"]
        out += [f"turn the {alias} on", f"turn the {alias} off", f"toggle the {alias}"]
    for alias in vocab.aliases():
        out += [f"{verb} the {alias}" for verb in QUERY_VERBS]
        out.append(f"what is the {alias} level")
    for target in vocab.targets:
        if target.words.setter == "number":
            said = values(target) or [ONES[n] for n in range(1, 20)] + [
                f"{t} {ONES[n]}" for t in TENS if t for n in (0, 5)]
            # a platform's level (a blind, a thermostat, a fan, a light) gets a tenth of a
            # number's share: measured, five of them at 40 values per name took two thirds
            # of the model and the verifier stopped hearing "lamp" ("the sim one and")
            level = target.words.level is not None
            said_as = target.aliases[::2] if level else target.aliases  # no plural forms
            every = said[:: max(1, len(said) // (8 if level else 40))]
            out += [f"set the {a} to {v}" for a in said_as for v in every]
            unit = unit_word(target)
            if unit is not None:  # the grammar takes "... to eighteen degrees": so must this
                out += [f"set the {a} to {v} {unit}" for a in said_as[::2] for v in every]
        elif target.words.setter == "option":
            out += [f"set the {a} to {o}" for a in target.aliases
                    for o in options(vocab, target)]
    for group, names in _verb_groups(vocab).items():
        out += [f"{verb} the {name}" for verb in group for name in names]
    for alias in vocab.aliases(with_words("pressable")):
        out += [f"{verb} the {alias}" for verb in PRESS_VERBS]
    out += list(STATUS_PHRASES)
    out += [p for p in (*CONFIRM_PHRASES, *NEVERMIND)
            if known is None or all(known(w) for w in p.split())]
    out += [f"{ASK_PREFIX} what is the weather", f"{ASK_PREFIX} how are you",
            "ask what is the weather", "ask how are you"]
    if known is not None and polite_share:
        # The grammar takes HA's openers ("please", "could you" ...): a few commands open
        # with each here, so the free model can hear them too (without them "could you"
        # read as "what ...", a question, and "please" as "the" / "nice").
        commands = list(out)
        for k, opener in enumerate(phrases.polite(known)[0]):
            out += [f"{opener} {c}" for c in commands[k::polite_share]]
    for phrase in wake_phrases:
        out += [phrase] * 20
        out += [f"{phrase} {s}" for s in out[:200:7]]
    return out
