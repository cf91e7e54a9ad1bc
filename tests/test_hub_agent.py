"""The conversation agent that acts (hub/agent.py, hub/tools.py) behind the hub's ``ask``.

Decision logic (repairs, refusals, confirmations, the 10-round cap, the policy, several calls
in a round): a real hub, a real simulated node (sim1, area "Lab") and a third-party lock on a
real Mosquitto, asked over RPC; the LLM is tests/scripted_llm.py, an OpenAI-compatible stand-in
that plays back each case's script through the router's ``openai`` backend, and through its
``ollama`` backend as Ollama's ``/api/chat`` (cases whose arguments are raw text run on OpenAI
only: Ollama's are objects). Each case is data: the script, the question(s), what the answer
says, which actions ran, what the devices did.

Plumbing: the same path with a real llama.cpp engine (tests/llm_fixture.py, the
``chatml-function-calling`` format, output constrained to the tool's JSON schema) producing the
tool call; the engine's automatic choice on random weights always answers in words, so the
stand-in forwards the first round with OpenAI's ``tool_choice`` naming ``turn_on``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from broker_fixture import RunningBroker
from helpers import wait_for
from lab import publish_as, recorder, running_hub, running_node
from llm_fixture import RunningEngine
from scripted_llm import MODEL, RunningScript, Step, call, forward, running_script, say

from spark.app.config.models import SparkConfig
from spark.core.messages.llm import ChatMessage, LlmRequest, ToolSpec
from spark.core.mqtt.client import MqttClient
from spark.core.rpc import RpcClient
from spark.hub.app import Hub
from spark.hub.ask import AskConfig, Conversations
from spark.hub.llm.config import CacheConfig, LlmConfig, OllamaBackendConfig, OpenAiBackendConfig
from spark.hub.llm.router import LlmRouter
from spark.hub.tools import ExposeConfig

LAMP, SETPOINT, MODE, IDENTIFY = ("switch.sim1_lamp", "number.sim1_setpoint", "select.sim1_mode",
                                  "button.sim1_identify")
SHED = "lock.shed"
SHED_CONFIG = {  # optimistic (no state topic): a call returns once published
    "name": "Shed", "unique_id": "z2m_shed_lock", "object_id": "shed",
    "command_topic": "zigbee2mqtt/shed/set",
    "device": {"identifiers": ["zigbee2mqtt_0x00bb"], "name": "shed", "suggested_area": "Lab"},
}
POLICY = {"accounts": {
    "voice": {"read": True, "services": ["turn_on", "turn_off", "toggle", "press", "set_value",
                                         "select_option"], "entities": ["*"], "llm": ["ask"]},
    "bench": {"read": True, "services": ["*"], "entities": ["*"], "llm": ["ask"]},
    "sim2": {"read": True, "llm": ["ask"]},  # may ask and read, not act
}}
EXPOSE = {"areas": ["lab"], "exclude": ["image.*", "event.*"]}


@dataclass
class Lab:
    hub: Hub
    script: RunningScript
    commands: Any  # lab.Recorder on zigbee2mqtt/shed/set
    rpcs: dict[str, RpcClient]

    async def ask(self, question: str, conversation: str | None = None,
                  caller: str = "bench") -> dict[str, Any]:
        params: dict[str, Any] = {"question": question}
        if conversation:
            params["conversation_id"] = conversation
        answer: dict[str, Any] = await self.rpcs[caller].call("hub", "ask", params, timeout=60)
        return answer

    def state(self, entity_id: str) -> str | None:
        assert self.hub.registry is not None
        record = self.hub.registry.get(entity_id)
        return record.state if record is not None else None


def router_config(url: str, model: str, kind: str = "openai") -> LlmConfig:
    backend = (OpenAiBackendConfig if kind == "openai" else OllamaBackendConfig)(
        name="edge", tier="edge", url=url, connect_timeout=2.0, models={"default": model})
    return LlmConfig(backends=[backend], cache=CacheConfig(url=None), probe_interval=60,
                     power_node=None)


@asynccontextmanager
async def rpc_as(broker: RunningBroker, account: str) -> AsyncIterator[RpcClient]:
    cfg = broker.mqtt_config(account)
    async with MqttClient(cfg, f"agent-{account}") as client:
        await client.wait_connected(10)
        yield RpcClient(client, cfg.layout(), account)


def lab_config(broker: RunningBroker, **ask: Any) -> SparkConfig:
    return broker.spark_config(
        nodes=[{"id": "sim1", "kind": "simulated", "state_interval": 3600, "area": "Lab",
               "devices": {"enabled": False}}],
        hub={"policy": POLICY, "ask": {"expose": EXPOSE, "call_timeout": 15, **ask}})


@asynccontextmanager
async def running_lab(broker: RunningBroker, cfg: SparkConfig, llm_url: str | None = None,
                      model: str = MODEL, kind: str = "openai") -> AsyncIterator[Lab]:
    pw = broker.passwords
    with running_script() as script:
        async with running_hub(cfg, pw["hub"]) as hub, \
                running_node(cfg, "sim1", pw["sim1"]), \
                recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/shed/set") as commands, \
                LlmRouter(router_config(llm_url or script.url, model, kind)) as router, \
                rpc_as(broker, "bench") as bench, rpc_as(broker, "voice") as voice, \
                rpc_as(broker, "sim2") as sim2:
            hub.attach_llm(router)
            await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
                ("homeassistant/lock/0x00bb/lock/config", orjson.dumps(SHED_CONFIG), True)])
            registry = hub.registry
            assert registry is not None
            await wait_for(lambda: all(registry.get(e) is not None and registry.get(e).state
                                       is not None for e in (LAMP, SETPOINT, MODE))
                           and registry.get(SHED) is not None, 15, what="lab entities")
            yield Lab(hub, script, commands, {"bench": bench, "voice": voice, "sim2": sim2})


# ---- decision logic: data-driven cases -----------------------------------------------------


@dataclass(frozen=True)
class Turn:
    question: str
    steps: tuple[Step, ...]
    answer: str  # regex the answer must match
    caller: str = "bench"
    pending: tuple[str, ...] = ()  # entity ids waiting for a yes after this turn


@dataclass(frozen=True)
class Case:
    id: str
    turns: tuple[Turn, ...]
    actions: tuple[tuple[str, str | None, bool | None], ...] = ()  # (tool, entity, ok) in order
    states: dict[str, str] = field(default_factory=dict)  # entity -> state afterwards
    tool_errors: tuple[str, ...] = ()  # regexes, in the tool messages sent back, in order
    repairs: tuple[str, ...] = ()  # regexes over the repairs reported
    shed_commands: tuple[bytes, ...] = ()
    requests: int | None = None  # LLM requests in all
    ask: dict[str, Any] = field(default_factory=dict)  # hub.ask overrides
    openai_only: bool = False  # arguments as text: Ollama's are objects (it parses them itself)


CASES = [
    Case("one call, then the answer", (Turn(
        "turn on the lamp", (call(("turn_on", {"entity_id": LAMP})), say("The lamp is on.")),
        r"^The lamp is on\.$"),),
        actions=(("turn_on", LAMP, True),), states={LAMP: "on"}, requests=2),
    Case("arguments repaired: JSON in a string, wrong case, number as a string", (Turn(
        "set the setpoint to 21.5", (call(("set_value", json.dumps(json.dumps(
            {"entity_id": " NUMBER.Sim1_Setpoint", "value": "21.5"})))), say("Set.")),
        r"^Set\.$"),),
        actions=(("set_value", SETPOINT, True),), states={SETPOINT: "21.5"},
        repairs=(r"JSON string", r"read as 'number.sim1_setpoint'", r"read as the number 21.5"),
        openai_only=True),
    Case("an entity id without its platform, an option in the wrong case, a tool name in caps",
         (Turn("away mode and lamp on", (call(("select_option", {"entity_id": "sim1_mode",
                                                                 "option": "AWAY"}),
                                              ("TURN_ON", {"entity_id": LAMP})),
                                         say("Done.")), r"^Done\.$"),),
         actions=(("select_option", MODE, True), ("turn_on", LAMP, True)),
         states={MODE: "away", LAMP: "on"},
         repairs=(r"read as 'select.sim1_mode'", r"'AWAY' read as 'away'",
                  r"tool name 'TURN_ON' read as 'turn_on'")),
    Case("an unknown entity is refused, the model corrects itself", (Turn(
        "lamp on", (call(("turn_on", {"entity_id": "switch.kitchen"})),
                    call(("turn_on", {"entity_id": LAMP})), say("On.")), r"^On\.$"),),
        actions=(("turn_on", None, False), ("turn_on", LAMP, True)), states={LAMP: "on"},
        tool_errors=(r"'switch.kitchen' is not an exposed entity for turn_on; use one of: "
                     r".*switch.sim1_lamp",)),
    Case("malformed JSON, a value out of range, a missing and an unexpected argument", (Turn(
        "setpoint", (call(("set_value", "{entity_id: setpoint"),
                          ("set_value", {"entity_id": SETPOINT, "value": 99}),
                          ("set_value", {"entity_id": SETPOINT}),
                          ("press", {"entity_id": IDENTIFY, "force": True})),
                     say("I could not.")), r"^I could not\.$"),),
        actions=(("set_value", None, False), ("set_value", SETPOINT, False),
                 ("set_value", SETPOINT, False), ("press", IDENTIFY, False)),
        states={SETPOINT: "21.0"},
        tool_errors=(r"not valid JSON", r"99 is outside 5..30", r"needs 'value'",
                     r"unexpected argument\(s\) 'force' for press"), openai_only=True),
    Case("a service the entity does not have, an unknown tool", (Turn(
        "x", (call(("turn_on", {"entity_id": SETPOINT}), ("fly", {"entity_id": LAMP})),
              say("No.")), r"^No\.$"),),
        tool_errors=(r"turn_on does not apply to number.sim1_setpoint",
                     r"unknown tool 'fly'; the tools are: .*turn_on")),
    Case("several calls in one round, get_state among them", (Turn(
        "lamp on, identify, and what is the setpoint", (
            call(("turn_on", {"entity_id": LAMP}), ("press", {"entity_id": IDENTIFY}),
                 ("get_state", {"entity_id": SETPOINT})),
            say("Done, the setpoint is 21.")), r"^Done, the setpoint is 21\.$"),),
        actions=(("turn_on", LAMP, True), ("press", IDENTIFY, True),
                 ("get_state", SETPOINT, True)), states={LAMP: "on"}),
    Case("calls beyond max_calls_per_round are refused", (Turn(
        "x", (call(("turn_on", {"entity_id": LAMP}), ("get_state", {"entity_id": LAMP}),
                   ("press", {"entity_id": IDENTIFY})), say("ok")), r"^ok$"),),
        actions=(("turn_on", LAMP, True), ("get_state", LAMP, True)),
        tool_errors=(r"at most 2 tool calls per round",), ask={"max_calls_per_round": 2}),
    Case("the policy refuses a caller without the right: no action", (Turn(
        "turn on the lamp", (call(("turn_on", {"entity_id": LAMP})), say("I may not.")),
        r"^I may not\.$", caller="sim2"),),
        actions=(("turn_on", LAMP, False),), states={LAMP: "off"},
        tool_errors=(r"refused: account 'sim2' may not call turn_on on switch.sim1_lamp",)),
    Case("ten rounds without an answer: it says so", (Turn(
        "loop", tuple(call(("get_state", {"entity_id": LAMP})) for _ in range(12)),
        r"^Sorry, I could not finish that: I stopped after 10 rounds"),),
        requests=10),
    Case("the LLM fails after an action: the answer says so and what was done", (Turn(
        "lamp on", (call(("turn_on", {"entity_id": LAMP})),),  # then the stand-in answers 500
        r"^Sorry, the language model failed before I could answer\. Done: turn on "
        r"switch\.sim1_lamp\.$"),),
        actions=(("turn_on", LAMP, True),), states={LAMP: "on"}, requests=2),
    Case("a lock asks first; yes runs it, without an LLM round", (
        Turn("unlock the shed", (call(("unlock", {"entity_id": SHED})),),
             r"^Do you want me to unlock Shed\? Say yes to confirm\.$", pending=(SHED,)),
        Turn("Yes.", (), r"^Done: unlock lock\.shed\.$")),
        actions=(("unlock", SHED, True),), shed_commands=(b"UNLOCK",), requests=1),
    Case("a lock asks first; no drops it", (
        Turn("unlock the shed", (call(("unlock", {"entity_id": SHED})),), r"^Do you want me",
             pending=(SHED,)),
        Turn("no", (), r"^OK, I won't\.$")),
        requests=1),
    Case("a yes that takes it back is not a yes: the lock stays locked", (
        Turn("unlock the shed", (call(("unlock", {"entity_id": SHED})),), r"^Do you want me",
             pending=(SHED,)),
        Turn("Yes... wait, no, don't!", (say("Understood."),), r"^Understood\.$")),
        requests=2),
    Case("a lock asks first; anything else drops it and is a new question", (
        Turn("lock the shed", (call(("lock", {"entity_id": SHED})),), r"^Do you want me to lock",
             pending=(SHED,)),
        Turn("what time is it", (say("Noon."),), r"^Noon\.$"),
        Turn("yes", (say("Yes what?"),), r"^Yes what\?$")),
        requests=3),
    Case("a lock the caller may not unlock is refused, not asked", (Turn(
        "unlock the shed", (call(("unlock", {"entity_id": SHED})), say("I may not.")),
        r"^I may not\.$", caller="voice"),),
        tool_errors=(r"refused: account 'voice' may not call unlock on lock.shed",),
        requests=2),
]


RUNS = [(case, kind) for case in CASES for kind in ("openai", "ollama")
        if kind == "openai" or not case.openai_only]


@pytest.mark.parametrize(("case", "kind"), RUNS, ids=[f"{c.id} ({k})" for c, k in RUNS])
async def test_agent_decisions(broker: RunningBroker, case: Case, kind: str) -> None:
    """Each case over both backend types: OpenAI's tool_calls and Ollama's /api/chat."""
    model = MODEL if kind == "openai" else f"{MODEL}:latest"
    async with running_lab(broker, lab_config(broker, **case.ask), model=model,
                           kind=kind) as lab:
        conversation: str | None = None
        actions: list[dict[str, Any]] = []
        tool_texts: list[str] = []
        sent = 0  # LLM requests over every turn
        for turn in case.turns:
            lab.script.script.load(*turn.steps)
            reply = await lab.ask(turn.question, conversation, turn.caller)
            conversation = reply["conversation_id"]
            assert re.search(turn.answer, reply["answer"]), reply
            assert [p["entity_id"] for p in reply["pending"]] == list(turn.pending)
            actions += reply["actions"]
            requests = lab.script.script.requests
            for body in requests:
                tool_texts += [m["content"] for m in body["messages"] if m["role"] == "tool"]
            if turn.pending:  # nothing ran yet
                assert lab.commands.payloads("zigbee2mqtt/shed/set") == []
            sent += len(requests)
        ran = [(a["tool"], a.get("entity_id"), a.get("ok")) for a in actions
               if not a.get("pending")]
        if case.actions:
            assert ran == list(case.actions)
        for entity_id, state in case.states.items():
            await wait_for(lambda e=entity_id, s=state: lab.state(e) == s, 15,
                           what=f"{entity_id} is {state}")
        errors = [json.loads(t).get("error", "") for t in dict.fromkeys(tool_texts)]
        errors = [e for e in errors if e]
        for pattern, error in zip(case.tool_errors, errors, strict=False):
            assert re.search(pattern, error), (pattern, errors)
        assert len(errors) >= len(case.tool_errors), errors
        repairs = [r for a in actions for r in a.get("repairs", [])]
        for pattern in case.repairs:
            assert any(re.search(pattern, r) for r in repairs), (pattern, repairs)
        if case.shed_commands:
            await wait_for(lambda: tuple(lab.commands.payloads("zigbee2mqtt/shed/set"))
                           == case.shed_commands, 15, what="the shed's commands")
        else:
            assert lab.commands.payloads("zigbee2mqtt/shed/set") == []
        if case.requests is not None:
            assert sent == case.requests


async def test_the_request_carries_tools_over_exposed_entities_only(
        broker: RunningBroker) -> None:
    """Tools from the platforms' services with entity_id enums of the exposed ids; the system
    prompt lists them; a hub with nothing exposed sends no tools at all."""
    async with running_lab(broker, lab_config(broker)) as lab:
        lab.script.script.load(say("Hi."))
        await lab.ask("hello")
        body = lab.script.script.requests[0]
        tools = {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
        assert body["tool_choice"] == "auto"
        assert set(tools) == {"turn_on", "turn_off", "toggle", "select_option", "set_value",
                              "press", "lock", "unlock", "open", "get_state"}
        assert tools["turn_on"]["properties"]["entity_id"]["enum"] == [LAMP]
        assert tools["lock"]["properties"]["entity_id"]["enum"] == [SHED]
        assert tools["set_value"]["properties"]["value"] == {
            "type": "number", "minimum": 5, "maximum": 30,
            "description": "a number from 5 to 30"}
        assert tools["select_option"]["properties"]["option"]["enum"] == ["eco", "comfort",
                                                                        "away"]
        exposed = tools["get_state"]["properties"]["entity_id"]["enum"]
        assert LAMP in exposed and "sensor.sim1_temperature" in exposed
        assert not any(e.startswith(("image.", "event.")) for e in exposed)  # excluded
        system = body["messages"][0]["content"]
        assert f'{LAMP}, name "Lamp", area "Lab", state "off"' in system
    cfg = broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated",
                                      "state_interval": 3600, "area": "Lab"}],
                              hub={"policy": POLICY})
    async with running_lab(broker, cfg) as lab:
        lab.script.script.load(say("Hi."))
        await lab.ask("hello")
        assert "tools" not in lab.script.script.requests[0]


async def test_history_keeps_tool_messages_per_caller(broker: RunningBroker) -> None:
    async with running_lab(broker, lab_config(broker)) as lab:
        lab.script.script.load(call(("turn_on", {"entity_id": LAMP})), say("On."))
        first = await lab.ask("lamp on")
        lab.script.script.load(say("It is on."))
        await lab.ask("and now?", first["conversation_id"])
        sent = lab.script.script.requests[0]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant",
                                             "user"]
        assert sent[2]["tool_calls"][0]["function"]["name"] == "turn_on"
        assert sent[3]["tool_call_id"] == sent[2]["tool_calls"][0]["id"]
        assert lab.hub.assistant.conversations.history("sim2", first["conversation_id"]) == []


def test_history_is_cut_at_whole_turns() -> None:
    store = Conversations(AskConfig(max_turns=5, max_history_messages=5))
    tool_turn = [ChatMessage(role="user", content="q"),
                 ChatMessage(role="assistant", content="", tool_calls=[]),
                 ChatMessage(role="tool", content="{}", tool_call_id="c"),
                 ChatMessage(role="assistant", content="a")]
    store.add("voice", "c", *tool_turn)
    store.add("voice", "c", ChatMessage(role="user", content="q2"),
              ChatMessage(role="assistant", content="a2"))
    # 6 messages > 5: the whole first turn goes, never half of it (no orphan tool message)
    assert [m.content for m in store.history("voice", "c")] == ["q2", "a2"]


def test_expose_config_names_the_bad_pattern() -> None:
    with pytest.raises(ValueError, match="bad entity pattern 'Switch Lamp'"):
        ExposeConfig(entities=["Switch Lamp"])
    assert not ExposeConfig().anything


async def test_streamed_tool_calls_are_joined_from_their_pieces() -> None:
    """The openai backend streamed: each call's arguments arrive in 7-character pieces."""
    with running_script() as script:
        async with LlmRouter(router_config(script.url, MODEL)) as router:
            args = {"entity_id": LAMP, "note": "x" * 40}
            script.script.load(call(("turn_on", args), ("press", {"entity_id": IDENTIFY})))
            request = LlmRequest(messages=[ChatMessage(role="user", content="hi")],
                                 tools=[ToolSpec(name="turn_on"), ToolSpec(name="press")],
                                 stream=True)
            events = [e async for e in router.stream(request)]
            result = events[-1]
            assert result.kind == "result" and result.tool_calls is not None
            assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
                ("turn_on", args), ("press", {"entity_id": IDENTIFY})]
            assert result.source.input_tokens == 1 and result.source.output_tokens == 2
            assert script.script.requests[0]["stream_options"] == {"include_usage": True}


# ---- plumbing: a real engine's tool call, through to the device -------------------------------


async def test_a_real_engine_tool_call_reaches_the_device(
        broker: RunningBroker, edge_engine: RunningEngine) -> None:
    """router -> agent -> Services -> Mosquitto -> the simulated node's lamp: the call is the
    engine's own output under the tool's JSON schema (the lamp is the only turn_on entity)."""
    cfg = lab_config(broker, expose={"entities": [LAMP, SETPOINT]}, max_tokens=64)
    async with running_lab(broker, cfg) as lab:
        lab.script.script.load(
            forward(edge_engine.url, edge_engine.tools_model,
                    {"type": "function", "function": {"name": "turn_on"}}),
            forward(edge_engine.url, edge_engine.tools_model, "auto"))
        reply = await lab.ask("Turn on the lamp")
        assert reply["actions"][0]["tool"] == "turn_on"
        assert reply["actions"][0]["entity_id"] == LAMP and reply["actions"][0]["ok"] is True
        await wait_for(lambda: lab.state(LAMP) == "on", 15, what="the lamp is on")
        assert reply["source"]["input_tokens"] > 100  # the engine's counts, both rounds
        assert reply["source"]["output_tokens"] >= 1
        # the engine read the tool's answer in round two (its prompt grew by it)
        second = lab.script.script.requests[1]["messages"]
        assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["ok"]


async def test_ollama_backend_sends_tools_and_tool_history(ollama_edge: Any) -> None:
    """Ollama's /api/chat with tools and a history holding a call and its result (the front
    maps them onto the real engine's function-calling model); random weights: text or calls,
    and every call the answer holds names a given tool."""
    cfg = LlmConfig(backends=[OllamaBackendConfig(
        name="edge", tier="edge", url=ollama_edge.url, models={"default": "tiny:edge"})],
        cache=CacheConfig(url=None), probe_interval=60, power_node=None)
    async with LlmRouter(cfg) as router:
        from spark.core.messages.llm import ToolCall

        request = LlmRequest(messages=[
            ChatMessage(role="user", content="lamp on"),
            ChatMessage(role="assistant", content="", tool_calls=[ToolCall(
                id="c0", name="turn_on", arguments=json.dumps({"entity_id": LAMP}))]),
            ChatMessage(role="tool", content='{"ok": true}', tool_call_id="c0",
                        name="turn_on")],
            tools=[ToolSpec(name="turn_on", parameters={
                "type": "object", "required": ["entity_id"],
                "properties": {"entity_id": {"type": "string", "enum": [LAMP]}}})],
            options={"num_predict": 8, "seed": 1})
        result = await router.generate(request)
        assert result.source.input_tokens and result.source.input_tokens > 100
        for tool_call in result.tool_calls or []:
            assert tool_call.name == "turn_on"



# ---- tool schemas over several entities, checked per entity ---------------------------------


def _record(platform: str, object_id: str, config: dict[str, Any]) -> Any:
    from spark.core.discovery import parse_discovery
    from spark.core.topics import DiscoveryTopic
    from spark.hub.entity import EntityRecord

    (spec,) = parse_discovery(DiscoveryTopic(platform, "t", object_id), orjson.dumps(
        {"unique_id": f"t_{object_id}", "command_topic": f"t/{object_id}/set", **config}))
    return EntityRecord(f"{platform}.{object_id}", spec.key, spec, None)


def test_a_tool_over_several_entities_is_their_union_and_each_call_its_own() -> None:
    from types import SimpleNamespace

    from spark.core.messages.llm import ToolCall
    from spark.hub.tools import Refused, Toolbox

    records = [_record("number", "small", {"min": 0, "max": 10}),
               _record("number", "big", {"min": 5, "max": 500}),
               _record("select", "a", {"options": ["eco", "away"]}),
               _record("select", "b", {"options": ["away", "boost"]}),
               _record("text", "note", {"max": 20})]
    registry = SimpleNamespace(entities={r.entity_id: r for r in records}, devices={})
    box = Toolbox.build(registry, ExposeConfig(platforms=["number", "select", "text"]))
    specs = {t.name: t.parameters["properties"] for t in box.specs()}
    assert specs["set_value"]["value"] == {"type": ["number", "string"]}  # number and text
    assert specs["select_option"]["option"] == {"type": "string",
                                                "enum": ["eco", "away", "boost"]}

    def run(name: str, **args: Any) -> Any:
        return box.check(ToolCall(id="c", name=name, arguments=json.dumps(args)), 2000)

    assert run("set_value", entity_id="number.big", value=400).data == {"value": 400}
    with pytest.raises(Refused, match=r"400 is outside 0..10 for number.small") as refused:
        run("set_value", entity_id="number.small", value=400)  # in the union, not in its range
    assert refused.value.entity_id == "number.small"
    with pytest.raises(Refused, match=r"'boost' is not an option of select.a"):
        run("select_option", entity_id="select.a", option="boost")
    assert run("set_value", entity_id="text.note", value=42).data == {"value": "42"}
    with pytest.raises(Refused, match="longer than 20 characters"):
        run("set_value", entity_id="text.note", value="x" * 21)
    with pytest.raises(Refused, match="arguments of 2001 characters; at most 2000"):
        box.check(ToolCall(id="c", name="get_state", arguments=" " * 2001), 2000)
    with pytest.raises(Refused, match="must be a JSON object, not list"):
        box.check(ToolCall(id="c", name="get_state", arguments="[1]"), 2000)
    big = [_record("select", f"s{i}", {"options": [f"o{i}_{j}" for j in range(30)]})
           for i in range(5)]
    box = Toolbox.build(SimpleNamespace(entities={r.entity_id: r for r in big}, devices={}),
                        ExposeConfig(entities=["select.*"], max_entities=4))
    assert box.left_out == 1 and len(box.entities) == 4
    option = next(t for t in box.specs() if t.name == "select_option").parameters[
        "properties"]["option"]
    assert option == {"type": "string"}  # 120 options joined: over MAX_ENUM, left to each check
