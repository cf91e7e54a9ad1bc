"""Voice node pieces without a broker: numbers, vocabulary, intents, grammar, language model,
audio helpers, sources, the ReSpeaker wire format and the pipeline on synthesised speech."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from spark.app.config.models import SparkConfig
from spark.core.rpc import RpcError
from spark.nodes.voice.actions import HubLink, execute
from spark.nodes.voice.audio import (
    RATE,
    dbfs,
    decode_wav,
    dither,
    frames,
    mix_at_snr,
    resample,
    silence,
)
from spark.nodes.voice.grammar import jsgf, sentences
from spark.nodes.voice.intents import recognize
from spark.nodes.voice.lm import build_arpa
from spark.nodes.voice.numbers import number_to_words, words_to_number
from spark.nodes.voice.pipeline import Pipeline
from spark.nodes.voice.respeaker import PARAMS, ReSpeakerArray
from spark.nodes.voice.sources import SourceConfig, TypedText, make_source
from spark.nodes.voice.sources.wav import WavSource, WavSourceConfig
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig, agreement
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig
from spark.nodes.voice.vad import Endpointer, EnergyVad, EnergyVadConfig, WebRtcVad, WebRtcVadConfig
from spark.nodes.voice.vocab import build_vocabulary, normalize
from spark.nodes.voice.wake.sphinx import SphinxWake, SphinxWakeConfig

ENTITIES: list[dict[str, Any]] = [
    {"entity_id": "switch.sim1_lamp", "platform": "switch", "name": "Lamp", "commandable": True},
    {"entity_id": "switch.sim2_lamp", "platform": "switch", "name": "Lamp", "commandable": True},
    {"entity_id": "sensor.power_battery", "platform": "sensor", "name": "Battery",
     "unit_of_measurement": "%"},
    {"entity_id": "select.power_power_mode", "platform": "select", "name": "Power mode",
     "options": ["auto", "on-grid", "off-grid"], "commandable": True},
    {"entity_id": "number.sim1_setpoint", "platform": "number", "name": "Setpoint",
     "min": 5, "max": 30, "step": 0.5, "commandable": True},
    {"entity_id": "button.sim1_identify", "platform": "button", "name": "Identify",
     "commandable": True},
    {"entity_id": "sensor.sim1_uptime", "platform": "sensor", "name": "Uptime",
     "entity_category": "diagnostic"},
    {"entity_id": "light.kitchen", "platform": "light", "name": None, "device_id": "z2m_1"},
]
DEVICES = {"z2m_1": {"name": "Ceiling", "area": "Kitchen"}}


@pytest.mark.parametrize("value", [0, 7, 13, 21, 21.5, 100, 105, 999, 1234, -3.5])
def test_numbers_round_trip(value: float) -> None:
    assert words_to_number(number_to_words(value)) == value


def test_words_that_are_not_numbers() -> None:
    assert words_to_number("five three") is None
    assert words_to_number("lamp") is None
    assert words_to_number("21") == 21


def test_vocabulary_names_devices_areas_and_plurals() -> None:
    assert normalize("Sim1 Lamp_2 (on-grid)") == "sim one lamp two on grid"
    vocab = build_vocabulary(ENTITIES, DEVICES)
    ids = {t.entity_id for t in vocab.targets}
    assert "sensor.sim1_uptime" not in ids  # diagnostic entities are not spoken to
    assert [t.entity_id for t in vocab.lookup("the sim one lamps")] == ["switch.sim1_lamp"]
    assert len(vocab.lookup("lamp")) == 2
    assert [t.entity_id for t in vocab.lookup("kitchen ceiling")] == ["light.kitchen"]
    assert vocab.options() == ["auto", "off grid", "on grid"]
    again = build_vocabulary(list(reversed(ENTITIES)), DEVICES)
    assert again.signature == vocab.signature
    assert build_vocabulary(ENTITIES[:2]).signature != vocab.signature


@pytest.mark.parametrize(("text", "intent", "entity", "data"), [
    ("hey spark turn on the sim one lamp", "turn_on", "switch.sim1_lamp", {}),
    ("switch the sim two lamp off", "turn_off", "switch.sim2_lamp", {}),
    ("enable sim1 lamp", "turn_on", "switch.sim1_lamp", {}),
    ("toggle the sim one lamp", "toggle", "switch.sim1_lamp", {}),
    ("what is the battery level", "get_state", "sensor.power_battery", {}),
    ("set power mode to off grid", "select_option", "select.power_power_mode",
     {"option": "off-grid"}),
    ("set the setpoint to twenty one point five degrees", "set_value", "number.sim1_setpoint",
     {"value": 21.5}),
    ("press identify", "press", "button.sim1_identify", {}),
    ("turn on the kitchen light", "turn_on", "light.kitchen", {}),
])
def test_intents(text: str, intent: str, entity: str, data: dict[str, Any]) -> None:
    got = recognize(text, build_vocabulary(ENTITIES, DEVICES))
    assert (got.name, got.target.entity_id if got.target else None, got.data) == (
        intent, entity, data)


def test_intents_that_do_nothing() -> None:
    vocab = build_vocabulary(ENTITIES, DEVICES)
    assert recognize("the weather is nice", vocab).name == "unknown"
    assert recognize("turn on the garage heater", vocab).heard_name == "garage heater"
    assert recognize("switch off lamp", vocab).name == "ambiguous"
    assert recognize("turn on the battery", vocab).name == "unsupported"
    assert recognize("set power mode to banana", vocab).name == "unsupported"
    assert recognize("system status", vocab).name == "system_status"
    assert recognize("ask spark why is the sky blue", vocab).data == {
        "question": "why is the sky blue"}


def test_grammar_and_language_model_load_in_pocketsphinx() -> None:
    stt = PocketsphinxStt(PocketsphinxSttConfig(), ["hey spark"])
    stt.open()
    vocab = build_vocabulary(ENTITIES, DEVICES, stt.lexicon())
    assert "set point" in " ".join(vocab.aliases())  # "setpoint" spelled with known words
    grammar = jsgf(vocab, ["hey spark"])
    assert "<pressable> = identify" in grammar
    stt.set_vocabulary(vocab)  # compiles the JSGF and loads the ARPA model
    stt.set_vocabulary(build_vocabulary(ENTITIES[:1], lexicon=stt.lexicon()))  # rebuilds
    arpa = build_arpa(sentences(vocab, ["hey spark"]))
    assert arpa.startswith("\\data\\") and "hey spark" in arpa
    assert agreement("turn on the lamp", "turn on lamp") == 1.0
    assert agreement("turn on the lamp", "weather is nice") == 0.0


def test_audio_helpers(tmp_path: Path) -> None:
    t = np.arange(44_100) / 44_100
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    stereo = np.stack([tone, np.zeros_like(tone)], axis=1).reshape(-1)
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(stereo.tobytes())
    mono = decode_wav(path.read_bytes(), channel=0)
    assert abs(len(mono) - RATE) <= 1
    spectrum = np.abs(np.fft.rfft(mono))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # the tone survived resampling
    assert len(resample(mono, RATE, RATE)) == RATE
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1000, RATE).astype(np.int16)
    mixed = mix_at_snr(mono, noise, 10.0)
    snr = 10 * np.log10(np.mean(mono.astype(float) ** 2)
                        / np.mean((mixed.astype(float) - mono) ** 2))
    assert abs(snr - 10.0) < 0.5
    assert dbfs(dither(silence(1.0), rng)) == pytest.approx(-72.2, abs=1.0)


def test_vad_and_endpointer() -> None:
    rng = np.random.default_rng(2)
    quiet = dither(silence(1.0), rng)
    loud = (6000 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.int16)
    for vad in (EnergyVad(EnergyVadConfig()), WebRtcVad(WebRtcVadConfig())):
        ep = Endpointer(vad, end_silence_s=0.3)
        edges = [(i, e) for i, f in enumerate(frames(np.concatenate([quiet, loud, quiet])))
                 if (e := ep.update(f))]
        assert [e for _, e in edges] == ["start", "end"], type(vad).__name__


def test_config_rejects_unknown_backends() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        TypeAdapter(SourceConfig).validate_python({"type": "carrier-pigeon"})
    cfg = SparkConfig.model_validate({"nodes": [{"id": "voice", "kind": "voice"}]})
    assert cfg.nodes[0].source.type == "console"  # type: ignore[union-attr]


class FakeReSpeaker:
    """The XVF-3000's vendor control interface, as the documented table describes it."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], tuple[int, int]] = {(21, 0): (270, 0),
                                                               (19, 32): (1, 0)}
        self.writes: list[tuple[int, int, bytes]] = []

    def ctrl_transfer(self, request_type: int, request: int, value: int, index: int,
                      data_or_length: Any, timeout: int) -> Any:
        if request_type & 0x80:
            import struct

            return struct.pack("<ii", *self.values.get((index, value & 0x3F), (0, 0)))
        self.writes.append((value, index, bytes(data_or_length)))
        return len(data_or_length)


def test_respeaker_wire_format() -> None:
    dev = FakeReSpeaker()
    array = ReSpeakerArray(dev, brightness=10)
    assert dev.writes[0] == (0x20, 0x1C, bytes([10]))  # LED brightness
    assert array.direction() == 270 and array.voice_activity() is True
    array.write("GAMMAVAD_SR", 3.5)
    import struct

    value, index, payload = dev.writes[-1]
    assert (value, index) == (0, PARAMS["GAMMAVAD_SR"].id)
    assert struct.unpack("<ifi", payload) == (39, 3.5, 0)
    array.ring("thinking")
    assert dev.writes[-1][:2] == (4, 0x1C)


async def test_console_source_reads_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "typed.txt"
    path.write_text("turn on the lamp\n")
    source = make_source(TypeAdapter(SourceConfig).validate_python(
        {"type": "console", "path": str(path), "stdin": False, "poll_s": 0.01}))
    await source.open()
    try:
        items = source.items()
        assert await asyncio.wait_for(anext(items), 5) == TypedText("turn on the lamp")
        with path.open("a") as f:
            f.write("system status\n")
        assert await asyncio.wait_for(anext(items), 5) == TypedText("system status")
    finally:
        await source.close()


async def test_pipeline_on_synthesised_speech(tmp_path: Path) -> None:
    """Wake word and command in one breath, then a follow-up, then silence times out."""
    tts = EspeakTts(EspeakTtsConfig(voice="en-us+f3", speed=175))
    for i, text in enumerate(["hey spark, turn on the sim one lamp",
                                  "turn off the sim one lamp"]):
        from spark.nodes.voice.audio import write_wav

        write_wav(tmp_path / f"{i}.wav", await tts.synthesize(text))
    wake = SphinxWake(SphinxWakeConfig())
    stt = PocketsphinxStt(PocketsphinxSttConfig(), wake.phrases)
    pipeline = Pipeline(wake, Endpointer(WebRtcVad(WebRtcVadConfig())), stt)
    pipeline.set_vocabulary(pipeline.build_vocabulary(ENTITIES, DEVICES))
    source = WavSource(WavSourceConfig(path=tmp_path, watch=False, gap_s=0.6))
    kinds: list[str] = []
    texts: list[str] = []
    async for item in source.items():
        for signal in pipeline.feed(getattr(item, "pcm", b"")):
            kinds.append(signal.kind)
            if signal.transcript is not None:
                texts.append(signal.transcript.text or repr(signal.transcript))
                pipeline.listen(1.0)
        if kinds[-1:] == ["timeout"]:
            break
    assert texts == ["turn on the sim one lamp", "turn off the sim one lamp"]
    assert kinds[0] == "wake" and kinds[-1] == "timeout"


async def test_console_source_reads_a_fifo_and_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "spark-voice"  # created as a FIFO by the source
    source = make_source(TypeAdapter(SourceConfig).validate_python(
        {"type": "console", "path": str(fifo), "stdin": False, "poll_s": 0.01}))
    await source.open()
    try:
        items = source.items()
        for text in ("turn on the lamp", "system status"):
            await asyncio.to_thread(fifo.write_text, text + "\n")  # like `echo ... > fifo`
            assert await asyncio.wait_for(anext(items), 5) == TypedText(text)
    finally:
        await source.close()  # nothing is left blocked on the FIFO


class FakeHub(HubLink):
    """A real HubLink subclass answering from a dict (no broker): reply wording only."""

    def __init__(self, states: dict[str, dict[str, Any]], fail: str | None = None) -> None:
        self.states = states
        self.fail = fail
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def entities(self) -> list[dict[str, Any]]:
        return [{"entity_id": k, "device_id": k.split(".")[1].split("_")[0], **v}
                for k, v in self.states.items()]

    async def call(self, service: str, entity_id: str, data: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        if self.fail:
            raise RpcError(self.fail)
        self.calls.append((service, entity_id, data or {}))
        return {"entity_id": entity_id, "service": service}

    async def state(self, entity_id: str) -> dict[str, Any]:
        return self.states[entity_id]

    async def ask(self, question: str) -> str | None:
        return None


async def test_replies_say_what_happened() -> None:
    vocab = build_vocabulary(ENTITIES, DEVICES)
    hub = FakeHub({"sensor.power_battery": {"state": "64.0", "unit_of_measurement": "%"},
                   "switch.sim1_lamp": {"state": "off", "available": False}})

    async def reply(text: str, on: HubLink = hub) -> str:
        return (await execute(recognize(text, vocab), on)).reply

    assert await reply("what is the battery level") == "The power battery is sixty four percent."
    assert await reply("turn on the sim one lamp") == "Turned on the sim one lamp."
    assert await reply("set the setpoint to twenty two point six") == (  # never rounded
        "Sorry, twenty two point six is not a value of the sim one setpoint. It goes from "
        "five to thirty in steps of zero point five.")
    assert await reply("set power mode to off grid") == "Set the power mode to off grid."
    assert hub.calls[-1] == ("select_option", "select.power_power_mode", {"option": "off-grid"})
    assert await reply("switch off lamp") == "Which lamp? I know sim one lamp or sim two lamp."
    assert await reply("ask spark what is love") == "Sorry, I can't answer questions yet."
    assert await reply("system status") == (
        "The hub knows two entities on two devices; one is unavailable.")
    failing = FakeHub({}, fail="switch.sim1_lamp did not confirm 'on' within 5.0s")
    assert await reply("turn on the sim one lamp", failing) == (
        "Sorry, I couldn't turn on the sim one lamp: switch.sim1_lamp did not confirm 'on' "
        "within 5.0s.")
    assert len(hub.calls) == 2


def test_denoise_backends_keep_the_frame_and_lower_steady_noise() -> None:
    from spark.nodes.voice.denoise import DenoiseConfig, make_denoiser

    adapter = TypeAdapter(DenoiseConfig)
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "rnnoise"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "webrtc", "suppression": 9})
    rng = np.random.default_rng(1)
    hum = (rng.normal(0, 1500, RATE * 2)).astype(np.int16)
    plain = make_denoiser(adapter.validate_python({"type": "none"}))
    webrtc = make_denoiser(adapter.validate_python({"type": "webrtc"}))
    out_plain = b"".join(plain.process(f) for f in frames(hum))
    out = b"".join(webrtc.process(f) for f in frames(hum))
    assert out_plain == b"".join(frames(hum)) and len(out) == len(out_plain)
    if webrtc.type == "webrtc":  # the package is in the voice extra; absent: pass-through
        tail = np.frombuffer(out, np.int16)[RATE:]
        assert dbfs(tail) < dbfs(hum[RATE:]) - 6


def test_denoise_applies_only_while_the_room_is_noisy() -> None:
    """Default ``when: noisy``: a quiet room's audio passes untouched (suppression clips clean
    word ends); a noise floor above noisy_dbfs turns suppression on, a quiet room off again."""
    pytest.importorskip("webrtc_noise_gain")
    from spark.nodes.voice.denoise import WebRtcDenoise, WebRtcDenoiseConfig

    rng = np.random.default_rng(2)
    quiet = rng.normal(0, 8, RATE * 3).astype(np.int16)  # about -72 dBFS
    noisy = rng.normal(0, 1500, RATE * 6).astype(np.int16)  # about -27 dBFS
    node = WebRtcDenoise(WebRtcDenoiseConfig())
    assert [node.process(f) for f in frames(quiet)] == list(frames(quiet))
    assert not node.active
    out = b"".join(node.process(f) for f in frames(noisy))
    # on once the quietest frame of the last 2 s is noise (webrtc then adapts in ~3 s)
    assert node.active and dbfs(np.frombuffer(out, np.int16)[-RATE:]) < dbfs(noisy[-RATE:]) - 5
    for f in frames(quiet):  # the floor falls within the 2 s window
        node.process(f)
    assert not node.active


async def test_wake_decision_does_not_hang_on_what_came_before() -> None:
    """The same noisy command wakes a fresh node and one that has heard other speech first
    (the decoder's cepstral mean carries over between stretches of speech)."""
    tts = EspeakTts(EspeakTtsConfig())
    command = np.concatenate([silence(0.4), await tts.synthesize(
        "hey spark, turn on the sim one lamp", voice="en-us", speed=185)])
    rng = np.random.default_rng(3)
    noisy = mix_at_snr(command, rng.normal(0, 1000, len(command)), 12)
    chatter = await tts.synthesize("the children played football in the garden",
                                   voice="en-gb+m3", speed=165)
    lexicon = PocketsphinxStt(PocketsphinxSttConfig()).lexicon()
    vocab = build_vocabulary(ENTITIES, DEVICES, lexicon)
    for before in ([], [chatter], [chatter, noisy]):
        wake = SphinxWake(SphinxWakeConfig())
        wake.set_vocabulary(vocab)
        for pcm in before:
            wake.begin()
            for f in frames(dither(pcm, rng)):
                wake.feed(f)
            wake.end()
        wake.begin()
        hits = []
        for f in frames(dither(np.concatenate([noisy, silence(0.3)]), rng)):
            wake.feed(f)
            hits.append(wake.settled())
        hits.append(wake.end())
        assert any(h is not None and h.phrase == "hey spark" for h in hits), len(before)


async def test_keyphrase_spotter_finds_the_phrase_and_where_it_ends() -> None:
    """The wake word's last look (pocketsphinx's keyphrase spotter over the stretch, for
    noise that hides the phrase from the language models): the phrase and where it ended in
    a noisy command, nothing in everyday speech."""
    tts = EspeakTts(EspeakTtsConfig())
    rng = np.random.default_rng(1)
    phrase = await tts.synthesize("hey spark", voice="en-us", speed=160)
    command = np.concatenate([silence(0.4), phrase, await tts.synthesize(
        "turn on the lamp", voice="en-us", speed=160)])
    command = mix_at_snr(command, rng.normal(0, 1000, len(command)), 10)
    chatter = await tts.synthesize("the children played football in the garden until dark",
                                   voice="en-gb+m3", speed=165)
    loud = [i for i in range(0, len(phrase), 160) if dbfs(phrase[i:i + 160]) > -50]
    said_s = 0.4 + (loud[-1] + 160) / RATE  # where "spark" ends
    wake = SphinxWake(SphinxWakeConfig())
    wake.open()
    for pcm, expect in ((command, True), (chatter, False)):
        wake.begin()
        for f in frames(dither(pcm, rng)):
            wake.feed(f)
        wake.end()
        found = wake.spot()
        if not expect:
            assert found is None
            continue
        assert found is not None and found[0] == "hey spark"
        ends_s = found[1] / 2 / RATE
        assert said_s - 0.35 < ends_s < said_s + 0.2, (ends_s, said_s)
    with pytest.raises(ValidationError):
        SphinxWakeConfig(spot_threshold=2.0)


def test_a_value_is_followed_only_by_its_own_unit() -> None:
    lexicon = PocketsphinxStt(PocketsphinxSttConfig()).lexicon()
    entities = [*ENTITIES, {"entity_id": "number.heater_target", "platform": "number",
                            "name": "Heater target", "min": 10, "max": 25,
                            "unit_of_measurement": "°C", "commandable": True}]
    vocab = build_vocabulary(entities, DEVICES, lexicon)
    grammar = jsgf(vocab, ["hey spark"])
    assert "[degrees]" in grammar and "watts" not in grammar and "<unit>" not in grammar
