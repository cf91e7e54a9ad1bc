"""The second, independent listener (issue 18): Moonshine's English model from the
``moonshine-cpp`` wheel (stt/moonshine.py) and the gate that acts on its reading only where
pocketsphinx confirms it (confirm.py).

Text level, data-driven: Moonshine's written output -> our words; (pocketsphinx's reading, its
checks, the listener's reading) -> act / ask / refuse. Audio level: espeak-ng speech through
the real model, alone and inside the pocketsphinx backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from spark.nodes.voice.confirm import ACTIONS, judge
from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.intents import recognize
from spark.nodes.voice.stt.base import Transcript
from spark.nodes.voice.stt.moonshine import (
    MoonshineModel,
    MoonshineSttConfig,
    spoken,
    without_wake,
)
from spark.nodes.voice.stt.moonshine_proc import MoonshineProcess, MoonshineStt
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vocab import build_vocabulary

ENTITIES: list[dict[str, Any]] = [
    {"entity_id": "switch.kitchen_lamp", "platform": "switch", "name": "Lamp",
     "device_name": "Kitchen", "commandable": True},
    {"entity_id": "switch.hall_lamp", "platform": "switch", "name": "Lamp",
     "device_name": "Hall", "commandable": True},
    {"entity_id": "number.sim_setpoint", "platform": "number", "name": "Setpoint",
     "device_name": "Sim", "min": 5, "max": 30, "step": 0.5, "commandable": True,
     "unit_of_measurement": "°C"},
    {"entity_id": "number.voice_volume", "platform": "number", "name": "Volume",
     "device_name": "Voice", "min": 0, "max": 100, "step": 5, "commandable": True,
     "unit_of_measurement": "%"},
    {"entity_id": "select.sim_mode", "platform": "select", "name": "Mode",
     "device_name": "Sim", "options": ["eco", "comfort", "away"], "commandable": True},
    {"entity_id": "sensor.power_battery", "platform": "sensor", "name": "Battery",
     "device_name": "Power", "unit_of_measurement": "%"},
]
VOCAB = build_vocabulary(ENTITIES)
HAS_MODEL = True
try:
    MoonshineModel(MoonshineSttConfig()).close()
except BackendUnavailable:
    HAS_MODEL = False
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="no moonshine-cpp wheel for this "
                                 "machine (x86-64 Linux only)")


@pytest.mark.parametrize(("written", "words"), [
    ("Set the setpoint to 21.5°C.", "set the setpoint to twenty one point five degrees"),
    ("Set volume to 75%.", "set volume to seventy five percent"),
    ("Turn off the kitchen lamp, please!", "turn off the kitchen lamp please"),
    ("Set the setpoint to 0.75", "set the setpoint to zero point seven five"),
    ("Switch the Sim 1 lamp on", "switch the sim one lamp on"),
    ("It's 1,000 degrees", "it's one thousand degrees"),
    ("Shouting the power mode to half-grid", "shouting the power mode to half grid"),
    ("", ""),
])
def test_written_text_becomes_our_words(written: str, words: str) -> None:
    assert spoken(written) == words


@pytest.mark.parametrize(("text", "left"), [
    ("nabu turn on the lamp", "turn on the lamp"),
    ("okay nabu turn on the lamp", "turn on the lamp"),
    ("turn on the lamp", "turn on the lamp"),
    ("okay turn on the lamp", "okay turn on the lamp"),  # "okay" alone is no wake phrase end
])
def test_the_wake_phrase_or_its_end_is_dropped(text: str, left: str) -> None:
    assert without_wake(text, ["okay nabu"]) == left


def t(text: str, second: str, candidate: str | None = None, **checks: str) -> Transcript:
    """pocketsphinx's reading ``text`` (its own reading ``candidate``, default ``text``),
    its checks, and the listener's reading ``second``."""
    return Transcript(text, text, candidate=text if candidate is None else candidate,
                      checks=dict(checks), second=second)


@pytest.mark.parametrize(("transcript", "decision"), [
    # both models hold the same whole command
    (t("turn off the kitchen lamp", "could you turn off the kitchen lamp please"), "act"),
    (t("set the sim setpoint to twenty", "set the sim setpoint to twenty degrees"), "act"),
    # the listener leads (pocketsphinx heard another command): its deciding word confirmed
    # by pocketsphinx's own check, else asked
    (t("turn off the kitchen lamp", "turn off the kitchen lamp", "turn off the hall lamp",
       onoff="off"), "act"),
    (t("turn off the kitchen lamp", "turn off the kitchen lamp", "turn on the hall lamp"),
     "ask"),
    (t("set the sim setpoint to twenty", "set the sim setpoint to twenty", "",
       number="twenty"), "act"),
    (t("set the sim setpoint to twenty", "set the sim setpoint to twenty", "",
       number="twenty eight"), "ask"),
    (t("set the sim mode to eco", "set the sim mode to eco", ""), "ask"),
    # the sound of the word says the other direction: never acts
    (t("turn on the kitchen lamp", "turn on the kitchen lamp", onoff="off"), "refuse"),
    # the listener hears a question, or another command, or a value out of range
    (t("turn on the kitchen lamp", "is it going to rain tomorrow"), "refuse"),
    (t("turn on the kitchen lamp", "is the kitchen lamp on"), "refuse"),
    (t("turn on the kitchen lamp", "turn on the hall lamp"), "ask"),
    (t("turn on the kitchen lamp", "turn off the kitchen lamp"), "ask"),
    (t("set the sim setpoint to twenty", "set the sim setpoint to eighty"), "refuse"),
    # it heard nothing: nothing is confirmed (tune split, pink noise: "set my volume to 60
    # percent" heard "fifty" by pocketsphinx, the listener silent)
    (t("set the voice volume to fifty", ""), "ask"),
    # its words name the target but not the deciding word (tune split, pink noise: "disable
    # the power grid" heard "enable" by every pocketsphinx reading, the listener "save all the
    # power grid")
    (t("turn on the hall lamp", "save all the hall lamp"), "ask"),
    (t("set the sim setpoint to twenty", "set the sim setpoint to twenty two x"), "ask"),
    (t("set the sim mode to eco", "set the sim mode to echo"), "ask"),
    # voice_intent's tune split: "... twelve point five" heard "twenty one point five" by
    # pocketsphinx and its any-number reading, the listener "... setpoint touchwell point file"
    (t("set the sim setpoint to twenty one point five", "set the simone setpoint touchwell "
       "point file", number="twenty one point five"), "ask"),
])
def test_the_gate_with_a_second_listener(transcript: Transcript, decision: str) -> None:
    intent = recognize(transcript.text, VOCAB)
    verdict = judge(transcript, intent, VOCAB)
    assert verdict.decision == decision, verdict


@pytest.mark.parametrize("transcript", [
    Transcript("set the sim setpoint to twenty one point five", "set the sim setpoint to "
               "twenty one point five", words=(("twenty", 0.99), ("one", 0.4)),
               checks={"number": "twenty one point five"}),
    Transcript("turn off the kitchen lamp", "turn off the kitchen lamp"),
    Transcript("turn off the kitchen lamp", "turn of the kitchen lam"),
    Transcript("set the sim mode to eco", "set the sim mode to eco"),
])
@pytest.mark.parametrize("second", ["press us in my dental fight", "dress was so my identity",
                                    "thank you"])
def test_a_garbled_listener_reading_is_no_evidence(transcript: Transcript,
                                                   second: str) -> None:
    """On this corpus's synthetic voices the listener garbles many short commands (their first
    sound clipped by the end of the wake word): such a reading neither acts nor refuses, the
    gate decides on pocketsphinx's readings as without a listener."""
    intent = recognize(transcript.text, VOCAB)
    alone = judge(transcript, intent, VOCAB)
    both = judge(replace(transcript, second=second), intent, VOCAB)
    assert (both.decision, both.reason) == (alone.decision, alone.reason)


def test_the_listener_config_is_strict_and_off_by_default() -> None:
    assert PocketsphinxSttConfig().listener is None
    assert PocketsphinxSttConfig.model_validate({"listener": {}}).listener == (
        MoonshineSttConfig())
    with pytest.raises(ValidationError, match="extra"):
        PocketsphinxSttConfig.model_validate({"listener": {"model": "base"}})


def test_a_missing_model_is_unavailable_with_the_files_named(tmp_path: Path) -> None:
    if not HAS_MODEL:
        pytest.skip("no moonshine-cpp wheel here")
    (tmp_path / "tokenizer.bin").write_bytes(b"")
    with pytest.raises(BackendUnavailable, match=r"encoder_model\.ort"):
        MoonshineModel(MoonshineSttConfig(model_dir=tmp_path))


async def _speech(text: str, voice: str) -> bytes:
    samples = await EspeakTts(EspeakTtsConfig()).synthesize(text, voice=voice, speed=160)
    pad = np.zeros(4800, np.int16)
    return np.concatenate([pad, samples.astype(np.int16), pad, pad]).tobytes()


@needs_model
@pytest.mark.parametrize("voice", ["en-us", "en-gb-x-rp+m5"])
def test_moonshine_reads_espeak_speech(voice: str) -> None:
    pcm = asyncio.run(_speech("could you turn off the kitchen lamp please", voice))
    stt = MoonshineStt(MoonshineSttConfig(), ["okay nabu"])
    try:
        got = stt.decode(pcm)
    finally:
        stt.close()
    assert "turn off the kitchen lamp" in got.text
    assert got.second == got.text and not got.heard
    model = MoonshineModel(MoonshineSttConfig())
    try:
        assert model.transcribe(pcm[:1000]) == ""  # under 0.1 s: nothing
        assert model.transcribe(b"\x00" * 7) == ""  # odd bytes, no samples
    finally:
        model.close()
    with pytest.raises(BackendUnavailable):
        model.transcribe(pcm)


@needs_model
def test_the_process_is_started_afresh_when_it_has_grown_or_stalled() -> None:
    """The library keeps ~19 MB of every transcription: past max_rss_mb the child is
    replaced (the reading is still answered); a child that stalls past timeout_s is ended
    and the utterance has no reading, the next one a new child."""
    pcm = asyncio.run(_speech("turn off the kitchen lamp", "en-us"))
    proc = MoonshineProcess(MoonshineSttConfig(max_rss_mb=400))  # the first reading passes it
    proc.open()
    try:
        assert "kitchen lamp" in spoken(proc.transcribe(pcm))
        assert proc.starts == 2 and proc.last_rss_mb > 400
        assert "kitchen lamp" in spoken(proc.transcribe(pcm))
    finally:
        proc.close()
    stalled = MoonshineProcess(MoonshineSttConfig(timeout_s=0.01))
    stalled.open()
    try:
        assert stalled.transcribe(pcm) == ""  # no model reads 2 s of audio in 10 ms
        assert stalled.starts == 1 and stalled._proc is None
    finally:
        stalled.close()


def test_a_child_that_cannot_load_is_unavailable(tmp_path: Path) -> None:
    proc = MoonshineProcess(MoonshineSttConfig(model_dir=tmp_path))
    with pytest.raises(BackendUnavailable, match=r"encoder_model\.ort|not installed"):
        proc.open()
    assert proc._proc is None


@needs_model
def test_the_pocketsphinx_backend_hears_with_both() -> None:
    """A whole command through both models: pocketsphinx's reading and the listener's agree,
    and the gate acts; a question the grammar forces into a command never acts."""
    stt = PocketsphinxStt(PocketsphinxSttConfig(listener=MoonshineSttConfig()), ["okay nabu"])
    try:
        stt.set_vocabulary(build_vocabulary(ENTITIES, None, stt.lexicon()))
        vocab = stt.vocabulary
        got = stt.decode(asyncio.run(_speech("turn off the kitchen lamp", "en-us")))
        assert "kitchen lamp" in got.second
        intent = recognize(got.text, vocab)
        assert (intent.name, intent.target and intent.target.entity_id) == (
            "turn_off", "switch.kitchen_lamp")
        assert judge(got, intent, vocab).decision == "act"
        got = stt.decode(asyncio.run(_speech("is it going to rain tomorrow", "en-us")))
        assert "rain" in got.second
        intent = recognize(got.text, vocab)
        assert intent.name not in ACTIONS or judge(got, intent, vocab).decision != "act"
    finally:
        stt.close()
