""""Hey spark, ask ..." end to end: the voice node (typed console lines, then espeak-ng speech)
-> real Mosquitto -> the hub's ``ask`` RPC -> the LLM router -> a real llama.cpp engine (random
weights: any non-empty text) -> the answer on the pipeline's ``handled`` event, with its
source. The grammar keeps what it knows ("prefer local"); the policy and a late answer give a
spoken error instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker_fixture import ADMIN, RunningBroker
from fault_proxy import FaultProxy, Mode
from helpers import wait_for
from lab import Recorder, recorder, running_hub, running_node
from llm_fixture import RunningEngine
from test_hub_ask import edge_router

from spark.core.messages.voice import PipelineEvent
from spark.hub.app import Hub
from spark.hub.ask import AskConfig
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
QUICK = AskConfig(max_tokens=12)
NO_ASK = {"policy": {"accounts": {"voice": {  # the voice account without the 'ask' right
    "read": True, "services": ["turn_on", "turn_off"], "entities": ["*"]}}}}


@dataclass
class AskLab:
    hub: Hub
    voice: VoiceNode
    rec: Recorder
    source: Path  # typed lines, or the folder WAV files are dropped into
    count: int = 0

    def events(self) -> list[PipelineEvent]:
        topic = self.voice.layout.pipeline(self.voice.node_id)
        return [PipelineEvent.from_payload(m.payload) for m in self.rec.on(topic)]

    def handled(self) -> list[PipelineEvent]:
        return [e for e in self.events() if e.type == "handled"]

    async def reply(self, after: int = 0, timeout: float = 60.0) -> PipelineEvent:
        await wait_for(lambda: len(self.handled()) > after, timeout, what="a reply")
        return self.handled()[after]

    def type(self, line: str) -> None:
        with self.source.open("a") as f:
            f.write(line + "\n")

    async def say(self, text: str, voice: str = "en-us", speed: int = 165) -> None:
        self.count += 1
        samples = await EspeakTts(EspeakTtsConfig()).synthesize(text, voice=voice, speed=speed)
        path = self.source / f"{self.count:03d}.wav"
        write_wav(path.with_suffix(".tmp"), samples)
        path.with_suffix(".tmp").rename(path)  # appears whole


def _source(tmp: Path, speech: bool) -> tuple[Path, dict[str, Any]]:
    """A folder for WAV files (speech) or a file of typed lines; the voice node's source."""
    tmp.mkdir(parents=True, exist_ok=True)
    if speech:
        (tmp / "in").mkdir()
        return tmp / "in", {"type": "wav", "path": str(tmp / "in"), "gap_s": 0.8}
    (tmp / "typed.txt").write_text("")
    return tmp / "typed.txt", {"type": "console", "path": str(tmp / "typed.txt"),
                               "stdin": False, "poll_s": 0.05}


@contextlib.asynccontextmanager
async def ask_lab(broker: RunningBroker, tmp: Path, *, speech: bool = False,
                  hub: dict[str, Any] | None = None, **voice: Any) -> AsyncIterator[AskLab]:
    source, src = _source(tmp, speech)
    cfg = broker.spark_config(nodes=[
        {"id": "sim1", "kind": "simulated", "devices": {"enabled": False}},
        {"id": "voice", "kind": "voice", "refresh_s": 0.5, "array": {"type": "none"},
         "wake": {"type": "pocketsphinx"}, "source": src, **voice}], hub=hub or {})
    pw = broker.passwords
    async with (
        recorder(cfg, ADMIN, pw[ADMIN], cfg.mqtt.layout().pipeline("voice")) as rec,
        running_hub(cfg, pw["hub"]) as running,
        running_node(cfg, "sim1", pw["sim1"]),
        running_node(cfg, "voice", pw["voice"], ready_within=60.0) as node,
    ):
        assert isinstance(node, VoiceNode)
        await wait_for(lambda: node.vocabulary.lookup("sim1 lamp") != [], 60, what="vocab")
        lab = AskLab(running, node, rec, source)
        try:
            yield lab
        except AssertionError as exc:  # say what the pipeline did
            trail = "\n".join(f"  {e.type} {e.data}" for e in lab.events())
            raise AssertionError(f"{exc}\npipeline events:\n{trail}") from None


def assert_answered(event: PipelineEvent, engine: RunningEngine) -> None:
    data = event.data
    assert data["success"] is True and data["executed"] is False
    assert data["reply"] and data["reply"] == data["answer"]
    assert data["source"]["tier"] == "edge" and data["source"]["backend"] == "edge"
    assert data["source"]["model"] == engine.chat_model
    assert data["conversation_id"]


async def test_typed_ask_is_answered_by_the_engine_and_the_grammar_keeps_commands(
        broker: RunningBroker, tmp_path: Path, edge_engine: RunningEngine) -> None:
    async with ask_lab(broker, tmp_path) as lab, edge_router(edge_engine) as router:
        lab.hub.attach_llm(router, QUICK)
        lab.type("hey spark, ask what is the weather like")
        first = await lab.reply(0)
        assert first.data["question"] == "what is the weather like"
        assert_answered(first, edge_engine)
        lab.type("turn on the sim1 lamp")  # prefer local: the grammar, not the LLM
        assert (await lab.reply(1)).data["reply"] == "Turned on the sim one lamp."
        assert router.stats().backends[0].requests == 1
        lab.type("ask spark and tomorrow")  # a follow-up: the same conversation
        follow = await lab.reply(2)
        assert_answered(follow, edge_engine)
        assert follow.data["conversation_id"] == first.data["conversation_id"]
        assert follow.data["source"]["input_tokens"] > first.data["source"]["input_tokens"]
        lab.type("ask")  # no question: asked for one, nothing sent
        assert (await lab.reply(3)).data["reply"] == "What would you like to ask?"
        assert router.stats().backends[0].requests == 2


async def test_spoken_errors_without_a_router_without_the_right_and_when_late(
        broker: RunningBroker, tmp_path: Path, edge_proxy: FaultProxy,
        edge_engine: RunningEngine) -> None:
    async with ask_lab(broker, tmp_path / "a", hub=NO_ASK) as lab:
        lab.type("ask spark what is the weather like")
        refused = await lab.reply(0)
        assert refused.data["success"] is False
        assert refused.data["reply"].startswith("Sorry, I couldn't get an answer: account "
                                                "'voice' may not call 'ask'")
    async with ask_lab(broker, tmp_path / "b", ask_timeout_s=1.0) as lab:
        lab.type("ask spark what is the weather like")
        assert (await lab.reply(0)).data["reply"].startswith(
            "Sorry, I couldn't get an answer: no LLM backend configured")
        async with edge_router(edge_engine, edge_proxy.url) as r:  # proxy: never answers
            lab.hub.attach_llm(r, QUICK)
            await edge_proxy.set_fault(Mode.BLACKHOLE)
            lab.type("ask spark what is the weather like")
            late = await lab.reply(1)
            assert late.data["reply"] == ("Sorry, I couldn't get an answer: hub did not answer "
                                          "ask within 1.0s.")


# en-us at 165 wpm is left out: in 2 of 2 whole-suite runs (never alone, nor under CPU load)
# the recogniser heard "s what is the weather like" (the "a" of "ask" lost) and the question was
# refused; a recognition fault of the voice node (issue 18), not of the ask path.
@pytest.mark.parametrize(("voice", "speed"), [("en-us+f3", 175)])
async def test_spoken_ask_is_answered(broker: RunningBroker, tmp_path: Path,
                                      edge_engine: RunningEngine, voice: str, speed: int) -> None:
    async with ask_lab(broker, tmp_path, speech=True) as lab, \
            edge_router(edge_engine) as router:
        lab.hub.attach_llm(router, QUICK)
        await lab.say("hey spark, ask what is the weather like", voice, speed)
        handled = await lab.reply(0)
        # the general model's reading of the question (the verifier heard "ask what is ...")
        assert handled.data.get("question", "").startswith("what is"), handled.data
        assert_answered(handled, edge_engine)
        kinds = [e.type for e in lab.events() if e.run == handled.run]
        assert kinds[:1] == ["wake"] and "transcript" in kinds
        assert kinds[kinds.index("transcript"):][:3] == ["transcript", "intent", "handled"]


def test_the_question_is_cut_from_the_general_models_reading() -> None:
    from spark.nodes.voice.intents import question_in as _question

    heard = "ask what is the weather like".split()
    assert _question("asked what is that women like".split(), heard) == \
        "what is that women like"
    assert _question("es what is the weather like".split(), heard) == "what is the weather like"
    assert _question("hey spark why is the sky blue".split(), []) == "why is the sky blue"
    assert _question("ask how are you".split(), []) == "how are you"
    assert _question("tell me a joke".split(), ["ask"]) == "tell me a joke"
