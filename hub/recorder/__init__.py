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
    "Batch": "hub.recorder.store",
    "BucketPoint": "hub.recorder.models",
    "EntityMeta": "hub.recorder.models",
    "EventRecord": "hub.recorder.models",
    "HistoryStore": "hub.recorder.store",
    "PurgeResult": "hub.recorder.models",
    "Recorder": "hub.recorder.recorder",
    "RecorderConfig": "hub.recorder.config",
    "RecorderError": "hub.recorder.models",
    "RecorderState": "hub.recorder.models",
    "RecorderStats": "hub.recorder.models",
    "StatePoint": "hub.recorder.models",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hub.recorder' has no attribute {name!r}")
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
    "RecorderState",
    "RecorderStats",
    "StatePoint",
]
