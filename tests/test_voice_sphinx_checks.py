"""The recogniser's second readings (issue 18: end of speech -> command within 300 ms; never
the wrong action).

A value set by voice is read again by a grammar that takes any number, and a reading that
ends in "... to <value>" by one with only the setting commands. Both used to decode the
utterance once more after the end of speech (0.4-1 s of CPU per set command on this machine);
with ``stream_checks`` they hear the audio as it streams in, on decoders of their own, and
must read what the re-decode read (the defaults: the grammar decoders' best path without the
lattice search, which was most of the wait). Real espeak-ng audio, real pocketsphinx, both
settings on the same audio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spark.nodes.voice.audio import silence
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vocab import build_vocabulary

pytest.importorskip("pocketsphinx")

ENTITIES: list[dict[str, Any]] = [
    {"entity_id": "switch.sim1_lamp", "platform": "switch", "name": "Lamp", "commandable": True},
    {"entity_id": "number.sim1_setpoint", "platform": "number", "name": "Setpoint",
     "min": 5, "max": 30, "step": 0.5, "commandable": True},
    {"entity_id": "select.power_power_mode", "platform": "select", "name": "Power mode",
     "options": ["auto", "on-grid", "off-grid"], "commandable": True},
]
SAID = ["turn on the sim one lamp",  # the first utterance (heard twice: the mean is new)
        "set the sim one setpoint to twenty one point five",
        "set the sim one setpoint to eighty",  # out of range: the any-number reading says so
        "set the power mode to off grid",
        "turn off the sim one lamp"]


async def readings(config: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    tts = EspeakTts(EspeakTtsConfig(voice="en-us+f3", speed=175))
    stt = PocketsphinxStt(PocketsphinxSttConfig(**config), ["hey spark"])
    stt.open()
    stt.set_vocabulary(build_vocabulary(ENTITIES, None, stt.lexicon()))
    out = []
    for text in SAID:
        pcm = np.concatenate([silence(0.3), await tts.synthesize(text), silence(0.5)])
        heard = stt.decode(pcm.astype(np.int16).tobytes())
        out.append((heard.text, heard.checks))
    return out


async def test_streamed_checks_read_what_the_redecode_after_speech_read() -> None:
    redecoded = await readings({"stream_checks": False, "grammar_bestpath": False})
    assert redecoded[1][1].get("number", "").startswith("twenty one point")
    assert redecoded[2][1] == {"number": "eighty"}  # the gate will not set "twenty eight"
    assert [text for text, _ in redecoded][3:] == ["set the power modes to off grid",
                                                   "turn off the sim one lamp"]
    assert await readings({"stream_checks": True, "grammar_bestpath": False}) == redecoded


async def test_a_toggle_is_read_again_with_only_the_verb_free() -> None:
    """"turn off my lamp" read as "toggle lamp" turned a lamp that was off on (issue 18). A
    toggle's audio is decoded once more by a grammar where only the verb may differ."""
    from spark.nodes.voice.audio import dither
    from spark.nodes.voice.stt.onoff import OnOffCheck, OnOffConfig
    from spark.nodes.voice.stt.sphinx_decoder import new_decoder

    check = OnOffCheck(OnOffConfig(), new_decoder(lm=None), ["hey", "spark"])
    tts = EspeakTts(EspeakTtsConfig(voice="en-us+f3", speed=170))
    rng = np.random.default_rng(6)
    read = {}
    for said in ("turn off my lamp", "toggle the lamp", "turn on the sim one lamp"):
        pcm = dither(np.concatenate([silence(0.3), await tts.synthesize(said), silence(0.4)]),
                     rng)
        name = "sim one lamp" if "sim one" in said else "lamp"
        read[said] = check.verb(f"toggle the {name}", pcm.astype(np.int16).tobytes())
    assert read == {"turn off my lamp": "turn off my lamp", "toggle the lamp": "toggle the lamp",
                    "turn on the sim one lamp": "turn on the sim one lamp"}
    assert check.verb("turn on the lamp", b"") is None  # only a toggle is checked
