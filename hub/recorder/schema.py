"""The history store's tables and engine (SQLAlchemy Core; SQLite in WAL mode or PostgreSQL).

Times are UTC epoch seconds in double-precision columns: the same arithmetic (bucketing,
retention) works on both dialects, comparisons are index range scans, and nothing depends on a
session time zone. ``states.state_num`` is the state parsed as a finite float when it is one,
so numeric aggregation happens in SQL without casting text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url

from spark.hub.files import private_file

metadata = MetaData()

_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid
_Json = JSON().with_variant(JSONB(), "postgresql")

states = Table(
    "states", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("entity_id", String(255), nullable=False),
    Column("state", Text),
    Column("state_num", Double),
    Column("attributes", _Json),
    Column("last_changed", Double, nullable=False),
    Column("last_updated", Double, nullable=False),
    Index("ix_states_entity_time", "entity_id", "last_updated"),
    Index("ix_states_time", "last_updated"),  # retention purge
)

events = Table(
    "events", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("entity_id", String(255)),
    Column("event_type", String(64), nullable=False),
    Column("data", _Json),
    Column("time", Double, nullable=False),
    Index("ix_events_entity_time", "entity_id", "time"),
    Index("ix_events_time", "time"),
)

entities = Table(
    "entities", metadata,
    Column("entity_id", String(255), primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("name", String(255)),
    Column("device_id", String(255)),
    Column("unit", String(32)),
    Column("device_class", String(64)),
    Column("state_class", String(32)),
    Column("created", Double, nullable=False),  # first recorded
    Column("updated", Double, nullable=False),  # metadata last changed
)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def normalize_url(url: str) -> URL:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, timeout: float) -> Engine:
    """An engine for the store; SQLite files get WAL, synchronous=NORMAL and a busy timeout."""
    parsed = normalize_url(url)
    kwargs: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database).expanduser())  # 0600: history is the home's diary
        kwargs["connect_args"] = {"timeout": timeout}
        engine = create_engine(parsed, **kwargs)
        busy_ms = int(timeout * 1000)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout={busy_ms}")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            finally:
                cur.close()

        return engine
    kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout))}
    kwargs["pool_pre_ping"] = True
    return create_engine(parsed, **kwargs)
