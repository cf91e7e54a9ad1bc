"""The ``any`` wake word: microWakeWord and openWakeWord listening for "okay nabu" together, on
real synthesised speech (espeak-ng) through the backends the node runs.

The two models miss different speakers (bench voice_wake, issue 18): microWakeWord at 0.75 does
not wake on espeak-ng's American female voices, openWakeWord at 0.1 does not wake on its
British male voice "Andy". Either of them wakes on both, once per phrase, and neither wakes on
a near miss or on silence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from spark.nodes.voice.audio import dither, frames
from spark.nodes.voice.config import VoiceNodeConfig
from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.wake import WakeConfig, make_wake
from spark.nodes.voice.wake.base import WakeWord
from spark.nodes.voice.wake.ensemble import AnyWake, AnyWakeConfig
from spark.nodes.voice.wake.neural import MicroWakeConfig, PyOpenWakeConfig

MICRO = {"type": "micro-wakeword", "model": "okay_nabu", "probability_cutoff": 0.75}
OPEN = {"type": "pyopen-wakeword", "model": "okay_nabu", "threshold": 0.1}


async def _wake_count(wake: WakeWord, text: str | None, voice: str) -> int:
    speech = (np.zeros(32000, np.int16) if text is None else
              await EspeakTts(EspeakTtsConfig()).synthesize(text, voice=voice, speed=165))
    audio = dither(np.concatenate([np.zeros(8000, np.int16), speech,
                                   np.zeros(16000, np.int16)]), np.random.default_rng(0))
    return sum(wake.feed(frame) is not None for frame in frames(audio))


def _opened(config: object) -> WakeWord:
    wake = make_wake(TypeAdapter(WakeConfig).validate_python(config))
    wake.open()
    return wake


# (voice, wakes microWakeWord alone, wakes openWakeWord alone)
SPEAKERS = [("en-us+f4", False, True), ("en-gb+Andy", True, False), ("en-us+m3", True, True)]


@pytest.mark.parametrize(("voice", "micro", "open_"), SPEAKERS)
async def test_either_engine_wakes_and_one_phrase_wakes_once(
        voice: str, micro: bool, open_: bool) -> None:
    text = "okay nabu, turn on the lamp"
    assert (await _wake_count(_opened(MICRO), text, voice) > 0) is micro
    assert (await _wake_count(_opened(OPEN), text, voice) > 0) is open_
    both = _opened({"type": "any", "engines": [MICRO, OPEN]})
    assert both.phrases == ["okay nabu"]
    assert await _wake_count(both, text, voice) == 1


@pytest.mark.parametrize("text", [None, "okay Nadia, let us start the lesson",
                                  "hey spark, turn on the lamp",
                                  "okay, now about the plan for tomorrow"])
async def test_neither_near_misses_nor_silence_wake_it(text: str | None) -> None:
    both = _opened({"type": "any", "engines": [MICRO, OPEN]})
    for voice in ("en-us+f4", "en-gb+Andy"):
        assert await _wake_count(both, text, voice) == 0, (text, voice)


def test_the_default_wake_word_is_both_engines_on_okay_nabu() -> None:
    wake = VoiceNodeConfig.model_validate({"id": "voice"}).wake
    assert isinstance(wake, AnyWakeConfig)
    assert [e.model_dump() for e in wake.engines] == [{**MICRO, "refractory_s": 1.0},
                                                       {**OPEN, "refractory_s": 1.0}]
    assert isinstance(make_wake(wake), AnyWake)


@pytest.mark.parametrize(("engines", "error"), [
    ([MICRO, {**OPEN, "model": "hey_jarvis"}], "different phrases (hey jarvis, okay nabu)"),
    ([MICRO], "at least 2"),
    ([MICRO, {"type": "pocketsphinx"}], "does not match any of the expected tags"),
    ([MICRO, {**OPEN, "threshold": 0}], "greater than 0"),
])
def test_config_errors_name_the_problem(engines: list[object], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("(", r"\(").replace(")", r"\)")):
        VoiceNodeConfig.model_validate({"id": "voice", "wake": {"type": "any",
                                                               "engines": engines}})


def test_model_files_of_different_phrases_are_refused_when_loaded() -> None:
    import pyopen_wakeword

    jarvis = next(Path(pyopen_wakeword.__file__).parent.rglob("hey_jarvis*.tflite"))
    wake = AnyWake(AnyWakeConfig(engines=[MicroWakeConfig(model="okay_nabu"),
                                          PyOpenWakeConfig(model=str(jarvis))]))
    with pytest.raises(BackendUnavailable, match="different phrases"):
        wake.open()
