"""The bridge's MQTT subscriber: messages -> records -> outbox commit -> QoS 1 acknowledgement.

It runs on :class:`core.mqtt.MqttClient` (paho on the asyncio loop, about twice aiomqtt's rate)
with ``manual_ack=True``, a stable client id and ``clean_session=False``: the broker keeps
every message the bridge has not acknowledged, across reconnects and bridge restarts, and an
acknowledgement goes out only once the message's records are committed in the outbox.

Group commit: records and the messages they came from collect in memory and are committed in
one transaction (on the loop thread: SQLite only writes the WAL then) when ``commit_messages``
are pending, when the broker has nothing more to send (no message during a whole event-loop
iteration) or after ``commit_ms``, whichever is first. With the ``always`` / ``batch`` fsync
policies the WAL is then fsynced on a worker thread, one fsync at a time covering every batch
committed before it started, and only then are those batches' messages acknowledged: fsyncs
group by themselves as the disk gets slower. (Python work stays on the loop thread: a second
thread running Python would take the GIL in 5 ms slices at each of the loop's socket reads.)

Redelivery without duplicates: if the bridge dies between a commit and the acknowledgements,
the broker resends those messages (DUP flag set, same packet id) on reconnect. Each commit
stores the batch's ``(packet id, crc32(topic + payload))`` pairs beside the records, and the last
32,768 committed pairs are remembered (reloaded at start). A DUP message whose pair is among
them is acknowledged and dropped. Why that window is exact: the broker numbers a client's
messages sequentially (mod 65,535), and what it can still redeliver is bounded by its
``max_inflight_messages``; a packet id seen in the window cannot have been reused for another
message until more than 32,768 newer ones were committed.

Retained messages delivered because the bridge (re)subscribed are replays of current state, not
changes: they feed the discovery cache but make no records (live changes arrive unretained).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import struct
import time
import zlib
from typing import Any

from spark.bridges.config import BridgeSettings
from spark.bridges.ingest.config import IngestConfig
from spark.bridges.ingest.mapper import Mapper
from spark.bridges.ingest.warnlimit import WarnLimiter
from spark.bridges.outbox.store import MID_WINDOW, Outbox, OutboxError, Row
from spark.core.errors import PayloadError
from spark.core.mqtt import Message, MqttClient

log = logging.getLogger(__name__)
_PAIR = struct.Struct("<HI")


def default_client_id(cfg: BridgeSettings) -> str:
    return cfg.bridges.ingest.client_id or f"{cfg.mqtt.client_id_prefix}-bridge-{cfg.hub_id}"


class Ingest:
    """Owns its outbox connection; commits run one at a time on a worker thread."""

    def __init__(self, cfg: BridgeSettings, outbox: Outbox, *, password: str | None = None,
                 username: str | None = None) -> None:
        self.cfg: IngestConfig = cfg.bridges.ingest
        self.outbox = outbox
        layout = cfg.mqtt.layout()
        self.mapper = Mapper(layout)
        self.filters = [layout.all_telemetry(), layout.all_states(), layout.all_availability(),
                        layout.all_inference(), layout.all_discovery()]
        self.client = MqttClient(cfg.mqtt, "bridge", client_id=default_client_id(cfg),
                                 clean_session=False, manual_ack=True, password=password,
                                 username=username, receive_maximum=self.cfg.receive_maximum)
        self.batch_max = 1 if outbox.cfg.fsync == "always" else self.cfg.commit_messages
        self._batch = _Batch()
        self._durable = outbox.cfg.fsync in ("always", "batch")
        self._unsynced: list[_Batch] = []  # committed, waiting for the fsync before their acks
        self._syncing = False
        self._recent: dict[int, tuple[int, int]] = {}  # mid -> (crc, commit index)
        self._committed = 0
        self._seen = -1
        self._check: asyncio.Handle | None = None
        self._deadline = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bridge-fsync")
        self._idle = asyncio.Event()
        self.received = self.records = self.malformed = self.duplicates = self.commits = 0
        self._warnings = WarnLimiter()
        self._load_recent()

    def _load_recent(self) -> None:
        for blob in self.outbox.committed_mids():
            for mid, crc in _PAIR.iter_unpack(blob):
                self._committed += 1
                self._recent[mid] = (crc, self._committed)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Subscribe and ingest until cancelled; what is pending is committed on the way out
        (unacknowledged: the broker redelivers it and the packet ids mark it as a duplicate)."""
        self._loop = asyncio.get_running_loop()
        self.client.set_default_handler(self._on_message)
        self.client.subscribe_many(self.filters, qos=1)
        try:
            async with self.client:
                await self.client.wait_connected()
                if ready is not None:
                    ready.set()
                await asyncio.Future()  # until cancelled
        finally:
            await self.drain()
            self._pool.shutdown()

    async def drain(self) -> None:
        """Wait until everything received so far is committed."""
        while self._batch.msgs or self._batch.rows or self._unsynced or self._syncing:
            self._idle.clear()
            self._kick()
            await self._idle.wait()

    # ---- per message (loop thread) ------------------------------------------------------
    def _on_message(self, msg: Message) -> None:
        self.received += 1
        batch = self._batch
        if msg.qos:
            crc = zlib.crc32(msg.payload, zlib.crc32(msg._topic))
            mid = msg.mid
            if msg.dup and self._is_duplicate(mid, crc):
                self.duplicates += 1
                batch.msgs.append(msg)  # acknowledged with the next commit, no records
                self._schedule()
                return
            batch.pending[mid] = crc
            batch.pairs += _PAIR.pack(mid, crc)
            batch.msgs.append(msg)
        try:
            topic = msg.topic
            if self.mapper.is_discovery(topic):
                self.mapper.discovery(topic, msg.payload)
            elif not msg.retain:
                batch.rows.extend(self.mapper.rows(topic, msg.payload, time.time()))
        except (PayloadError, UnicodeDecodeError) as exc:
            self._malformed(msg, exc)
        except Exception as exc:  # a bad payload never kills the loop
            log.exception("bridge: unexpected error mapping a message")
            self._malformed(msg, exc)
        if len(batch.msgs) >= self.batch_max or len(batch.rows) >= 4 * self.batch_max:
            self._kick()
        else:
            self._schedule()

    def _is_duplicate(self, mid: int, crc: int) -> bool:
        if self._batch.pending.get(mid) == crc:
            return True
        seen = self._recent.get(mid)
        return seen is not None and seen[0] == crc and seen[1] > self._committed - MID_WINDOW

    def _malformed(self, msg: Message, exc: Exception) -> None:
        """Count it; log it once per (topic, reason) and hour (WarnLimiter)."""
        self.malformed += 1
        topic = getattr(msg, "_topic", b"?").decode(errors="replace")
        reason = str(exc) or type(exc).__name__
        quiet = self._warnings.allow((topic, reason), time.monotonic())
        if quiet is not None:
            more = f"; {quiet} more like it since the last report" if quiet else ""
            log.warning("bridge: dropped a malformed message on %r (%d so far%s): %s", topic,
                        self.malformed, more, reason)

    def _schedule(self) -> None:
        if self._check is None and self._loop is not None:
            self._seen = -1
            self._deadline = self._loop.time() + self.cfg.commit_ms / 1000
            self._check = self._loop.call_soon(self._idle_check)

    def _idle_check(self) -> None:
        """Commit once a whole loop iteration brought no message, or at the deadline."""
        self._check = None
        if not self._batch.msgs and not self._batch.rows:
            return
        assert self._loop is not None
        if self.received == self._seen or self._loop.time() >= self._deadline:
            self._kick()
            return
        self._seen = self.received
        self._check = self._loop.call_soon(self._idle_check)

    # ---- commit, group fsync, acknowledgements ------------------------------------------
    def _kick(self) -> None:
        """Commit the current batch now: on this thread, as SQLite only writes the WAL here."""
        if self._check is not None:
            self._check.cancel()
            self._check = None
        batch = self._batch
        if not batch.msgs and not batch.rows:
            self._maybe_idle()
            return
        assert self._loop is not None
        self._batch = _Batch()
        try:
            self.outbox.append_rows(batch.rows, bytes(batch.pairs), len(batch.pairs) // _PAIR.size)
        except OutboxError as exc:  # disk full, locked: keep the batch, unacknowledged
            log.error("bridge: outbox commit failed, retrying in 1 s: %s", exc)
            batch.merge(self._batch)
            self._batch = batch
            self._check = self._loop.call_later(1.0, self._idle_check)
            self._deadline = 0.0
            return
        self.commits += 1
        self.records += len(batch.rows)
        for mid, crc in _PAIR.iter_unpack(batch.pairs):
            self._committed += 1
            self._recent[mid] = (crc, self._committed)
        if self._durable:
            self._unsynced.append(batch)
            self._sync_next()
        else:
            self._acknowledge(batch)

    def _sync_next(self) -> None:
        """fsync the WAL on the worker thread (a bare syscall: the GIL stays free) for every
        batch committed so far, then acknowledge those; one fsync at a time."""
        if self._syncing or not self._unsynced:
            return
        assert self._loop is not None
        batches, self._unsynced = self._unsynced, []
        self._syncing = True
        fut = self._loop.run_in_executor(self._pool, self.outbox.sync)
        fut.add_done_callback(lambda f: self._synced(f, batches))

    def _synced(self, fut: asyncio.Future[None], batches: list[_Batch]) -> None:
        self._syncing = False
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None or fut.cancelled():
            log.error("bridge: outbox fsync failed, retrying in 1 s: %s", exc)
            self._unsynced[:0] = batches
            assert self._loop is not None
            self._loop.call_later(1.0, self._sync_next)
            return
        for batch in batches:
            self._acknowledge(batch)
        self._sync_next()
        self._maybe_idle()

    def _acknowledge(self, batch: _Batch) -> None:
        self.client.ack_many(batch.msgs)

    def _maybe_idle(self) -> None:
        if not (self._batch.msgs or self._batch.rows or self._unsynced or self._syncing):
            self._idle.set()

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "records": self.records, "malformed": self.malformed,
                "duplicates": self.duplicates, "commits": self.commits}


class _Batch:
    """What one commit carries: outbox rows, the QoS 1 messages to acknowledge, their pairs."""

    __slots__ = ("msgs", "pairs", "pending", "rows")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.msgs: list[Message] = []
        self.pairs = bytearray()
        self.pending: dict[int, int] = {}  # mid -> crc

    def merge(self, later: _Batch) -> None:
        self.rows += later.rows
        self.msgs += later.msgs
        self.pairs += later.pairs
        self.pending |= later.pending
