"""Shared fixtures. ``broker``: one real Mosquitto for the session, configured by our own generated
passwd / ACL / mosquitto.conf; ``fresh_broker``: a private one for tests that stop or restart it.

Accounts (passwords in ``broker.passwords``): ``hub``, ``homeassistant``, ``admin`` (readwrite
``#``), nodes ``sim1 sim2 sim3 power system nas voice vision bench``, and ``zigbee2mqtt`` /
``tasmota`` with their own topic lists (see tests/broker_fixture.py).

LLM engines (tests/llm_fixture.py): ``edge_engine`` / ``cloud_engine``, real llama.cpp servers on
a tiny model written by the tests; ``fresh_engine`` to stop or kill;
``edge_proxy`` / ``cloud_proxy``, fault proxies in front of them.
``ollama_edge`` / ``ollama_cloud`` (tests/ollama_fixture.py): Ollama's native API over the engines.
``redis_server``: a throwaway redis-server per test (tests/redis_fixture.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_fixture import MISSING, RunningBroker, start_test_broker
from kafka_fixture import durable_kafka, kafka, s3_server  # noqa: F401  (fixtures)
from llm_fixture import (  # noqa: F401  (fixtures)
    cloud_engine,
    cloud_proxy,
    edge_engine,
    edge_proxy,
    fresh_engine,
    llm_model,
)
from ollama_fixture import ollama_cloud, ollama_edge  # noqa: F401  (fixtures)
from pg_fixture import fresh_postgres, pg_url, postgres  # noqa: F401  (fixtures)
from redis_fixture import redis_server  # noqa: F401  (fixtures)

from spark.hub.broker import find_mosquitto


def _start(data_dir: Path) -> RunningBroker:
    if find_mosquitto() is None:
        pytest.fail(MISSING, pytrace=False)
    return start_test_broker(data_dir)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    running = _start(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield running
    finally:
        running.process.stop_blocking()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[RunningBroker]:
    running = _start(tmp_path / "mosquitto")
    try:
        yield running
    finally:
        running.process.stop_blocking()
