"""Helpers for the discovery parsing tests: topics, captured payload files, one-entity parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.topics import DiscoveryTopic, TopicLayout

FIXTURES = Path(__file__).parent / "fixtures" / "discovery"
LAYOUT = TopicLayout()


def topic(text: str) -> DiscoveryTopic:
    parsed = LAYOUT.parse_discovery(text)
    assert parsed is not None, text
    return parsed


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_one(topic_text: str, payload: bytes | str) -> DiscoveredEntity:
    result = parse_discovery(topic(topic_text), payload, raw_topic=topic_text)
    assert isinstance(result, list) and len(result) == 1
    entity = result[0]
    assert isinstance(entity, DiscoveredEntity)
    return entity


def payload_of(config: dict[str, Any]) -> bytes:
    return orjson.dumps(config)
