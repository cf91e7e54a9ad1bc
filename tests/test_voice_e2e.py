"""Spoken commands end to end: espeak-ng speech (made now, several voices and speeds) -> WAV
source -> wake word -> speech-to-text -> intent -> real Mosquitto -> hub -> simulated node.

No mocks: the voice node reads the hub registry over RPC, the hub commands the simulated node,
the node confirms, the reply comes back on the pipeline topic (and as a WAV file).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from broker_fixture import ADMIN, RunningBroker
from helpers import wait_for
from lab import Recorder, publish_as, recorder, running_hub, running_node

from spark.app.config.models import SparkConfig
from spark.core.messages.voice import PipelineEvent
from spark.hub.app import Hub
from spark.nodes.voice.agent import VoiceNode
from spark.nodes.voice.audio import write_wav
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig


@pytest.fixture
def broker(fresh_broker: RunningBroker) -> RunningBroker:
    """A broker of this test's own: the session's broker keeps other tests' retained
    discovery (sim2, sim3, the simulated devices ...), whose names the voice node would hear
    too and its gate would weigh against the lamp (seen only in whole-suite runs)."""
    return fresh_broker

pytestmark = pytest.mark.slow
LAMP = "switch.sim1_lamp"


@dataclass
class VoiceLab:
    hub: Hub
    voice: VoiceNode
    rec: Recorder
    inbox: Path
    outbox: Path
    tts: EspeakTts
    cfg: SparkConfig
    count: int = 0

    async def say(self, text: str, voice: str = "en-us", speed: int = 165) -> str:
        """Drop a WAV of ``text`` into the voice node's folder; return its path."""
        self.count += 1
        samples = await self.tts.synthesize(text, voice=voice, speed=speed)
        path = self.inbox / f"{self.count:03d}.wav"
        tmp = path.with_suffix(".tmp")
        write_wav(tmp, samples)
        tmp.rename(path)  # appears whole
        return str(path)

    async def played(self, path: str, timeout: float = 30.0) -> None:
        await wait_for(lambda: path in self.voice.marks, timeout, what=f"{path} replayed")

    def events(self, kind: str | None = None) -> list[PipelineEvent]:
        topic = self.voice.layout.pipeline(self.voice.node_id)
        out = [PipelineEvent.from_payload(m.payload) for m in self.rec.on(topic)]
        return [e for e in out if kind is None or e.type == kind]

    async def reply(self, after: int = 0, timeout: float = 30.0) -> PipelineEvent:
        await wait_for(lambda: len(self.events("handled")) > after, timeout, what="a reply")
        return self.events("handled")[after]

    def state(self, entity_id: str) -> str | None:
        record = self.hub.registry.get(entity_id) if self.hub.registry else None
        return None if record is None else record.state


def voice_node(tmp: Path, **extra: Any) -> dict[str, Any]:
    return {"id": "voice", "kind": "voice", "array": {"type": "none"}, "refresh_s": 0.5,
            "wake": {"type": "pocketsphinx"},  # "hey spark": the tests speak it
            "source": {"type": "wav", "path": str(tmp / "in"), "gap_s": 0.8},
            "output": {"type": "file", "directory": str(tmp / "out")}, **extra}


@contextlib.asynccontextmanager
async def voice_lab(broker: RunningBroker, tmp: Path, **extra: Any) -> AsyncIterator[VoiceLab]:
    (tmp / "in").mkdir()
    # (the lamp's lab: the simulated blind, light, fan ... are other names the gate weighs)
    sim = {"id": "sim1", "kind": "simulated", "devices": {"enabled": False}}
    cfg = broker.spark_config(nodes=[sim, voice_node(tmp, **extra)])
    pw = broker.passwords
    async with (
        recorder(cfg, ADMIN, pw[ADMIN], cfg.mqtt.layout().pipeline("voice")) as rec,
        running_hub(cfg, pw["hub"]) as hub,
        running_node(cfg, "sim1", pw["sim1"]),
        # loading the recogniser's models takes ~2 s alone, over 20 s on a loaded machine
        running_node(cfg, "voice", pw["voice"], ready_within=60.0) as voice,
    ):
        assert isinstance(voice, VoiceNode)
        lab = VoiceLab(hub, voice, rec, tmp / "in", tmp / "out", EspeakTts(EspeakTtsConfig()),
                       cfg)
        await wait_for(lambda: {"sim one lamp", "voice volume"} <= set(voice.vocabulary.names),
                       60, what="the lamp and the voice node's own volume in the vocabulary")
        await wait_for(lambda: lab.state(LAMP) == "off", 10, what="lamp off")
        try:
            yield lab
        except AssertionError as exc:  # say what the pipeline did
            trail = "\n".join(f"  {e.type} {e.data} {e.timings}" for e in lab.events())
            raise AssertionError(f"{exc}\npipeline events:\n{trail}") from None


@pytest.mark.parametrize(("voice", "speed"), [("en-us", 185), ("en-us+f3", 175),
                                              ("en-us+f3", 150)])
async def test_spoken_command_switches_the_lamp(broker: RunningBroker, tmp_path: Path,
                                                voice: str, speed: int) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        await lab.say("hey spark, turn on the sim one lamp", voice, speed)
        await wait_for(lambda: lab.state(LAMP) == "on", 30, what="lamp on")
        handled = await lab.reply()
        assert handled.data["reply"] == "Turned on the sim one lamp."
        assert handled.data["executed"] is True
        kinds = [e.type for e in lab.events() if e.run == handled.run]
        assert kinds[:1] == ["wake"] and kinds[-3:] == ["transcript", "intent", "handled"]
        assert {"stt_ms", "intent_ms", "action_ms"} <= set(handled.timings)
        await wait_for(lambda: any(lab.outbox.glob("reply-*.wav")), 10, what="reply WAV")
        # Follow-up without the wake word, then the wake word with a pause.
        await lab.say("turn off the sim one lamp", voice, speed)
        await wait_for(lambda: lab.state(LAMP) == "off", 30, what="lamp off by follow-up")
        assert (await lab.reply(1)).data["reply"] == "Turned off the sim one lamp."


async def test_unknown_phrase_gets_didnt_understand_and_no_action(
        broker: RunningBroker, tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        await lab.say("hey spark, what a lovely day for a picnic", "en-us+f3", 175)
        handled = await lab.reply()
        assert handled.data["executed"] is False
        assert handled.data["reply"] in ("Sorry, I didn't understand that.",
                                         "Sorry, I don't know anything called picnic.")
        assert lab.state(LAMP) == "off"


async def test_name_not_in_registry_is_not_executed(broker: RunningBroker,
                                                    tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        commands: list[bytes] = []
        lab.rec.client.subscribe("spark/+/+/set", lambda m: commands.append(m.payload), 1)
        await lab.say("hey spark, turn on the garage heater", "en-us+f3", 175)
        handled = await lab.reply()
        assert handled.data["executed"] is False
        assert not handled.data["reply"].startswith("Turned on")
        assert commands == [] and lab.state(LAMP) == "off"


async def test_grammar_follows_a_newly_discovered_entity(broker: RunningBroker,
                                                         tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        assert lab.voice.vocabulary.lookup("garden pump") == []
        config = {"name": "Garden pump", "unique_id": "z2m_garden_pump",
                  "command_topic": "zigbee2mqtt/garden_pump/set",
                  "state_topic": "zigbee2mqtt/garden_pump", "optimistic": True,
                  "device": {"identifiers": ["z2m_0x1234"], "name": "Pump"}}
        seen: list[bytes] = []
        lab.rec.client.subscribe("zigbee2mqtt/garden_pump/set", lambda m: seen.append(m.payload),
                                 1)
        await publish_as(lab.cfg, "zigbee2mqtt",
                         broker.passwords["zigbee2mqtt"],
                         [("homeassistant/switch/0x1234/garden_pump/config",
                           orjson.dumps(config), True)])
        await wait_for(lambda: lab.voice.vocabulary.lookup("garden pump") != [], 60,
                       what="garden pump in the vocabulary")
        await lab.say("hey spark, turn on the garden pump", "en-us", 185)
        handled = await lab.reply()
        assert handled.data["reply"] == "Turned on the pump garden pump."
        await wait_for(lambda: seen == [b"ON"], 10, what="ON sent to the pump")
        await publish_as(lab.cfg, "zigbee2mqtt",
                         broker.passwords["zigbee2mqtt"],
                         [("homeassistant/switch/0x1234/garden_pump/config", b"", True)])


async def test_mute_stops_listening(broker: RunningBroker, tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        layout = lab.voice.layout
        await publish_as(lab.cfg, ADMIN, broker.passwords[ADMIN],
                         [(layout.command("voice", "mute"), b"ON", False)])
        await wait_for(lambda: lab.voice.state("mute") is True, 10, what="muted")
        path = await lab.say("hey spark, turn on the sim one lamp", "en-us+f3", 175)
        await lab.played(path)
        assert lab.events() == [] and lab.state(LAMP) == "off"
        assert lab.voice.state("listening") is False
        await publish_as(lab.cfg, ADMIN, broker.passwords[ADMIN],
                         [(layout.command("voice", "mute"), b"OFF", False)])
        await wait_for(lambda: lab.voice.state("mute") is False, 10, what="unmuted")
        await lab.say("hey spark, turn on the sim one lamp", "en-us+f3", 175)
        await wait_for(lambda: lab.state(LAMP) == "on", 30, what="lamp on after unmute")


async def test_typed_text_skips_speech(broker: RunningBroker, tmp_path: Path) -> None:
    typed = tmp_path / "typed.txt"
    typed.write_text("")
    cfg = broker.spark_config(nodes=[
        {"id": "sim1", "kind": "simulated", "devices": {"enabled": False}},
        {"id": "voice", "kind": "voice", "refresh_s": 0.5, "array": {"type": "none"},
         "source": {"type": "console", "path": str(typed), "stdin": False, "poll_s": 0.05}}])
    pw = broker.passwords
    async with (
        recorder(cfg, ADMIN, pw[ADMIN], cfg.mqtt.layout().pipeline("voice")) as rec,
        running_hub(cfg, pw["hub"]) as hub,
        running_node(cfg, "sim1", pw["sim1"]),
        running_node(cfg, "voice", pw["voice"], ready_within=60.0) as voice,
    ):
        assert isinstance(voice, VoiceNode)
        await wait_for(lambda: voice.vocabulary.lookup("sim1 lamp") != [], 60, what="vocab")
        with typed.open("a") as f:
            f.write("turn on the sim1 lamp\nask spark what is the meaning of life\n")
        topic = cfg.mqtt.layout().pipeline("voice")

        def replies() -> list[str]:
            events = [PipelineEvent.from_payload(p) for p in rec.payloads(topic)]
            return [e.data["reply"] for e in events if e.type == "handled"]

        await wait_for(lambda: len(replies()) == 2, 20, what="two replies")
        assert replies() == ["Turned on the sim one lamp.",  # no router attached to the hub:
                             "Sorry, I couldn't get an answer: no LLM backend configured "
                             "(the hub runs without an llm section)."]
        assert hub.registry is not None and hub.registry.get(LAMP).state == "on"  # type: ignore[union-attr]
        assert voice.state("listening") is False


@pytest.mark.parametrize("wake", [
    {"type": "micro-wakeword", "model": "okay_nabu", "probability_cutoff": 0.7},
    {"type": "any", "engines": [  # the default
        {"type": "micro-wakeword", "model": "okay_nabu", "probability_cutoff": 0.75},
        {"type": "pyopen-wakeword", "model": "okay_nabu", "threshold": 0.1}]},
], ids=["micro-wakeword", "any"])
async def test_neural_wake_word_then_command(broker: RunningBroker, tmp_path: Path,
                                             wake: dict[str, object]) -> None:
    """microWakeWord's "okay nabu" (its bundled model, the real TFLite runtime), alone or with
    openWakeWord's, wakes the node and the command after it reaches the intent; a near miss
    does not wake it."""
    async with voice_lab(broker, tmp_path, wake=wake) as lab:
        path = await lab.say("okay Nadia, turn on the sim one lamp", "en-us", 165)
        await lab.played(path)
        # a pause after the phrase: a streaming wake word decides a moment after it ends, and a
        # command said in the same breath loses its first word (issue 18, to do)
        await lab.say("okay nabu. . . turn on the sim one lamp", "en-us", 165)
        handled = await lab.reply()
        wakes = lab.events("wake")
        assert len(wakes) == 1 and wakes[0].data["phrase"] == "okay nabu"
        intents = [e.data for e in lab.events("intent") if e.run == handled.run]
        # run, or asked back ("Did you mean ...?") when the gate wants more of the audio
        assert intents and intents[0].get("entity_id") == LAMP, intents


@pytest.mark.skipif(importlib.util.find_spec("moonshine_cpp") is None,
                    reason="no moonshine-cpp wheel for this machine (x86-64 Linux only)")
async def test_the_second_listener_in_the_node(broker: RunningBroker, tmp_path: Path) -> None:
    """The opt-in second listener (Moonshine in a process of its own, started by the
    recogniser's worker) hears each utterance too: its reading is in the transcript event, a
    command both hear runs, and a question never acts."""
    async with voice_lab(broker, tmp_path,
                         stt={"type": "pocketsphinx", "listener": {}}) as lab:
        await lab.say("hey spark, turn on the sim one lamp", "en-us", 165)
        await wait_for(lambda: lab.state(LAMP) == "on", 60, what="lamp on")
        handled = await lab.reply()
        heard = [e.data for e in lab.events("transcript") if e.run == handled.run]
        assert heard and "lamp" in heard[0]["second"], heard
        path = await lab.say("hey spark, is it going to rain tomorrow", "en-us", 165)
        await lab.played(path)
        answered = await lab.reply(1)
        assert answered.data["executed"] is False
        assert lab.state(LAMP) == "on"
