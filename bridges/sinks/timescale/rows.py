"""Records to COPY rows, grouped by table, cleaned of what PostgreSQL refuses.

PostgreSQL text and jsonb cannot hold NUL characters, and a timestamp without a zone would be
read in the server's zone: such values are fixed here (NUL removed, naive times taken as UTC) so
one odd payload does not make a whole batch fail forever. JSON columns are encoded with orjson
by :func:`dumps_jsonb`, which the sink installs as its connections' JSON dumper.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from spark.bridges.sinks.timescale.schema import HEALTH_EVENT_PREFIX, TABLE_OF_KIND, Table
from spark.core.messages.records import (
    EventRecord,
    HealthRecord,
    InferenceRecord,
    MetricRecord,
    Record,
    SensorRecord,
)

Row = tuple[Any, ...]
_NUL = "\x00"
_JSON_NUL = b"\\u0000"


def _t(s: str) -> str:
    return s.replace(_NUL, "") if _NUL in s else s


def _opt(s: str | None) -> str | None:
    return None if s is None else _t(s)


def _when(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _clean(value: Any) -> Any:
    """NULs out of strings, non-finite floats to null (as orjson does), recursively."""
    if isinstance(value, str):
        return _t(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_t(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps_jsonb(value: Any) -> bytes:
    """orjson, minus what jsonb refuses (``\\u0000``); integers past 64 bits (orjson refuses
    them, jsonb takes them) go through the json module."""
    try:
        raw = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(_clean(value), default=str, ensure_ascii=False).encode()
    if _JSON_NUL in raw:  # rare: re-encode without NULs rather than guess at escapes
        raw = orjson.dumps(_clean(value), option=orjson.OPT_NON_STR_KEYS)
    return raw


def row_of(rec: Record) -> Row:
    """The row of ``rec`` in its table's column order (see :mod:`.schema`)."""
    t, dev, key = _when(rec.time), _t(rec.device_id), _t(rec.key)
    if isinstance(rec, MetricRecord):
        return (t, dev, _t(rec.metric_name), rec.value, key)
    if isinstance(rec, SensorRecord):
        return (t, dev, _t(rec.sensor_id), rec.value, _opt(rec.state), _opt(rec.unit),
                rec.attributes, key)
    if isinstance(rec, InferenceRecord):
        return (t, dev, _t(rec.model_name), rec.latency_ms, rec.counts,
                rec.detections, _opt(rec.tier), rec.cached, rec.input_tokens,
                rec.output_tokens, _opt(rec.backend), rec.ttft_ms, key)
    if isinstance(rec, EventRecord):
        return (t, dev, _t(rec.event_type), _t(rec.source), rec.data, key)
    if isinstance(rec, HealthRecord):
        return (t, dev, HEALTH_EVENT_PREFIX + rec.status, dev, rec.details, key)
    raise TypeError(f"not a record: {type(rec).__name__}")


def _metric_rows(recs: Iterable[MetricRecord]) -> list[Row]:
    """The hot path (telemetry is most of the traffic), without per-record dispatch."""
    out: list[Row] = []
    append = out.append
    for r in recs:
        t = r.time
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        dev, name, key = r.device_id, r.metric_name, r.key
        if _NUL in dev or _NUL in name or _NUL in key:
            dev, name, key = _t(dev), _t(name), _t(key)
        append((t, dev, name, r.value, key))
    return out


def group_rows(batch: Sequence[Record]) -> dict[Table, list[Row]]:
    """``{table: rows}`` for a batch, keeping the batch's order within each table."""
    by_kind: dict[str, list[Record]] = {}
    for rec in batch:
        by_kind.setdefault(rec.kind, []).append(rec)
    out: dict[Table, list[Row]] = {}
    for kind, recs in by_kind.items():
        table = TABLE_OF_KIND[kind]
        if kind == "metric":
            rows = _metric_rows(recs)  # type: ignore[arg-type]
        else:
            rows = [row_of(r) for r in recs]
        out.setdefault(table, []).extend(rows)
    return out
