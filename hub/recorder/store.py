"""The history store: blocking SQLAlchemy Core calls, run by the recorder in worker threads.

One :class:`HistoryStore` per recorder. Writes and purges run on the recorder's single writer
thread (one transaction per batch, so writers never contend with each other); queries run on
other threads with their own pooled connections (SQLite WAL readers do not block the writer).
Library errors are translated to :class:`RecorderError` here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import (
    ClauseElement,
    Connection,
    Engine,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from spark.hub.recorder import queries as q
from spark.hub.recorder.models import (
    BucketPoint,
    EntityMeta,
    EventRecord,
    PurgeResult,
    RecorderError,
    StatePoint,
)
from spark.hub.recorder.rows import EVENT_COLUMNS, STATE_COLUMNS
from spark.hub.recorder.schema import entities, events, make_engine, metadata, normalize_url, states

PURGE_CHUNK = 20_000


@dataclass(slots=True)
class Batch:
    """Rows for one transaction, in the order they were recorded."""

    states: list[tuple[Any, ...]] = field(default_factory=list)  # STATE_COLUMNS order
    events: list[tuple[Any, ...]] = field(default_factory=list)  # EVENT_COLUMNS order
    entities: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.states) + len(self.events) + len(self.entities)


class HistoryStore:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.backend = normalize_url(url).get_backend_name()
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HistoryStore({normalize_url(self.url).render_as_string(hide_password=True)})"

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def open(self) -> None:
        """Connect and create the schema when it is missing (idempotent)."""
        with self._lock:
            if self._engine is not None:
                return
            try:
                engine = make_engine(self.url, self.timeout)
            except OSError as exc:  # the SQLite file's folder cannot be created
                raise RecorderError(f"{self!r}: cannot open: {exc}") from exc
            try:
                with engine.begin() as conn:
                    metadata.create_all(conn)
            except SQLAlchemyError as exc:  # retried, whatever it is: a fix may come
                engine.dispose()
                raise RecorderError(f"{self!r}: cannot open: {_why(exc)}") from exc
            self._engine = engine

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    @contextmanager
    def _connect(self, write: bool) -> Iterator[Connection]:
        engine = self._engine
        if engine is None:
            raise RecorderError(f"{self!r} is not open")
        try:
            with engine.begin() if write else engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _error(self, exc) from exc
        except psycopg.Error as exc:  # raw driver calls (COPY)
            transient = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
            raise RecorderError(f"{self!r}: {type(exc).__name__}: {_first_line(exc)}",
                                transient) from exc

    # ---- writes (writer thread) -------------------------------------------------------
    def write(self, batch: Batch) -> None:
        """Commit one batch in one transaction, or raise (nothing of it is then committed).

        Rows go to the driver as tuples (JSON already serialized): ``executemany`` on SQLite,
        ``COPY ... FROM STDIN`` on PostgreSQL, in the transaction SQLAlchemy opened."""
        with self._connect(write=True) as conn:
            if batch.entities:
                conn.execute(self._upsert_entities(), batch.entities)
            if batch.states:
                self._insert(conn, "states", STATE_COLUMNS, batch.states)
            if batch.events:
                self._insert(conn, "events", EVENT_COLUMNS, batch.events)

    def _insert(self, conn: Connection, table: str, columns: tuple[str, ...],
                rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(columns)
        if self.backend == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def _upsert_entities(self) -> Any:
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(entities)
        keep = {"entity_id", "created"}
        return stmt.on_conflict_do_update(
            index_elements=[entities.c.entity_id],
            set_={c.name: stmt.excluded[c.name] for c in entities.c if c.name not in keep},
        )

    def purge(self, before: float) -> PurgeResult:
        """Delete states and events recorded before ``before``, in short transactions."""
        counts = []
        for table, column in ((states, states.c.last_updated), (events, events.c.time)):
            total = 0
            while True:
                ids = select(table.c.id).where(column < before).limit(PURGE_CHUNK)
                with self._connect(write=True) as conn:
                    deleted = conn.execute(
                        delete(table).where(table.c.id.in_(ids.scalar_subquery()))
                    ).rowcount
                total += deleted
                if deleted < PURGE_CHUNK:
                    break
            counts.append(total)
        return PurgeResult(before, counts[0], counts[1])

    # ---- queries (any thread) ---------------------------------------------------------
    def history(self, entity_id: str, start: float, end: float, *, initial: bool = False,
                limit: int | None = None) -> list[StatePoint]:
        """Raw states in ``[start, end)`` oldest first; with ``initial`` the state in force at
        ``start`` (the last one before it) comes first, with its own time."""
        with self._connect(write=False) as conn:
            rows = list(conn.execute(q.raw_states(entity_id, start, end, limit)))
            if initial:
                rows = list(conn.execute(q.state_before(entity_id, start))) + rows
        return [StatePoint(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def bucketed(self, entity_id: str, start: float, end: float, width: float,
                 origin: float = 0.0) -> list[BucketPoint]:
        """Per bucket (aligned to ``origin`` + multiples of ``width``; empty ones left out):
        count, numeric avg/min/max, and the last state."""
        query = q.buckets(self.backend, entity_id, start, end, width, origin)
        with self._connect(write=False) as conn:
            rows = list(conn.execute(query))
        points = []
        for b, count, n_num, avg, low, high, state in rows:
            lo = origin + float(b) * width
            points.append(BucketPoint(lo, lo + width, count, state,
                                      None if avg is None else float(avg), low, high, n_num))
        return points

    def events(self, entity_id: str | None, start: float, end: float, limit: int,
               event_type: str | None = None) -> list[EventRecord]:
        """Events in ``[start, end)``, newest first, at most ``limit``."""
        query = q.recorded_events(entity_id, start, end, limit, event_type)
        with self._connect(write=False) as conn:
            return [EventRecord(r[0], r[1], r[2], r[3] or {}) for r in conn.execute(query)]

    def entity(self, entity_id: str) -> EntityMeta | None:
        with self._connect(write=False) as conn:
            row = conn.execute(q.entity_meta(entity_id)).first()
        return None if row is None else EntityMeta(*row)

    def counts(self) -> dict[str, int]:
        """Row counts per table (diagnostics and tests)."""
        with self._connect(write=False) as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (states, events, entities)}

    def explain(self, query: ClauseElement) -> str:
        """The database's plan for ``query`` (EXPLAIN QUERY PLAN / EXPLAIN)."""
        with self._connect(write=False) as conn:
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN QUERY PLAN " if self.backend == "sqlite" else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + sql).all()
        return "\n".join(" ".join(str(c) for c in row) for row in rows)


_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def _error(store: HistoryStore, exc: SQLAlchemyError) -> RecorderError:
    transient = isinstance(exc, _TRANSIENT) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)
    return RecorderError(f"{store!r}: {_why(exc)}", transient)


def _why(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {_first_line(orig or exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""
