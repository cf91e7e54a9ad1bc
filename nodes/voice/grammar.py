"""The recogniser's language, generated from the vocabulary: a JSGF grammar for the command
decoder and example sentences for the verification / wake-word language model (``lm.py``).

Both come from the phrase lists in ``intents.py``, so everything the grammar accepts parses.
"""

from __future__ import annotations

from collections.abc import Iterable

from nodes.voice.intents import (
    ASK_PREFIX,
    OFF_VERBS,
    ON_VERBS,
    PRESS_VERBS,
    QUERY_VERBS,
    STATUS_PHRASES,
)
from nodes.voice.numbers import ONES, TENS
from nodes.voice.vocab import SWITCHABLE, Vocabulary

UNITS = ("percent", "degrees", "watts", "volts", "minutes", "seconds")
_NUMBER_RULES = f"""<digit> = {" | ".join(ONES[1:10])};
<teen> = {" | ".join(ONES[10:20])};
<tens> = {" | ".join(t for t in TENS if t)};
<n99> = zero | <digit> | <teen> | <tens> [<digit>];
<n999> = <n99> | <digit> hundred [[and] <n99>];
<number> = [minus] <n999> [point <digit>] [<unit>];
<unit> = {" | ".join(UNITS)};"""


def _rule(name: str, phrases: Iterable[str]) -> str:
    return f"<{name}> = {' | '.join(sorted({p for p in phrases if p}))};"


def jsgf(vocab: Vocabulary, wake_phrases: Iterable[str] = ()) -> str:
    """A JSGF grammar for every command about ``vocab``'s targets (rules for empty categories
    are left out: pocketsphinx's FSG cannot take ``<VOID>`` alternatives)."""
    wake = sorted(set(wake_phrases))
    slots = {
        "switchable": vocab.aliases(SWITCHABLE),
        "anything": vocab.aliases(),
        "numeric": vocab.aliases(["number"]),
        "selectable": vocab.aliases(["select"]),
        "pressable": vocab.aliases(["button"]),
        "option": vocab.options(),
    }
    commands: dict[str, list[str]] = {
        "onoff": ["(<on> | <off>) [the] <switchable>",
                  "(turn | switch) [the] <switchable> (on | off)"] if slots["switchable"] else [],
        "toggle": ["toggle [the] <switchable>"] if slots["switchable"] else [],
        "query": ["(" + " | ".join(QUERY_VERBS) + ") [the] <anything> [<state>]"]
        if slots["anything"] else [],
        "set": (["set [the] <numeric> to <number>"] if slots["numeric"] else [])
        + (["set [the] <selectable> to <option>"] if slots["selectable"] and slots["option"]
           else []),
        "select": ["(select | choose) <option> for [the] <selectable>"]
        if slots["selectable"] and slots["option"] else [],
        "press": ["(" + " | ".join(PRESS_VERBS) + ") [the] <pressable> [button]"]
        if slots["pressable"] else [],
        "status": [" | ".join(STATUS_PHRASES)],
        "ask": [ASK_PREFIX],
    }
    used = [name for name, alts in commands.items() if alts]
    lines = [
        "#JSGF V1.0;",
        "grammar spark;",
        "public <command> = " + ("[<wake>] " if wake else "")
        + "(" + " | ".join(f"<{n}>" for n in used) + ");",
        _rule("wake", wake) if wake else "",
        _rule("on", ON_VERBS),
        _rule("off", OFF_VERBS),
        "<state> = state | status | value | level;",
        *(f"<{name}> = {' | '.join(alts)};" for name, alts in commands.items() if alts),
        *(_rule(name, phrases) for name, phrases in slots.items() if phrases),
        _NUMBER_RULES,
    ]
    return "\n".join(line for line in lines if line) + "\n"


def sentences(vocab: Vocabulary, wake_phrases: Iterable[str] = ()) -> list[str]:
    """Representative sentences (every alias with every verb, numbers, options) for the
    n-gram model; ``wake_phrases`` also stand alone and before a few commands."""
    out: list[str] = []
    for alias in vocab.aliases(SWITCHABLE):
        for verb in (*ON_VERBS, *OFF_VERBS):
            out += [f"{verb} the {alias}", f"{verb} {alias}"]
        out += [f"turn the {alias} on", f"turn the {alias} off", f"toggle the {alias}"]
    for alias in vocab.aliases():
        out += [f"{verb} the {alias}" for verb in QUERY_VERBS]
        out.append(f"what is the {alias} level")
    for alias in vocab.aliases(["number"]):
        out += [f"set the {alias} to {ONES[n]}" for n in range(1, 20)]
        out += [f"set the {alias} to {t} {ONES[n]}" for t in TENS if t for n in (0, 5)]
        out.append(f"set the {alias} to twenty one point five degrees")
    for alias in vocab.aliases(["select"]):
        out += [f"set the {alias} to {option}" for option in vocab.options()]
    for alias in vocab.aliases(["button"]):
        out += [f"{verb} the {alias}" for verb in PRESS_VERBS]
    out += list(STATUS_PHRASES)
    out += [f"{ASK_PREFIX} what is the weather", f"{ASK_PREFIX} how are you"]
    for phrase in wake_phrases:
        out += [phrase] * 20
        out += [f"{phrase} {s}" for s in out[:200:7]]
    return out
