"""The test engines themselves (tests/llm_fixture.py) and the fault proxy (tests/fault_proxy.py):
what the router tests build on. Real llama.cpp servers on the tiny model; no timing asserts
beyond lower bounds that the fault itself guarantees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_proxy import FaultProxy, Mode
from helpers import wait_for
from llm_fixture import N_CTX, N_EMBD, RunningEngine, write_tiny_llama

MESSAGES = [{"role": "user", "content": "Turn on the kitchen light, please."}]


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, "max_tokens": 8, "temperature": 0,
            "seed": 7, **extra}


async def stream_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    """The SSE ``data:`` payloads of a streamed completion, up to ``[DONE]``."""
    chunks: list[dict[str, Any]] = []
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ").strip()
        if data == "[DONE]":
            return chunks
        chunks.append(json.loads(data))
    raise AssertionError(f"stream ended without [DONE] after {len(chunks)} chunks")


def test_the_model_file_is_the_same_for_the_same_seed(tmp_path: Path, llm_model: Path) -> None:
    again = write_tiny_llama(tmp_path / "again.gguf")
    other = write_tiny_llama(tmp_path / "other.gguf", seed=1)
    assert again.read_bytes() == llm_model.read_bytes()
    assert other.read_bytes() != llm_model.read_bytes()
    assert llm_model.stat().st_size < 1_000_000


async def test_both_engines_list_their_own_models(edge_engine: RunningEngine,
                                                  cloud_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for engine in (edge_engine, cloud_engine):
            listed = (await client.get(f"{engine.base_url}/models")).json()
            ids = {model["id"] for model in listed["data"]}
            assert ids == {engine.chat_model, engine.embed_model, engine.tools_model}
    assert edge_engine.chat_model != cloud_engine.chat_model


async def test_chat_completion_reports_the_engines_token_counts(edge_engine: RunningEngine
                                                                ) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{edge_engine.base_url}/chat/completions",
                                     json=chat_body(edge_engine.chat_model))
        assert response.status_code == 200, response.text
        answer = response.json()
        # The prompt as the engine formats it (ChatML from the GGUF's template), tokenised by
        # the engine: its count is what usage must report.
        tokenized = await client.post(f"{edge_engine.url}/extras/tokenize/count", json={
            "input": "<|im_start|>user\nTurn on the kitchen light, please.<|im_end|>\n"
                     "<|im_start|>assistant\n",
            "model": edge_engine.chat_model})
    usage = answer["usage"]
    assert answer["model"] == edge_engine.chat_model
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    assert 1 <= usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert tokenized.status_code == 200, tokenized.text
    assert usage["prompt_tokens"] == tokenized.json()["count"]
    assert answer["choices"][0]["finish_reason"] in {"length", "stop"}


async def test_the_vocabulary_is_a_real_bpe(edge_engine: RunningEngine) -> None:
    english, other = "Turn on the kitchen light.", "Zürich, 21.5 °C! 🙂"
    async with httpx.AsyncClient(timeout=30) as client:

        async def tokenize(text: str) -> list[int]:
            response = await client.post(f"{edge_engine.url}/extras/tokenize", json={
                "input": text, "model": edge_engine.chat_model})
            tokens: list[int] = response.json()["tokens"]
            return tokens

        tokens = await tokenize(english + " " + other)
        back = (await client.post(f"{edge_engine.url}/extras/detokenize", json={
            "tokens": tokens, "model": edge_engine.chat_model})).json()["text"]
        merged = await tokenize(english)
        specials = await tokenize("<|im_start|><|im_end|>")
    assert back == english + " " + other  # byte-level: any text round-trips
    assert len(merged) < len(english) / 2  # merges learned from the built-in text
    assert len(specials) == 2  # control tokens are single tokens


async def test_tools_entry_calls_the_named_tool(edge_engine: RunningEngine) -> None:
    tool = {"type": "function", "function": {
        "name": "turn_on", "description": "Turn an entity on",
        "parameters": {"type": "object", "properties": {"entity_id": {"type": "string"}},
                       "required": ["entity_id"]}}}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{edge_engine.base_url}/chat/completions", json={
            "model": edge_engine.tools_model, "messages": MESSAGES, "max_tokens": 48,
            "temperature": 0, "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "turn_on"}}})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "turn_on"
    # Random weights, grammar-constrained: the arguments start as the schema's object (they may
    # be cut at max_tokens; a router repairs or refuses them).
    assert call["arguments"].replace(" ", "").startswith('{"entity_id":"')


async def test_temperature_zero_answers_the_same_twice(cloud_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        url = f"{cloud_engine.base_url}/chat/completions"
        first = (await client.post(url, json=chat_body(cloud_engine.chat_model))).json()
        second = (await client.post(url, json=chat_body(cloud_engine.chat_model))).json()
    assert first["choices"][0]["message"] == second["choices"][0]["message"]
    assert first["usage"] == second["usage"]


async def test_chat_completion_streams_chunks_then_done(edge_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client, client.stream(
        "POST", f"{edge_engine.base_url}/chat/completions",
        json=chat_body(edge_engine.chat_model, stream=True),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = await stream_chunks(response)
    assert len(chunks) >= 2
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in {"length", "stop"}
    assert "usage" not in chunks[-1] or chunks[-1]["usage"] is None  # measured: no usage


async def test_embeddings_from_the_embedding_entry(edge_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{edge_engine.base_url}/embeddings", json={
            "model": edge_engine.embed_model, "input": ["the kitchen light", "the NAS"]})
    assert response.status_code == 200, response.text
    body = response.json()
    vectors = [item["embedding"] for item in body["data"]]
    assert len(vectors) == 2
    assert all(len(vector) == N_EMBD for vector in vectors)
    assert vectors[0] != vectors[1]
    assert body["usage"]["prompt_tokens"] > 0


async def test_context_overflow_is_a_400(edge_engine: RunningEngine) -> None:
    long = " ".join(["kitchen"] * (N_CTX * 2))
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{edge_engine.base_url}/chat/completions", json={
            "model": edge_engine.chat_model, "max_tokens": 4,
            "messages": [{"role": "user", "content": long}]})
    assert response.status_code == 400
    assert "context" in response.text.lower()


# ---------------------------------------------------------------------------------------------
# The fault proxy, one test per mode


async def test_proxy_pass_is_the_engine(edge_proxy: FaultProxy, edge_engine: RunningEngine
                                        ) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        through = await client.post(f"{edge_proxy.base_url}/chat/completions",
                                    json=chat_body(edge_engine.chat_model))
        direct = await client.post(f"{edge_engine.base_url}/chat/completions",
                                   json=chat_body(edge_engine.chat_model))
    assert through.status_code == 200
    assert through.json()["choices"] == direct.json()["choices"]
    assert through.json()["usage"] == direct.json()["usage"]
    assert edge_proxy.accepted[Mode.PASS] >= 1


async def test_proxy_pass_streams(edge_proxy: FaultProxy, edge_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client, client.stream(
        "POST", f"{edge_proxy.base_url}/chat/completions",
        json=chat_body(edge_engine.chat_model, stream=True),
    ) as response:
        chunks = await stream_chunks(response)
    assert chunks[-1]["choices"][0]["finish_reason"] in {"length", "stop"}


async def test_proxy_refuse_closes_the_port_and_reopens_it(edge_proxy: FaultProxy,
                                                           edge_engine: RunningEngine) -> None:
    await edge_proxy.set_fault(Mode.REFUSE)
    async with httpx.AsyncClient(timeout=30) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{edge_proxy.base_url}/models")
        await edge_proxy.set_fault(Mode.PASS)
        response = await client.get(f"{edge_proxy.base_url}/models")
    assert response.status_code == 200
    assert edge_proxy.accepted[Mode.REFUSE] == 0


async def test_proxy_blackhole_accepts_and_never_answers(edge_proxy: FaultProxy,
                                                         edge_engine: RunningEngine) -> None:
    await edge_proxy.set_fault(Mode.BLACKHOLE)
    timeout = httpx.Timeout(connect=5.0, read=0.3, write=5.0, pool=5.0)
    async with httpx.AsyncClient(timeout=timeout) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{edge_proxy.base_url}/chat/completions",
                              json=chat_body(edge_engine.chat_model))
    assert edge_proxy.accepted[Mode.BLACKHOLE] == 1


async def test_proxy_dies_mid_stream(edge_proxy: FaultProxy, edge_engine: RunningEngine
                                     ) -> None:
    await edge_proxy.set_fault(Mode.DIE_MID_STREAM, after_bytes=1500)
    received: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client, client.stream(
        "POST", f"{edge_proxy.base_url}/chat/completions",
        json=chat_body(edge_engine.chat_model, stream=True, max_tokens=64),
    ) as response:
        assert response.status_code == 200  # the head came through
        with pytest.raises(httpx.RemoteProtocolError):
            async for line in response.aiter_lines():
                received.append(line)
    assert any(line.startswith("data: {") for line in received)  # some chunks came first
    assert "data: [DONE]" not in received


async def test_proxy_answers_500(edge_proxy: FaultProxy, edge_engine: RunningEngine) -> None:
    await edge_proxy.set_fault(Mode.HTTP_500)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{edge_proxy.base_url}/chat/completions",
                                     json=chat_body(edge_engine.chat_model))
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


async def test_proxy_slow_first_byte(edge_proxy: FaultProxy, edge_engine: RunningEngine) -> None:
    await edge_proxy.set_fault(Mode.SLOW_FIRST_BYTE, delay=1.0)
    url = f"{edge_proxy.base_url}/chat/completions"
    body = chat_body(edge_engine.chat_model)
    impatient = httpx.Timeout(connect=5.0, read=0.2, write=5.0, pool=5.0)
    async with httpx.AsyncClient(timeout=impatient) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json=body)
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.monotonic()
        response = await client.post(url, json=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 1.0  # a lower bound the fault guarantees, not a performance figure


async def test_proxy_mode_applies_to_new_connections_only(edge_proxy: FaultProxy,
                                                          edge_engine: RunningEngine) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.get(f"{edge_proxy.base_url}/models")  # keep-alive connection
        await edge_proxy.set_fault(Mode.HTTP_500)
        again = await client.get(f"{edge_proxy.base_url}/models")
    async with httpx.AsyncClient(timeout=30) as fresh:
        new = await fresh.get(f"{edge_proxy.base_url}/models")
    assert (first.status_code, again.status_code, new.status_code) == (200, 200, 500)
    assert edge_proxy.accepted == {Mode.PASS: 1, Mode.HTTP_500: 1}


async def test_proxy_bounds_its_connections(edge_engine: RunningEngine) -> None:
    async with FaultProxy(edge_engine.host, edge_engine.port, max_connections=1) as proxy:
        await proxy.set_fault(Mode.BLACKHOLE)
        _held_reader, held = await asyncio.open_connection("127.0.0.1", proxy.port)
        await wait_for(lambda: proxy.accepted[Mode.BLACKHOLE] == 1, what="first accepted")
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            assert await reader.read() == b""  # closed at accept: over the bound
        writer.close()
        held.close()
    assert proxy.accepted[Mode.BLACKHOLE] == 1


async def test_a_killed_engine_behind_the_proxy_cuts_the_connection(
    fresh_engine: RunningEngine,
) -> None:
    async with FaultProxy(fresh_engine.host, fresh_engine.port) as proxy, httpx.AsyncClient(
        timeout=30) as client:
        assert (await client.get(f"{proxy.base_url}/models")).status_code == 200
        fresh_engine.process.kill()
        await asyncio.to_thread(fresh_engine.process.wait, 10)
        # The proxy accepts, cannot reach the engine and resets: the client gets no answer
        # (a reset or a closed connection, depending on which it notices first).
        with pytest.raises(httpx.TransportError):
            await client.get(f"{proxy.base_url}/models")
