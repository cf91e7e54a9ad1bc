"""Local history: every state change and event into SQLite (WAL) or PostgreSQL.

:class:`Recorder` consumes the hub's event bus and writes in batches on a worker thread;
``await recorder.history(...)`` / ``events(...)`` / ``entity(...)`` answer the panel's charts;
``purge()`` applies the retention. Tables are in :mod:`hub.recorder.schema`.
"""

from hub.recorder.config import RecorderConfig
from hub.recorder.models import (
    BucketPoint,
    EntityMeta,
    EventRecord,
    PurgeResult,
    RecorderError,
    RecorderState,
    RecorderStats,
    StatePoint,
)
from hub.recorder.recorder import Recorder
from hub.recorder.store import Batch, HistoryStore

__all__ = [
    "Batch",
    "BucketPoint",
    "EntityMeta",
    "EventRecord",
    "HistoryStore",
    "PurgeResult",
    "Recorder",
    "RecorderConfig",
    "RecorderError",
    "RecorderState",
    "RecorderStats",
    "StatePoint",
]
