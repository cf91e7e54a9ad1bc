"""The corpus's voices and what they say besides commands: the engines Debian ships and their
voices (a speed and a pitch per utterance, stable across runs), everyday speech and near misses
(false wakes), the TV's text.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bench.voice_corpus import held_out, stable_unit
from bench.voice_corpus.templates import Command

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
    return 140 + round(60 * stable_unit("wpm", voice.name, text)), \
        25 + round(50 * stable_unit("pitch", voice.name, text))


def voice_for(command: Command, wake: str, voices: Sequence[Voice] = VOICES) -> Spoken:
    """The voice that says this command: one of the command's split, chosen by its text."""
    pool = [v for v in voices if v.held_out == command.held_out] or list(voices)
    text = f"{wake}, {command.text}" if wake else command.text
    voice = pool[int(stable_unit("voice", command.text, command.template) * len(pool))]
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
