"""The history queries as SQLAlchemy Core statements (built here, run by the store).

Each one is a range scan of a composite index: ``(entity_id, last_updated)`` for an entity's
states, ``(entity_id, time)`` or ``(time)`` for events; ``HistoryStore.explain`` shows the plan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, cast, func, literal, select

from spark.hub.recorder.schema import entities, events, states

STATE_COLUMNS = (states.c.last_updated, states.c.state, states.c.state_num, states.c.attributes,
                 states.c.last_changed)


def raw_states(entity_id: str, start: float, end: float, limit: int | None = None) -> Select[Any]:
    """States in ``[start, end)``, oldest first."""
    return (select(*STATE_COLUMNS)
            .where(states.c.entity_id == entity_id, states.c.last_updated >= start,
                   states.c.last_updated < end)
            .order_by(states.c.last_updated, states.c.id).limit(limit))


def state_before(entity_id: str, start: float) -> Select[Any]:
    """The last state recorded before ``start`` (the one in force at ``start``)."""
    return (select(*STATE_COLUMNS)
            .where(states.c.entity_id == entity_id, states.c.last_updated < start)
            .order_by(states.c.last_updated.desc(), states.c.id.desc()).limit(1))


def bucket_index(backend: str, column: Any, width: float, origin: float = 0.0
                 ) -> ColumnElement[Any]:
    """``floor((t - origin) / width)``: buckets aligned to ``origin`` + multiples of
    ``width``."""
    scaled = (column - literal(origin)) / literal(width) if origin else column / literal(width)
    if backend == "sqlite":  # no floor() in some SQLite builds: truncate, fix negatives
        whole = cast(scaled, Integer)
        return whole - case((scaled < whole, 1), else_=0)
    return func.floor(scaled)


def buckets(backend: str, entity_id: str, start: float, end: float, width: float,
            origin: float = 0.0) -> Select[Any]:
    """Per non-empty bucket: index, count, numeric count, avg, min, max, last state."""
    index = bucket_index(backend, states.c.last_updated, width, origin).label("b")
    ranked = (
        select(index, states.c.state, states.c.state_num,
               func.row_number().over(
                   partition_by=index,
                   order_by=(states.c.last_updated.desc(), states.c.id.desc()),
               ).label("rn"))
        .where(states.c.entity_id == entity_id, states.c.last_updated >= start,
               states.c.last_updated < end)
        .subquery()
    )
    num = ranked.c.state_num
    return (select(ranked.c.b, func.count(), func.count(num), func.avg(num), func.min(num),
                   func.max(num), func.max(case((ranked.c.rn == 1, ranked.c.state))))
            .group_by(ranked.c.b).order_by(ranked.c.b))


def recorded_events(entity_id: str | None, start: float, end: float, limit: int,
                    event_type: str | None = None) -> Select[Any]:
    """Events in ``[start, end)``, newest first."""
    query = (select(events.c.time, events.c.event_type, events.c.entity_id, events.c.data)
             .where(events.c.time >= start, events.c.time < end))
    if entity_id is not None:
        query = query.where(events.c.entity_id == entity_id)
    if event_type is not None:
        query = query.where(events.c.event_type == event_type)
    return query.order_by(events.c.time.desc(), events.c.id.desc()).limit(limit)


def entity_meta(entity_id: str) -> Select[Any]:
    return select(entities.c.entity_id, entities.c.platform, entities.c.name,
                  entities.c.device_id, entities.c.unit, entities.c.device_class,
                  entities.c.state_class).where(entities.c.entity_id == entity_id)
