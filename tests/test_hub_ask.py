"""The hub's ``ask`` / ``generate`` RPC methods (hub/ask.py) over real Mosquitto, a real hub and
the LLM router on a real llama.cpp engine (tests/llm_fixture.py: random weights, so any text;
the token counts are the engine's). Callers are broker accounts, checked by ``hub.policy``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from broker_fixture import RunningBroker
from lab import running_hub
from llm_fixture import RunningEngine

from spark.core.messages.llm import ChatMessage
from spark.core.mqtt.client import MqttClient
from spark.core.rpc import RpcClient, RpcError
from spark.hub.ask import NO_BACKEND, AskConfig, Conversations
from spark.hub.llm.config import CacheConfig, LlmConfig, OpenAiBackendConfig
from spark.hub.llm.router import LlmRouter
from spark.hub.policy import Caller, Policy, PolicyConfig, PolicyError

QUICK = AskConfig(max_tokens=12, max_turns=2)


@asynccontextmanager
async def edge_router(engine: RunningEngine, url: str | None = None
                      ) -> AsyncIterator[LlmRouter]:
    """The router over one real engine as the edge tier (no Redis: the in-process cache);
    ``url``: reach it there instead (a fault proxy in front of it)."""
    cfg = LlmConfig(backends=[OpenAiBackendConfig(
        name="edge", tier="edge", url=url or engine.url, connect_timeout=1.0,
        keepalive_connections=0,  # a fault set on a proxy meets the next request
        models={"default": engine.chat_model, "embed": engine.embed_model})],
        cache=CacheConfig(url=None), probe_interval=60, power_node=None)
    async with LlmRouter(cfg) as router:
        async with asyncio.timeout(10):
            await router.wait_probed()
        yield router


@asynccontextmanager
async def rpc_as(broker: RunningBroker, account: str) -> AsyncIterator[RpcClient]:
    cfg = broker.mqtt_config(account)
    async with MqttClient(cfg, f"ask-{account}") as client:
        await client.wait_connected(10)
        yield RpcClient(client, cfg.layout(), account)


async def test_ask_answers_with_the_source_and_remembers_the_conversation(
        broker: RunningBroker, edge_engine: RunningEngine) -> None:
    cfg = broker.spark_config()
    async with running_hub(cfg, broker.passwords["hub"]) as hub, \
            edge_router(edge_engine) as router, rpc_as(broker, "voice") as rpc:
        hub.attach_llm(router, QUICK)
        first = await rpc.call("hub", "ask", {"question": "What is the weather like?"},
                               timeout=60)
        assert isinstance(first["answer"], str) and first["answer"]
        source = first["source"]
        assert source["tier"] == "edge" and source["backend"] == "edge"
        assert source["model"] == edge_engine.chat_model and source["output_tokens"] >= 1
        conversation = first["conversation_id"]
        history = hub.assistant.conversations.history("voice", conversation)
        assert [m.role for m in history] == ["user", "assistant"]
        assert history[0].content == "What is the weather like?"
        # A follow-up on the same conversation: the engine saw the history (more input tokens).
        again = await rpc.call("hub", "ask", {"question": "What is the weather like?",
                                              "conversation_id": conversation}, timeout=60)
        assert again["conversation_id"] == conversation
        assert again["source"]["input_tokens"] > source["input_tokens"]
        assert len(hub.assistant.conversations.history("voice", conversation)) == 4
        # Another account never sees it (history is per caller).
        assert hub.assistant.conversations.history("sim1", conversation) == []
        with pytest.raises(RpcError, match="non-empty 'question'"):
            await rpc.call("hub", "ask", {"question": "  "}, timeout=10)


async def test_generate_takes_a_raw_request_for_an_account_granted_it(
        broker: RunningBroker, edge_engine: RunningEngine) -> None:
    cfg = broker.spark_config(hub={"policy": {"accounts": {
        "bench": {"llm": ["generate"]}, "voice": {"llm": ["ask"]}}}})
    request: dict[str, Any] = {"messages": [{"role": "user", "content": "Hello there"}],
                               "options": {"temperature": 0, "num_predict": 6}}
    async with running_hub(cfg, broker.passwords["hub"]) as hub, \
            edge_router(edge_engine) as router, rpc_as(broker, "bench") as bench, \
            rpc_as(broker, "voice") as voice:
        hub.attach_llm(router)
        result = await bench.call("hub", "generate", request, timeout=60)
        assert result["kind"] == "result" and result["source"]["tier"] == "edge"
        assert 1 <= result["source"]["output_tokens"] <= 6
        cached = await bench.call("hub", "generate", request, timeout=60)  # temperature 0
        assert cached["source"]["cached"] is True and cached["text"] == result["text"]
        with pytest.raises(RpcError, match="bad generate request"):
            await bench.call("hub", "generate", {"prompt": "x", "messages": []}, timeout=10)
        # ask and generate are separate rights
        with pytest.raises(RpcError, match=r"may not call 'ask'.*add 'ask' to 'llm' under "
                                           r"hub.policy.accounts.bench"):
            await bench.call("hub", "ask", {"question": "hi"}, timeout=10)
        with pytest.raises(RpcError, match="may not call 'generate'"):
            await voice.call("hub", "generate", request, timeout=10)


async def test_without_a_router_ask_says_so_and_nodes_may_not_ask(
        broker: RunningBroker) -> None:
    cfg = broker.spark_config()
    async with running_hub(cfg, broker.passwords["hub"]), rpc_as(broker, "voice") as voice, \
            rpc_as(broker, "sim1") as sim1:
        with pytest.raises(RpcError, match="no LLM backend configured"):
            await voice.call("hub", "ask", {"question": "what is the weather like"}, timeout=10)
        with pytest.raises(RpcError, match="account 'sim1' may not call 'ask'"):
            await sim1.call("hub", "ask", {"question": "what is the weather like"}, timeout=10)
    assert "no LLM backend configured" in NO_BACKEND


def test_default_policy_grants_ask_to_the_voice_account_only() -> None:
    policy = Policy(PolicyConfig())
    policy.check_method(Caller.account("voice"), "ask")
    for account, method in (("voice", "generate"), ("sim1", "ask"), ("power", "generate")):
        with pytest.raises(PolicyError):
            policy.check_method(Caller.account(account), method)
    policy.check_method(Caller.user("ann", "operator"), "generate")
    with pytest.raises(PolicyError, match=r"hub.policy.roles.viewer"):
        policy.check_method(Caller.user("bob", "viewer"), "ask")


def test_conversations_are_bounded_in_count_turns_and_age() -> None:
    now = [0.0]
    store = Conversations(AskConfig(max_conversations=2, max_turns=2, max_age_s=60),
                          clock=lambda: now[0])

    def turn(n: int) -> tuple[ChatMessage, ChatMessage]:
        return (ChatMessage(role="user", content=f"q{n}"),
                ChatMessage(role="assistant", content=f"a{n}"))

    for n in range(3):
        store.add("voice", "a", *turn(n))
    assert [m.content for m in store.history("voice", "a")] == ["q1", "a1", "q2", "a2"]
    now[0] = 10.0
    store.add("voice", "b", *turn(0))
    store.add("voice", "a", *turn(3))  # a is now the most recent
    store.add("voice", "c", *turn(0))  # the least recently used (b) goes
    assert store.history("voice", "b") == [] and len(store) == 2
    now[0] = 10.0 + 61  # idle longer than max_age_s: forgotten
    assert store.history("voice", "a") == [] and len(store) == 0
    assert Conversations(AskConfig(max_turns=0)).history("voice", "x") == []
