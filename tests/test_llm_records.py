"""Every answer the LLM router serves becomes one ``ai_inference_results`` record: a real router
request against the real llama.cpp engine (tests/llm_fixture.py) -> the hub publishes the
:class:`LlmInferenceMessage` on ``spark/<hub>/inference`` -> the bridge (real Mosquitto, a
throwaway PostgreSQL, Tansu for Kafka) -> one row and one ``edge.ai.inference`` message with the
engine's token counts, the tier and the cached flag. A cached answer is its own record with
``cached`` true and 0 tokens (no engine worked for it). Migration 4 adds the LLM columns to a
database made before them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from broker_fixture import ADMIN, HUB, RunningBroker
from helpers import wait_for
from kafka_fixture import read_topic
from lab import recorder, running_hub
from llm_fixture import RunningEngine
from test_bridge import END, publish_many, running
from test_timescale_sink import cfg as sink_config

from spark.bridges.ingest.mapper import Mapper
from spark.bridges.runtime import Bridge
from spark.bridges.sinks.kafka.client import IDEMPOTENCY_HEADER
from spark.bridges.sinks.kafka.tansu import TansuProcess
from spark.bridges.sinks.timescale.schema import LLM_INFERENCE_COLUMNS
from spark.bridges.sinks.timescale.sink import TimescaleSink
from spark.core.messages.llm import LlmInferenceMessage, LlmRequest
from spark.core.messages.records import InferenceRecord, record_from_payload
from spark.core.topics import TopicLayout
from spark.hub.llm.config import CacheConfig, LlmConfig, OpenAiBackendConfig
from spark.hub.llm.router import LlmRouter

COLUMNS = "tier, cached, input_tokens, output_tokens, backend, model_name, record_key"


def request() -> LlmRequest:
    return LlmRequest.model_validate({"messages": [{"role": "user", "content": "Hello there"}],
                                      "options": {"temperature": 0, "num_predict": 8}})


def router_config(engine: RunningEngine) -> LlmConfig:
    return LlmConfig(backends=[OpenAiBackendConfig(
        name="edge", tier="edge", url=engine.url, models={"default": "edge-chat"},
        connect_timeout=1.0)], cache=CacheConfig(url=None), probe_interval=60)


def pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(sql).fetchall()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return []  # the sink has not created its tables yet


async def test_router_answers_become_rows_and_kafka_messages(
        broker: RunningBroker, edge_engine: RunningEngine, pg_url: str, kafka: TansuProcess,
        tmp_path: Path) -> None:
    cfg = broker.spark_config(bridges={
        "outbox": {"path": str(tmp_path / "outbox")},
        "ingest": {"client_id": f"test-bridge-{uuid.uuid4().hex[:8]}", "commit_ms": 5},
        "sinks": [{"type": "timescale", "url": pg_url, "maintenance_seconds": 0},
                  {"type": "kafka", "bootstrap_servers": kafka.bootstrap,
                   "delivery_timeout": 5, "connect_timeout": 3}],
    })
    topic = TopicLayout().inference(HUB)
    bridge = Bridge(cfg.bridge_settings(), password=broker.passwords[HUB], status=False)
    async with running(bridge), running_hub(cfg, broker.passwords[HUB]) as hub, \
            recorder(cfg, ADMIN, broker.passwords[ADMIN], topic) as seen:
        async with LlmRouter(router_config(edge_engine), on_result=hub.publish_inference) as r:
            fresh = await r.generate(request())
            cached = await r.generate(request())
        await wait_for(lambda: len(seen.on(topic)) == 2, 10, what="two inference messages")
        # a redelivered message (same id) is the same record
        await asyncio.to_thread(publish_many, broker, [(topic, seen.on(topic)[0].payload, False),
                                                       (END, "online", False)])
        await wait_for(lambda: asyncio.to_thread(
            pg, pg_url, "SELECT 1 FROM analytics_events WHERE record_key LIKE 'health:end:%'"),
            30, what="end marker in PostgreSQL")
    messages = [LlmInferenceMessage.from_payload(m.payload) for m in seen.on(topic)[:2]]
    assert all(m.qos == 1 and not m.retain for m in seen.on(topic)[:2])
    src = fresh.source
    assert (src.cached, cached.source.cached) == (False, True)
    assert src.input_tokens and src.output_tokens  # the engine's counts
    assert [(m.tier, m.cached, m.input_tokens, m.output_tokens) for m in messages] == [
        ("edge", False, src.input_tokens, src.output_tokens), ("edge", True, 0, 0)]
    keys = [f"inference:{HUB}:{m.id}" for m in messages]
    assert pg(pg_url, f"SELECT {COLUMNS} FROM ai_inference_results ORDER BY cached") == [
        ("edge", False, src.input_tokens, src.output_tokens, "edge", "edge-chat", keys[0]),
        ("edge", True, 0, 0, "edge", "edge-chat", keys[1])]
    latency, ttft = pg(pg_url, "SELECT latency_ms, ttft_ms FROM ai_inference_results "
                               "WHERE NOT cached")[0]
    assert latency == pytest.approx(src.total_ms) and ttft == pytest.approx(src.ttft_ms)
    got = await asyncio.to_thread(read_topic, kafka.bootstrap, "edge.ai.inference",
                                  at_least=2, timeout=30)
    by_key = {g.headers[IDEMPOTENCY_HEADER].decode(): record_from_payload(g.value or b"")
              for g in got}
    assert sorted(by_key) == sorted(keys)  # a re-sent copy carries the same key
    first = by_key[keys[0]]
    assert isinstance(first, InferenceRecord)
    assert (first.tier, first.cached, first.input_tokens, first.output_tokens) == (
        "edge", False, src.input_tokens, src.output_tokens)
    assert orjson.loads(got[0].value or b"")["kind"] == "inference"


async def test_a_failing_hook_never_costs_the_answer(edge_engine: RunningEngine,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def broken(_msg: LlmInferenceMessage) -> None:
        raise RuntimeError("publisher gone")

    async with LlmRouter(router_config(edge_engine), on_result=broken) as router:
        result = await router.generate(request())
    assert result.source.tier == "edge" and result.text is not None
    assert "on_result hook failed" in caplog.text


def test_mapper_tells_llm_from_vision_on_the_inference_topic() -> None:
    mapper, layout = Mapper(TopicLayout()), TopicLayout()
    when = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    llm = LlmInferenceMessage(id="a1", time=when, backend="cloud", tier="cloud", model="big",
                              cached=False, ttft_ms=5.0, total_ms=40.0, input_tokens=12,
                              output_tokens=3)
    vision = orjson.dumps({"id": "v1", "time": when.isoformat(), "camera": "door",
                           "model": "hog", "latency_ms": 21.5, "counts": {"person": 1}})
    [rec_llm] = mapper.records(layout.inference("hub"), llm.to_payload())
    [rec_vision] = mapper.records(layout.inference("cam1"), vision)
    assert rec_llm == InferenceRecord(
        key="inference:hub:a1", device_id="hub", time=when, model_name="big", latency_ms=40.0,
        tier="cloud", cached=False, input_tokens=12, output_tokens=3, backend="cloud",
        ttft_ms=5.0)
    assert isinstance(rec_vision, InferenceRecord)
    assert (rec_vision.key, rec_vision.counts, rec_vision.tier, rec_vision.cached) == (
        "inference:cam1:v1", {"person": 1}, None, None)


async def test_migration_adds_the_llm_columns_to_an_existing_table(pg_url: str) -> None:
    when = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    sink = TimescaleSink(sink_config(pg_url))
    await sink.open()
    await sink.close()
    names = ", ".join(name for name, _ in LLM_INFERENCE_COLUMNS)
    # the database as it was before migration 4: no LLM columns, a vision row, no ledger entry
    with psycopg.connect(pg_url) as conn:
        conn.execute("ALTER TABLE ai_inference_results " + ", ".join(
            f"DROP COLUMN {name}" for name, _ in LLM_INFERENCE_COLUMNS))
        conn.execute("DELETE FROM schema_migrations WHERE version = 4")
        conn.execute("INSERT INTO ai_inference_results (time, device_id, model_name, "
                     "latency_ms, counts, detections, record_key) VALUES "
                     "(%s, 'cam1', 'hog', 2, '{}', '[]', 'v-old')", (when,))
    assert pg(pg_url, "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                      "'ai_inference_results' AND column_name = 'input_tokens'") == [(0,)]
    sink = TimescaleSink(sink_config(pg_url))
    await sink.open()
    try:
        await sink.write([InferenceRecord(
            key="l-new", device_id="hub", time=when, model_name="m", latency_ms=9.0,
            tier="edge", cached=False, input_tokens=7, output_tokens=2, backend="edge",
            ttft_ms=3.0)])
    finally:
        await sink.close()
    assert pg(pg_url, "SELECT version, name FROM schema_migrations WHERE version = 4") == [
        (4, "llm_inference_columns")]
    assert pg(pg_url, f"SELECT record_key, {names} FROM ai_inference_results "
                      "ORDER BY record_key") == [
        ("l-new", "edge", False, 7, 2, "edge", 3.0),
        ("v-old", None, None, None, None, None, None)]
