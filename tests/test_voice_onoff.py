"""The on/off check by the word's last sound, clicks that must not move the recogniser's mean,
and WAV replays that sound the same however long the source idled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spark.nodes.voice.audio import RATE, dither, silence, write_wav
from spark.nodes.voice.intents import COMPLETE, recognize
from spark.nodes.voice.pcm import FRAME_BYTES
from spark.nodes.voice.sources.base import AudioFrame
from spark.nodes.voice.sources.wav import WavSource, WavSourceConfig
from spark.nodes.voice.stt.onoff import OnOffCheck, OnOffConfig, rivals, tail_db
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig, new_decoder
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vocab import build_vocabulary

ENTITIES = [
    {"entity_id": "switch.sim1_lamp", "platform": "switch", "name": "Lamp", "commandable": True},
    {"entity_id": "select.power_power_mode", "platform": "select", "name": "Power mode",
     "options": ["auto", "on-grid", "off-grid"], "commandable": True},
]
DEVICES: dict[str, dict[str, str]] = {}


def test_rivals_swap_on_and_off_only_into_whole_commands() -> None:
    vocab = build_vocabulary(ENTITIES, DEVICES)

    def whole(text: str) -> bool:
        return recognize(text, vocab).name in COMPLETE

    assert rivals("turn on the sim one lamp", whole) == [(1, "turn off the sim one lamp")]
    assert rivals("switch the sim one lamp off", whole) == [(5, "switch the sim one lamp on")]
    assert rivals("set the power mode to off grid", whole) == [
        (5, "set the power mode to on grid")]
    assert rivals("enable the sim one lamp", whole) == []  # no on / off word
    assert rivals("turn on the", whole) == []  # the swap is no command either


def test_tail_ratio_tells_a_voiced_sound_from_friction() -> None:
    t = np.arange(int(0.2 * RATE)) / RATE
    nasal = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((120, 240, 360), 1))
    friction = np.random.default_rng(1).normal(0, 1, len(t))
    as_pcm = [(x / np.abs(x).max() * 8000).astype(np.int16) for x in (nasal, friction)]
    voiced, unvoiced = (tail_db(x, 0, 20) for x in as_pcm)
    assert voiced is not None and unvoiced is not None
    assert voiced > 20 > 7 > unvoiced
    assert tail_db(as_pcm[0], 5, 5) is None  # an empty span: no verdict


async def speech(text: str, voice: str = "en-us", speed: int = 150) -> bytes:
    said = await EspeakTts(EspeakTtsConfig()).synthesize(text, voice=voice, speed=speed)
    samples = np.concatenate([silence(0.3), said, silence(0.3)])
    return bytes(dither(samples, np.random.default_rng(0)).astype(np.int16).tobytes())


@pytest.mark.parametrize(("voice", "speed"), [("en-us", 150), ("en-us+m7", 160)])
async def test_the_sound_corrects_a_misheard_on_or_off(voice: str, speed: int) -> None:
    check = OnOffCheck(OnOffConfig(), new_decoder(lm=None), ["hey spark"])
    off = await speech("switch off the sim one lamp", voice, speed)
    on = await speech("switch on the sim one lamp", voice, speed)
    anything = (lambda text: True)  # noqa: E731 - every swap is a command here
    heard_on = check.check("switch on the sim one lamp", off, anything)
    assert heard_on.text == "switch off the sim one lamp"
    assert heard_on.rival == "switch on the sim one lamp" and heard_on.answers(heard_on.rival)
    assert heard_on.db is not None and heard_on.sound == "off"
    assert check.check("switch off the sim one lamp", on, anything).text == \
        "switch on the sim one lamp"
    assert check.check("switch on the sim one lamp", on, anything).text == \
        "switch on the sim one lamp"
    off_grid = await speech("set the power mode to off grid", voice, speed)
    assert check.check("set the power mode to on grid", off_grid, anything).text == \
        "set the power mode to off grid"
    disabled = OnOffCheck(OnOffConfig(enabled=False), new_decoder(lm=None))
    assert disabled.check("switch on the sim one lamp", off, anything).text == \
        "switch on the sim one lamp"


def _dull(pcm: bytes) -> bytes:
    """The same speech with the highs cut (a voice like flite's, a muffled microphone): a
    two-pole low-pass near 1.5 kHz, about 20 dB less energy above 2 kHz."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    a = np.exp(-2 * np.pi * 1500 / RATE)
    for _ in range(2):
        y = np.empty_like(x)
        acc = 0.0
        for i, v in enumerate(x):
            acc = (1 - a) * v + a * acc
            y[i] = acc
        x = y
    return bytes((x / max(1.0, np.abs(x).max()) * 12000).astype(np.int16).tobytes())


async def test_a_voice_without_highs_still_says_off_not_on() -> None:
    """The sound is judged against the utterance's own balance of lows and highs: a voice
    with little energy above 2 kHz (flite's: "off" read 6 to 32 dB, as voiced as espeak's
    "on", by the absolute ratio) is never turned from "off" into "on"."""
    check = OnOffCheck(OnOffConfig(), new_decoder(lm=None), ["hey spark"])
    anything = (lambda text: True)  # noqa: E731 - every swap is a command here
    off = _dull(await speech("switch off the sim one lamp"))
    on = _dull(await speech("switch on the sim one lamp"))
    heard_off = check.check("switch off the sim one lamp", off, anything)
    assert heard_off.text == "switch off the sim one lamp" and heard_off.sound != "on"
    heard = check.check("switch on the sim one lamp", off, anything)
    assert heard.sound != "on", heard
    assert check.check("switch off the sim one lamp", on, anything).sound != "off"


def test_a_click_does_not_move_the_recognisers_mean() -> None:
    stt = PocketsphinxStt(PocketsphinxSttConfig())
    stt.set_vocabulary(build_vocabulary(ENTITIES, DEVICES, stt.lexicon()))
    before = [d.get_cmn() for d in stt._decoders()]
    rng = np.random.default_rng(3)
    click = (rng.normal(0, 6000, FRAME_BYTES // 2 * 6)).astype(np.int16).tobytes()
    stt.start()
    stt.feed(click)
    stt.cancel()
    assert [d.get_cmn() for d in stt._decoders()] == before
    stt.start()
    stt.feed(click)
    stt.finish()  # an utterance that counts does move it
    assert [d.get_cmn() for d in stt._decoders()] != before


async def replay(path: Path, idle_frames: int) -> list[bytes]:
    """The frames a WAV source plays for ``path`` after idling ``idle_frames`` frames."""
    path.parent.mkdir()
    source = WavSource(WavSourceConfig(path=path.parent, gap_s=0.0, poll_s=0.02))
    played: list[bytes] = []
    idled = 0
    items = source.items()
    async for item in items:
        if not isinstance(item, AudioFrame):
            break  # the file's end mark
        if item.live and idled < idle_frames:  # the quiet room before the file appears
            idled += 1
            if idled == idle_frames:
                write_wav(path, silence(0.5))
            continue
        played.append(item.pcm)
    await items.aclose()  # type: ignore[attr-defined]
    return played


async def test_a_replayed_file_sounds_the_same_however_long_the_source_idled(
        tmp_path: Path) -> None:
    first = await replay(tmp_path / "a" / "00001.wav", 3)
    second = await replay(tmp_path / "b" / "00001.wav", 11)
    assert first and first == second


def test_an_older_config_with_voiced_db_still_loads(caplog: pytest.LogCaptureFixture) -> None:
    """``voiced_db`` (the absolute threshold before on_db / off_db) is ignored with a warning,
    not refused: an upgraded node keeps starting."""
    with caplog.at_level("WARNING"):
        cfg = OnOffConfig.model_validate({"voiced_db": 7.0, "off_db": -4.0})
    assert (cfg.on_db, cfg.off_db) == (8.0, -4.0)
    assert "voiced_db is no longer used" in caplog.text
    with pytest.raises(ValueError, match="voice_db"):
        OnOffConfig.model_validate({"voice_db": 7.0})  # a typo is still an error
