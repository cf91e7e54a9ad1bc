"""The durable, ordered outbox between the hub and each cloud sink (SQLite WAL, see store.py)."""

from bridges.outbox.bounds import enforce
from bridges.outbox.config import OutboxConfig
from bridges.outbox.store import Backlog, Batch, Outbox, OutboxError

__all__ = ["Backlog", "Batch", "Outbox", "OutboxConfig", "OutboxError", "enforce"]
