"""Voice and the HA platforms' services, spoken end to end (issue 17): espeak-ng speech -> the
real voice node (wake word, speech-to-text, the gate) -> real Mosquitto -> the hub -> a
third-party cover and thermostat announced as Zigbee2MQTT announces them, played by an MQTT
client (the device: it takes commands on its ``/set`` topics and reports its new state).

And the assistant's confirmation by voice: "ask spark open the kitchen blind" -> the hub's agent
(the LLM is tests/scripted_llm.py, an OpenAI-compatible stand-in) asks "Do you want me to open
...? Say yes to confirm." -> a plain spoken "yes" in the follow-up window (no "ask spark")
-> the cover opens.

Never the wrong action: every command the device receives is checked, whatever the gate
decided; a question asked back ("Did you mean ...?") is answered "yes" and must then run
exactly what it asked about.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from broker_fixture import ADMIN, RunningBroker
from helpers import wait_for
from lab import Recorder, recorder, running_hub, running_node
from scripted_llm import MODEL, RunningScript, call, running_script, say
from test_hub_agent import router_config

from spark.app.config.models import SparkConfig
from spark.core.messages.voice import PipelineEvent
from spark.core.mqtt import Message, MqttClient
from spark.hub.app import Hub
from spark.hub.llm.router import LlmRouter
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
BLIND, THERMO = "cover.kitchen_blind", "climate.hall_thermostat"
Z2M = "zigbee2mqtt"
# Zigbee2MQTT's discovery for a roller blind and a TRV (the shape of its homeassistant.ts:
# name null = the device's name, JSON state on the device topic, position and setpoint in it)
DEVICE_CONFIGS: dict[str, dict[str, Any]] = {
    "homeassistant/cover/0x0011/cover/config": {
        "name": None, "object_id": "kitchen_blind", "unique_id": "0x0011_cover_zigbee2mqtt",
        "command_topic": f"{Z2M}/kitchen_blind/set", "state_topic": f"{Z2M}/kitchen_blind",
        "value_template": "{{ value_json.state }}", "state_open": "OPEN",
        "state_closed": "CLOSE", "payload_open": "OPEN", "payload_close": "CLOSE",
        "payload_stop": "STOP", "position_topic": f"{Z2M}/kitchen_blind",
        "position_template": "{{ value_json.position }}",
        "set_position_topic": f"{Z2M}/kitchen_blind/set",
        "set_position_template": '{ "position": {{ position }} }',
        "device": {"identifiers": ["zigbee2mqtt_0x0011"], "name": "Kitchen blind",
                   "manufacturer": "IKEA", "model": "KADRILJ roller blind"}},
    "homeassistant/climate/0x0022/climate/config": {
        "name": None, "object_id": "hall_thermostat", "unique_id": "0x0022_climate_zigbee2mqtt",
        "temperature_command_topic": f"{Z2M}/hall_thermostat/set/current_heating_setpoint",
        "temperature_state_topic": f"{Z2M}/hall_thermostat",
        "temperature_state_template": "{{ value_json.current_heating_setpoint }}",
        "current_temperature_topic": f"{Z2M}/hall_thermostat",
        "current_temperature_template": "{{ value_json.local_temperature }}",
        "mode_command_topic": f"{Z2M}/hall_thermostat/set/system_mode",
        "mode_state_topic": f"{Z2M}/hall_thermostat",
        "mode_state_template": "{{ value_json.system_mode }}",
        "modes": ["off", "heat", "auto"], "min_temp": 5, "max_temp": 30, "temp_step": 0.5,
        "device": {"identifiers": ["zigbee2mqtt_0x0022"], "name": "Hall thermostat",
                   "manufacturer": "Danfoss", "model": "Ally thermostat"}},
}
ASK = {"expose": {"entities": ["cover.*", "climate.*"]}, "call_timeout": 15}


@dataclass
class Devices:
    """The blind and the thermostat, as a Zigbee2MQTT bridge plays them: every command is
    kept, and answered with the device's new state."""

    client: MqttClient
    commands: list[tuple[str, bytes]] = field(default_factory=list)
    blind: dict[str, Any] = field(default_factory=lambda: {"state": "CLOSE", "position": 0})
    thermo: dict[str, Any] = field(default_factory=lambda: {
        "current_heating_setpoint": 18.0, "local_temperature": 19.5, "system_mode": "heat"})

    def on_command(self, message: Message) -> None:
        self.commands.append((message.topic, message.payload))
        text = message.payload.decode()
        if message.topic == f"{Z2M}/kitchen_blind/set":
            if text in ("OPEN", "CLOSE"):
                self.blind = {"state": text, "position": 100 if text == "OPEN" else 0}
            else:
                position = int(orjson.loads(text)["position"])
                self.blind = {"state": "OPEN" if position else "CLOSE", "position": position}
            self.client.publish(f"{Z2M}/kitchen_blind", orjson.dumps(self.blind), 1, False)
        elif message.topic.endswith("/set/current_heating_setpoint"):
            self.thermo["current_heating_setpoint"] = float(text)
            self.client.publish(f"{Z2M}/hall_thermostat", orjson.dumps(self.thermo), 1, False)

    def sent(self, topic_end: str) -> list[bytes]:
        return [p for t, p in self.commands if t.endswith(topic_end)]


@dataclass
class Lab:
    hub: Hub
    voice: VoiceNode
    rec: Recorder
    devices: Devices
    inbox: Path
    script: RunningScript
    tts: EspeakTts = field(default_factory=lambda: EspeakTts(EspeakTtsConfig()))
    count: int = 0

    async def say(self, text: str, voice: str = "en-us", speed: int = 165) -> None:
        self.count += 1
        samples = await self.tts.synthesize(text, voice=voice, speed=speed)
        path = self.inbox / f"{self.count:03d}.wav"
        write_wav(path.with_suffix(".tmp"), samples)
        path.with_suffix(".tmp").rename(path)  # appears whole

    def handled(self) -> list[PipelineEvent]:
        topic = self.voice.layout.pipeline(self.voice.node_id)
        events = [PipelineEvent.from_payload(m.payload) for m in self.rec.on(topic)]
        return [e for e in events if e.type == "handled"]

    async def reply(self, after: int, timeout: float = 60.0) -> PipelineEvent:
        await wait_for(lambda: len(self.handled()) > after, timeout, what="a reply")
        return self.handled()[after]

    async def command(self, text: str, asked: str, voice: str, speed: int) -> None:
        """Say ``text``; when the node asks back (``asked``: the start of its question), say
        yes; either way the command must then have run."""
        n = len(self.handled())
        await self.say(f"hey spark, {text}", voice, speed)
        first = await self.reply(n)
        if first.data["executed"]:
            return
        assert first.data["reply"].startswith(asked), first.data
        await self.say("yes", voice, speed)  # the follow-up window: no wake word
        again = await self.reply(n + 1)
        assert again.data["executed"] is True, again.data

    def attribute(self, entity_id: str, key: str) -> Any:
        record = self.hub.registry.get(entity_id) if self.hub.registry else None
        return None if record is None else record.attributes.get(key)

    def state(self, entity_id: str) -> str | None:
        record = self.hub.registry.get(entity_id) if self.hub.registry else None
        return None if record is None else record.state


@contextlib.asynccontextmanager
async def devices(cfg: SparkConfig, password: str) -> AsyncIterator[Devices]:
    async with MqttClient(cfg.mqtt, "z2m-devices", username=Z2M, password=password) as client:
        await client.wait_connected(10)
        devs = Devices(client)
        client.subscribe(f"{Z2M}/+/set", devs.on_command)
        client.subscribe(f"{Z2M}/+/set/+", devs.on_command)
        for topic, config in DEVICE_CONFIGS.items():
            await client.publish_confirmed(topic, orjson.dumps(config), 1, True)
        await client.publish_confirmed(f"{Z2M}/kitchen_blind", orjson.dumps(devs.blind), 1, True)
        await client.publish_confirmed(f"{Z2M}/hall_thermostat", orjson.dumps(devs.thermo), 1,
                                       True)
        try:
            yield devs
        finally:
            async with asyncio.timeout(15):
                for topic in DEVICE_CONFIGS:
                    await client.publish_confirmed(topic, b"", 1, True)


@contextlib.asynccontextmanager
async def lab(broker: RunningBroker, tmp: Path) -> AsyncIterator[Lab]:
    (tmp / "in").mkdir()
    cfg = broker.spark_config(nodes=[{
        "id": "voice", "kind": "voice", "array": {"type": "none"}, "refresh_s": 0.5,
        "wake": {"type": "pocketsphinx"},  # "hey spark": the tests speak it
        "follow_up_s": 20.0,  # the "yes" is made after the reply: room for a loaded machine
        "source": {"type": "wav", "path": str(tmp / "in"), "gap_s": 0.8},
        "output": {"type": "file", "directory": str(tmp / "out")}}], hub={"ask": ASK})
    pw = broker.passwords
    with running_script() as script:
        async with (
            recorder(cfg, ADMIN, pw[ADMIN], cfg.mqtt.layout().pipeline("voice")) as rec,
            running_hub(cfg, pw["hub"]) as hub,
            devices(cfg, pw[Z2M]) as devs,
            running_node(cfg, "voice", pw["voice"], ready_within=60.0) as voice,
            LlmRouter(router_config(script.url, MODEL)) as router,
        ):
            assert isinstance(voice, VoiceNode)
            hub.attach_llm(router)
            running = Lab(hub, voice, rec, devs, tmp / "in", script)
            await wait_for(lambda: {"kitchen blind", "hall thermostat"} <= set(
                voice.vocabulary.names), 60, what="the blind and the thermostat in the vocabulary")
            await wait_for(lambda: running.attribute(THERMO, "temperature") == 18.0, 15,
                           what="the thermostat's setpoint")
            try:
                yield running
            except AssertionError as exc:  # say what the pipeline did
                topic = voice.layout.pipeline(voice.node_id)
                trail = "\n".join(f"  {e.type} {e.data}" for e in (
                    PipelineEvent.from_payload(m.payload) for m in rec.on(topic))
                    if e.type in ("transcript", "intent", "handled"))
                raise AssertionError(f"{exc}\nreplies:\n{trail}\ndevice commands: "
                                     f"{devs.commands}") from None


# Left out, recognition matters of issue 18 (the gate refused, nothing wrong was done): a
# "study blind" for en-us and en-gb+m3 (the verifier heard "open stop the are you"); en-gb+m3's
# "set the hall thermostat to twenty one degrees" (heard "set the also stop to twenty one").
@pytest.mark.parametrize(("voice", "speed"), [("en-us", 165), ("en-us+f3", 175)])
async def test_spoken_cover_and_thermostat(broker: RunningBroker, tmp_path: Path, voice: str,
                                           speed: int) -> None:
    async with lab(broker, tmp_path) as running:
        devs = running.devices
        await running.command("open the kitchen blind", "Did you mean: open the kitchen blind",
                              voice, speed)
        await wait_for(lambda: running.state(BLIND) == "open", 20, what="the blind open")
        assert devs.sent("kitchen_blind/set") == [b"OPEN"]

        await running.command("set the kitchen blind to forty percent",
                              "Did you mean: set the kitchen blind to forty", voice, speed)
        await wait_for(lambda: running.attribute(BLIND, "current_position") == 40, 20,
                       what="the blind at 40 %")
        assert [orjson.loads(p) for p in devs.sent("kitchen_blind/set")[1:]] == [{"position": 40}]

        await running.command("set the hall thermostat to twenty one degrees",
                              "Did you mean: set the hall thermostat to twenty one", voice,
                              speed)
        await wait_for(lambda: running.attribute(THERMO, "temperature") == 21.0, 20,
                       what="the setpoint at 21")
        assert [float(p) for p in devs.sent("current_heating_setpoint")] == [21.0]
        assert not devs.sent("system_mode")


async def test_the_assistants_question_is_answered_by_a_spoken_yes(
        broker: RunningBroker, tmp_path: Path) -> None:
    async with lab(broker, tmp_path) as running:
        running.script.script.load(call(("open_cover", {"entity_id": BLIND})), say("unused"))
        await running.say("hey spark, ask spark open the kitchen blind please", "en-us+f3", 170)
        asked = await running.reply(0)
        assert asked.data["reply"].startswith("Do you want me to open "), asked.data
        assert asked.data["reply"].endswith("? Say yes to confirm.")
        assert [p["entity_id"] for p in asked.data["pending"]] == [BLIND]
        assert running.devices.commands == []  # nothing before the yes
        await running.say("yes", "en-us+f3", 170)  # no wake word, no "ask spark"
        done = await running.reply(1)
        assert done.data.get("question") == "yes", done.data
        await wait_for(lambda: running.state(BLIND) == "open", 20, what="the blind open")
        assert running.devices.sent("kitchen_blind/set") == [b"OPEN"]
        assert len(running.script.script.requests) == 1  # the yes ran the kept call: no LLM round
