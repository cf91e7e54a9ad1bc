"""The voice generalisation corpus (issue 18): generated, not a hand list.

* **Commands**: sentence templates (each with a stable id) filled over the default lab's
  entities, spoken names, numbers and options; every service the voice node offers (on / off /
  toggle, set value, select option, press), questions, status and chit-chat; polite and terse
  forms and the word orders people use ("please", "could you", "my ...", "change X to Y",
  "turn the X on"). Each :class:`Command` carries its expected outcome: the exact command the
  hub must publish (node, entity key, payload) or no action (with the kind of answer expected).
* **Voices**: engines Debian ships (espeak-ng English accents with its +variants, flite's
  voices, festival's English voices); each utterance gets a speed (140-200 wpm) and, where the
  engine takes one, a pitch, both derived from its text and voice so a rerun is identical.
* **Conditions**: clean, pink noise at 10 dB SNR, a TV talking at 10 dB (another voice reading
  other text from 2 s before the wake phrase to 2 s after the command), synthesised music
  (chords and a beat, no recordings) at 10 dB.
* **False wakes**: everyday speech and near-miss phrases ("hey Sparky", "spark plug", ...; and
  near misses of the neural engines' phrases) in every voice, >= 10 minutes in all.

THE HELD-OUT SPLIT (fixed before any tuning, issue 18): a voice (its full name, e.g.
``espeak-ng:en-us+m3`` or ``flite:slt``) and a sentence template (its id) are held out when
``sha256(name)[0] % 3 == 0`` (:func:`held_out`); everything else is the tune split. A held-out
template is spoken only by held-out voices and a tune template only by tune voices, so a
held-out utterance has neither its words' pattern nor its voice in the tune split. Tune
thresholds, grammar weights and choices on the tune split only; the acceptance counts on the
held-out split.

Audio is synthesised once into a cache (``$SPARK_CORPUS_CACHE``, default
``~/.cache/prime-spark/voice-corpus``), one WAV per (engine, voice, speed, pitch, text).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

RATE = 16000


# ---- the split ------------------------------------------------------------------------------
def held_out(name: str) -> bool:
    """Is this voice (full name) or sentence template (id) held out from tuning?"""
    return hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def _unit(*parts: str) -> float:
    """A stable number in [0, 1) from strings (speeds, pitches, voice choice)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


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
        values = sorted(ent.values, key=lambda v: _unit("value", tpl.id, name, str(v)))[:10]
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


# ---- voices -----------------------------------------------------------------------------------
Engine = Literal["espeak-ng", "flite", "festival"]


@dataclass(frozen=True)
class Voice:
    engine: Engine
    voice: str  # the engine's own name for it
    pitch: bool = True  # the engine takes a pitch

    @property
    def name(self) -> str:
        return f"{self.engine}:{self.voice}"

    @property
    def held_out(self) -> bool:
        return held_out(self.name)


_ESPEAK = ("en-us+m3", "en-us+f2", "en-us+m7", "en-us+f4", "en-gb+m1", "en-gb+f3", "en-gb+m4",
           "en-gb-scotland+m2", "en-gb-scotland+f1", "en-gb-x-rp+m5", "en-gb-x-rp+f5",
           "en-gb-x-gbclan+m6", "en-gb-x-gbcwmd+f2", "en-029+m1", "en-us-nyc+m2",
           "en-us-nyc+f3", "en-us+klatt3", "en-gb+Andy", "en-us+Annie", "en-us+john",
           "en-gb+edward", "en-us+belinda")
VOICES: tuple[Voice, ...] = (
    *(Voice("espeak-ng", v) for v in _ESPEAK),
    *(Voice("flite", v) for v in ("kal16", "awb", "rms", "slt")),
    *(Voice("festival", v, pitch=False) for v in ("kal_diphone", "ked_diphone",
                                                  "cmu_us_slt_arctic_hts")),
)
TV_VOICES: tuple[Voice, ...] = (Voice("espeak-ng", "en-gb-x-rp+m1"),
                                Voice("espeak-ng", "en-us+f5"), Voice("flite", "kal"))


@dataclass(frozen=True)
class Spoken:
    """One utterance: ``text`` in ``voice`` at ``wpm`` words per minute and ``pitch`` (0-99,
    espeak-ng's scale; flite maps it to its f0)."""

    voice: Voice
    text: str
    wpm: int = 170
    pitch: int = 50

    @property
    def key(self) -> str:
        return hashlib.sha256(
            f"{self.voice.name}\x1f{self.wpm}\x1f{self.pitch}\x1f{self.text}".encode()
        ).hexdigest()[:32]


def style(voice: Voice, text: str) -> tuple[int, int]:
    """(wpm in 140..200, pitch in 25..75) for this voice and text, stable across runs."""
    return 140 + round(60 * _unit("wpm", voice.name, text)), \
        25 + round(50 * _unit("pitch", voice.name, text))


def voice_for(command: Command, wake: str, voices: Sequence[Voice] = VOICES) -> Spoken:
    """The voice that says this command: one of the command's split, chosen by its text."""
    pool = [v for v in voices if v.held_out == command.held_out] or list(voices)
    text = f"{wake}, {command.text}" if wake else command.text
    voice = pool[int(_unit("voice", command.text, command.template) * len(pool))]
    wpm, pitch = style(voice, text)
    return Spoken(voice, text, wpm, pitch)


# ---- false wakes: everyday speech and near misses ---------------------------------------------
EVERYDAY: tuple[str, ...] = (
    "The history of the city goes back many centuries.",
    "Merchants came from far away to sell their goods at the market near the river.",
    "Over time the town grew and new bridges were built across the water.",
    "Today visitors walk through narrow streets and eat in small restaurants.",
    "In summer there are concerts in the park, and in winter people skate on the lake.",
    "The weather can change quickly, so it is wise to bring an umbrella.",
    "Trains leave every hour for the capital, and the journey takes about two hours.",
    "Could you pass me the salt and pepper, please?",
    "I think we should buy more milk and bread on the way home.",
    "My sister called yesterday to say that she is moving to a new flat.",
    "The children played football in the garden until it got dark.",
    "We watched a film about a lighthouse keeper on a small island.",
    "Remember to water the plants on the balcony while I am away.",
    "Turn left at the second traffic light and then keep going straight.",
    "The meeting has been moved to Thursday afternoon at three o'clock.",
    "Did you see how much the price of coffee has gone up this year?",
    "He switched jobs last spring and now works from home most days.",
    "Set the table, the soup is almost ready.",
    "The lamp in the hallway has been flickering again since Monday.",
    "What is the name of that song they played at the wedding?",
    "I will turn the heating down a bit before we go to bed.",
    "She changed the password on the router and forgot to write it down.",
    "The battery in my phone is almost empty, do you have a charger?",
    "Our neighbours painted their fence a bright shade of green.",
    "Let me know when the washing machine has finished.",
    "The cat is sleeping on the sofa again, right in the sun.",
    "There is a new bakery on the corner that sells excellent bread.",
    "The power went out for a few minutes during the storm last night.",
    "Please close the window, it is getting cold in here.",
    "The mode of transport they chose was a small sailing boat.",
    "Everyone agreed that the second half of the match was much better.",
    "I need to press my shirt before the interview tomorrow morning.",
    "The volume of the river rises every spring when the snow melts.",
    "A good cup of tea is the best way to start the day.",
    "The bus was late again, so I walked the last part of the way.",
    "We are planning a trip to the mountains in the autumn.",
)
NEAR_MISSES: tuple[str, ...] = (
    "Hey Sparky, come here, good boy.",
    "Hey Spike, turn the music down a bit.",
    "Hey Clark, are you coming to the party tonight?",
    "Hey Sparks, nice to see you again.",
    "I need a new spark plug for the lawn mower.",
    "A spark flew out of the fire and landed on the rug.",
    "Hey Mark, can you give me a hand with this box?",
    "They parked the car in front of the house.",
    "There was a spark of hope in her eyes.",
    "Hey, park the bike over there, please.",
    "Hey Stark, the suit is ready.",
    "The sparkling water is in the fridge.",
    "Hey spa, I booked a massage for Saturday.",
    "Okay, now about the plan for tomorrow.",
    "Okay Nadia, let us start the lesson.",
    "Okay, no booze at the party this time.",
    "Hey Jarvis, that was a joke, right?",  # the phrase itself: left out for hey jarvis
    "Hey Travis, did you finish the report?",
    "Hey Marvin, how was the trip?",
    "Hey Jarvie, the kettle is on.",
    "Alex, say, what time does the shop open?",
    "Alexander is coming over for dinner.",
    "Hey my craft room is finally tidy.",
    "Hey Michael, are you ready?",
)


def false_wake_corpus(voices: Sequence[Voice] = VOICES, rounds: int = 4) -> list[Spoken]:
    """Everyday speech and near misses, each said ``rounds`` times in different voices (the
    near misses that are another engine's own wake phrase are left out per engine by the
    bench, see ``wake_phrase_sentences``)."""
    out: list[Spoken] = []
    sentences = [*EVERYDAY, *NEAR_MISSES]
    for r in range(rounds):
        for i, text in enumerate(sentences):
            voice = voices[(i * 7 + r * 11) % len(voices)]
            wpm, pitch = style(voice, f"{r}:{text}")
            out.append(Spoken(voice, text, wpm, pitch))
    return out


def wake_phrase_sentences(phrase: str) -> frozenset[str]:
    """False-wake sentences that contain ``phrase`` itself (not a false wake for it)."""
    want = phrase.lower().split()
    out = set()
    for s in NEAR_MISSES:
        words = "".join(c if c.isalpha() or c == " " else " " for c in s.lower()).split()
        if any(words[i:i + len(want)] == want for i in range(len(words))):
            out.add(s)
    return frozenset(out)


TV_TEXT: tuple[str, ...] = (
    "Good evening and welcome to the news at six. Heavy rain is expected across the north of "
    "the country tonight, with flooding possible near rivers and low lying roads.",
    "In sport, the home side came back from two goals down to win the cup in the final minutes, "
    "sending thousands of supporters into the streets to celebrate.",
    "Scientists say the new telescope has found a cloud of gas around a distant star that may "
    "one day form planets much like our own.",
    "And now the weather. Tomorrow starts cloudy with a few showers in the west, brightening "
    "up in the afternoon with highs of around fourteen degrees.",
    "The committee will meet again next week to discuss the budget, after talks broke down on "
    "Tuesday over the cost of repairing the old harbour wall.",
    "Coming up after the break, we visit a village where every house is painted a different "
    "colour, and meet the baker who has not missed a morning in forty years.",
)


# ---- synthesis and its cache ------------------------------------------------------------------
def cache_dir() -> Path:
    root = os.environ.get("SPARK_CORPUS_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "prime-spark" / "voice-corpus"
    path.mkdir(parents=True, exist_ok=True)
    return path


class SynthesisError(Exception):
    """A synthesiser is missing or failed (the message says which and how to install it)."""


def engines_missing(voices: Iterable[Voice]) -> list[str]:
    need = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    return sorted({f"{v.engine} (apt install {v.engine})" for v in voices
                   if shutil.which(need[v.engine]) is None})


def _argv(s: Spoken, out: Path) -> tuple[list[str], str | None]:
    v = s.voice
    if v.engine == "espeak-ng":
        return ["espeak-ng", "-v", v.voice, "-s", str(s.wpm), "-p", str(s.pitch), "-w",
                str(out), s.text], None
    stretch = f"{170 / s.wpm:.3f}"  # both speak about 170 wpm at a stretch of 1
    if v.engine == "flite":
        f0 = 70 + 1.6 * s.pitch if v.voice in ("slt",) else 60 + 1.0 * s.pitch
        return ["flite", "-voice", v.voice, "--setf", f"duration_stretch={stretch}",
                "--setf", f"int_f0_target_mean={f0:.0f}", "-t", s.text, "-o", str(out)], None
    return ["text2wave", "-eval", f"(voice_{v.voice})", "-eval",
            f"(Parameter.set 'Duration_Stretch {stretch})", "-o", str(out)], s.text


async def synthesize(s: Spoken, cache: Path | None = None) -> np.ndarray:
    """16 kHz mono int16 samples of ``s`` (from the cache when it was made before)."""
    from spark.nodes.voice.audio import read_wav, write_wav

    cache = cache or cache_dir()
    path = cache / f"{s.key}.wav"
    if path.is_file():
        return read_wav(path)
    with tempfile.TemporaryDirectory(prefix="spark-corpus-") as tmp:
        out = Path(tmp) / "out.wav"
        argv, stdin = _argv(s, out)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise SynthesisError(f"cannot run {argv[0]}: {exc} (apt install "
                                 f"{s.voice.engine})") from exc
        async with asyncio.timeout(120):
            _, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if proc.returncode != 0 or not out.is_file():
            raise SynthesisError(f"{s.voice.name}: {argv[0]} failed ({proc.returncode}): "
                                 f"{err.decode()[-200:]}")
        samples = read_wav(out)  # any rate -> 16 kHz
    tmp_path = path.with_suffix(f".{os.getpid()}.tmp")
    write_wav(tmp_path, samples)
    tmp_path.rename(path)
    return samples


async def synthesize_all(items: Sequence[Spoken], workers: int = 2) -> list[np.ndarray]:
    """Many at once, ``workers`` synthesisers in parallel (two cores are shared)."""
    sem = asyncio.Semaphore(workers)

    async def one(s: Spoken) -> np.ndarray:
        async with sem:
            return await synthesize(s)

    return list(await asyncio.gather(*(one(s) for s in items)))


def speech_bounds(samples: np.ndarray, floor_db: float = -45.0) -> tuple[int, int]:
    """(first, last + 1) sample of speech: 10 ms frames above ``floor_db`` dBFS."""
    size = RATE // 100
    n = len(samples) // size
    if n == 0:
        return 0, len(samples)
    x = samples[: n * size].astype(np.float64).reshape(n, size)
    level = 10 * np.log10(np.maximum(1e-12, (x ** 2).mean(axis=1) / 32768.0 ** 2))
    loud = np.flatnonzero(level > floor_db)
    if len(loud) == 0:
        return 0, len(samples)
    return int(loud[0] * size), int((loud[-1] + 1) * size)


# ---- noise and music --------------------------------------------------------------------------
def pink(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    p = np.fft.irfft(spectrum / np.sqrt(np.maximum(1, np.arange(n // 2 + 1))), n)
    return p / (np.std(p) or 1.0)


def music(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Synthesised music: a chord progression (additive tones with a few harmonics and a
    decay per beat), a bass line and a hi-hat / kick beat at 100-130 bpm. No recordings."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    bpm = float(rng.uniform(100, 130))
    beat = 60 / bpm
    roots = [57, 53, 60, 55] if rng.random() < 0.5 else [60, 57, 53, 55]  # MIDI notes
    out = np.zeros(n)
    bar = 4 * beat
    for i in range(int(seconds / bar) + 1):
        root = roots[i % len(roots)]
        start, stop = int(i * bar * RATE), min(n, int((i + 1) * bar * RATE))
        if start >= n:
            break
        tt = t[start:stop] - i * bar
        env = np.exp(-(tt % beat) * 2.5)
        for note in (root, root + 4 if i % 2 == 0 else root + 3, root + 7, root - 12):
            f = 440.0 * 2 ** ((note - 69) / 12)
            for h, a in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[start:stop] += a * env * np.sin(2 * np.pi * f * h * tt)
    for k in range(int(seconds / (beat / 2)) + 1):
        s = int(k * beat / 2 * RATE)
        if s >= n:
            break
        m = min(n - s, int(0.05 * RATE))
        decay = np.exp(-np.arange(m) / (0.01 * RATE))
        out[s:s + m] += 0.3 * rng.normal(0, 1, m) * decay  # hi-hat
        if k % 2 == 0:
            out[s:s + m] += 1.5 * np.sin(2 * np.pi * 55 * np.arange(m) / RATE) * decay * 3
    return out / (np.std(out) or 1.0)


@dataclass
class Utterance:
    """One file for the node: ``samples`` and where the spoken command truly ends."""

    samples: np.ndarray
    speech_end_s: float  # audio time of the end of the command (clean speech)
    extra: dict[str, float] = field(default_factory=dict)


CONDITIONS = ("clean", "pink 10 dB", "TV 10 dB", "music 10 dB")


def compose(speech: np.ndarray, condition: str, rng: np.random.Generator,
            tv: np.ndarray | None = None) -> Utterance:
    """``speech`` (one utterance, wake phrase included) in a condition: 0.4 s lead and 1 s
    tail (TV: 2 s each, the TV talking throughout), noise at 10 dB SNR over the whole file."""
    from spark.nodes.voice.audio import as_int16

    first, last = speech_bounds(speech)
    speech = speech[first:last]
    lead, tail = (2.0, 2.0) if condition.startswith("TV") else (0.4, 1.0)
    pad = np.zeros(int(lead * RATE), np.int16), np.zeros(int(tail * RATE), np.int16)
    whole = np.concatenate([pad[0], speech, pad[1]]).astype(np.float64)
    end = (len(pad[0]) + len(speech)) / RATE
    if condition == "clean":
        return Utterance(as_int16(whole), end)
    seconds = len(whole) / RATE
    if condition.startswith("pink"):
        noise = pink(seconds + 0.1, rng)
    elif condition.startswith("music"):
        noise = music(seconds + 0.1, rng)
    elif condition.startswith("TV"):
        assert tv is not None and len(tv) > 0
        start = int(rng.integers(0, max(1, len(tv) - len(whole))))
        noise = np.resize(tv[start:].astype(np.float64), len(whole))
    else:
        raise ValueError(f"unknown condition {condition!r}")
    return Utterance(as_int16(whole + snr_gain(speech, noise, 10.0) * noise[: len(whole)]),
                     end)


def snr_gain(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """Gain for ``noise`` so that ``speech`` (its active 10 ms frames, above -50 dBFS) is
    ``snr_db`` above it."""
    size = RATE // 100
    n = len(speech) // size
    x = speech[: n * size].astype(np.float64).reshape(max(n, 1), -1) if n else \
        speech.astype(np.float64).reshape(1, -1)
    power = (x ** 2).mean(axis=1)
    active = power[power > (32768.0 * 10 ** (-50 / 20)) ** 2]
    p_speech = float(active.mean()) if len(active) else float(power.mean())
    p_noise = float(np.mean(noise.astype(np.float64) ** 2)) or 1.0
    return float(np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10))))
