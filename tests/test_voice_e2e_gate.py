"""Never the wrong action, spoken (issue 18): espeak-ng speech through the real pipeline, the
hub and a simulated node on a real Mosquitto. A question never acts, "turn off" never turns
on, a near number is never another number, and the node's own mute is no voice target.

Each case says what must never happen (a command on the device topics that is not the one
intended); that the node acted rather than asked back is the accuracy figure's business
(``bench/voice_intent.py``), not these tests'."""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_fixture import ADMIN, RunningBroker
from helpers import wait_for
from lab import publish_as
from test_voice_e2e import LAMP, VoiceLab, voice_lab


@pytest.fixture
def broker(fresh_broker: RunningBroker) -> RunningBroker:
    """A broker of this test's own: the session's broker keeps other tests' retained
    discovery (sim2, sim3, the simulated devices ...), whose names the voice node would hear
    too and its gate would weigh against the lamp (seen only in whole-suite runs)."""
    return fresh_broker

pytestmark = pytest.mark.slow
SETPOINT = "number.sim1_setpoint"


def commands(lab: VoiceLab) -> list[tuple[str, bytes]]:
    """Every command published to a device since the recorder started."""
    return [(m.topic, m.payload) for m in lab.rec.messages if m.topic.endswith("/set")]


async def test_a_question_never_acts_and_mute_is_no_voice_target(
        broker: RunningBroker, tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        lab.rec.watch("spark/+/+/set")
        assert not any("mute" in name for name in lab.voice.vocabulary.names)
        await lab.say("hey spark, is the sim one lamp on", "en-us+f3", 170)
        handled = await lab.reply()
        assert handled.data["executed"] is False
        await lab.say("hey spark, what is the sim one temperature", "en-us", 160)
        handled = await lab.reply(1)
        assert handled.data["executed"] is False
        assert commands(lab) == [] and lab.state(LAMP) == "off"
        assert lab.voice.state("mute") is False


async def test_turn_off_never_turns_on(broker: RunningBroker, tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        lab.rec.watch("spark/+/+/set")
        layout = lab.voice.layout
        await publish_as(lab.cfg, ADMIN, broker.passwords[ADMIN],
                         [(layout.command("sim1", "lamp"), b"ON", False)])
        await wait_for(lambda: lab.state(LAMP) == "on", 10, what="lamp on by hand")
        for i, (voice, speed) in enumerate([("en-us+f3", 175), ("en-gb+m3", 165)]):
            await lab.say("hey spark, turn off the sim one lamp", voice, speed)
            await lab.reply(i)
        sent = [p for t, p in commands(lab) if t == layout.command("sim1", "lamp")]
        assert sent[0] == b"ON" and all(p == b"OFF" for p in sent[1:]), sent
        assert lab.state(LAMP) in ("on", "off")


async def test_a_near_number_is_never_another_number(broker: RunningBroker,
                                                     tmp_path: Path) -> None:
    async with voice_lab(broker, tmp_path) as lab:
        lab.rec.watch("spark/+/+/set")
        layout = lab.voice.layout
        await lab.say("hey spark, set the sim one setpoint to twenty", "en-us", 165)
        handled = await lab.reply()
        sent = [p for t, p in commands(lab) if t == layout.command("sim1", "setpoint")]
        assert all(float(p) == 20.0 for p in sent), sent
        if not handled.data["executed"]:  # asked back: a "yes" runs exactly that
            assert handled.data["reply"].startswith("Did you mean: set the sim one")
