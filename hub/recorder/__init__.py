"""Local history: every state change and event into SQLite (WAL) or PostgreSQL.

:class:`Recorder` consumes the hub's event bus and writes in batches on a worker thread;
``await recorder.history(...)`` / ``events(...)`` / ``entity(...)`` answer the panel's charts;
``purge()`` applies the retention. Tables are in :mod:`hub.recorder.schema`.
"""

# Names load lazily (PEP 562): the config schema imports ``hub.recorder.config`` and must not
# pull SQLAlchemy and psycopg into every process that only reads a config.
import importlib
from typing import Any

_EXPORTS = {
    "Batch": "spark.hub.recorder.store",
    "BucketPoint": "spark.hub.recorder.models",
    "EntityMeta": "spark.hub.recorder.models",
    "EventRecord": "spark.hub.recorder.models",
    "HistoryStore": "spark.hub.recorder.store",
    "PurgeResult": "spark.hub.recorder.models",
    "Recorder": "spark.hub.recorder.recorder",
    "RecorderConfig": "spark.hub.recorder.config",
    "RecorderError": "spark.hub.recorder.models",
    "RecorderStats": "spark.hub.recorder.models",
    "StatePoint": "spark.hub.recorder.models",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spark.hub.recorder' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
    "RecorderStats",
    "StatePoint",
]
