"""Schema migrations: an ordered list of steps, each recorded in ``schema_migrations``.

A step applies to both flavours or to one (``plain`` / ``timescale``). The flavour of a
database is chosen once, when its flavour step is applied, and read back from
``schema_migrations`` after that: a database created on plain PostgreSQL stays plain even if
the extension appears later (moving its rows into hypertables is a manual job). All pending
steps run in one transaction, all under a session advisory lock, so two sinks starting
together neither race nor leave a half-migrated schema.

A connection lost during the migration (the server restarting, an administrator's
``pg_terminate_backend``, or ``CREATE EXTENSION timescaledb`` on a server whose library is
installed but not in ``shared_preload_libraries``: its loader ends the session with a FATAL
error) is never used again: :func:`connect_migrated` opens a fresh one and starts over (the
lost transaction left nothing behind). When it was ``CREATE EXTENSION`` that broke the link, the
fresh attempt does not try it again: ``timescaledb: auto`` falls back to plain tables, ``require``
refuses with how to preload the library.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import psycopg

from spark.bridges.sinks.base import SinkError
from spark.bridges.sinks.timescale import hypertables, schema
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig

log = logging.getLogger(__name__)

Flavour = Literal["plain", "timescale"]
LOCK_ID = 0x5350_4B54  # "SPKT": pg_advisory_lock key of the migrations

CREATE_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    flavour: Flavour | None  # None: both
    # (config, TimescaleDB version: None on plain PostgreSQL) -> statements
    statements: Callable[[TimescaleSinkConfig, hypertables.Version | None], list[str]]


def _timescale_step(cfg: TimescaleSinkConfig, version: hypertables.Version | None) -> list[str]:
    return hypertables.timescale_migration(cfg, version or hypertables.BY_RANGE)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables", None, lambda cfg, _v: schema.tables_migration()),
    Migration(2, "plain_rollup", "plain", lambda cfg, _v: schema.plain_migration()),
    Migration(3, "timescale", "timescale", _timescale_step),
    Migration(4, "llm_inference_columns", None,
              lambda cfg, _v: schema.llm_inference_migration()),
)
_FLAVOUR_STEP = {"plain": "plain_rollup", "timescale": "timescale"}
PRELOAD_HINT = ("add timescaledb to shared_preload_libraries in postgresql.conf (e.g. "
                "timescaledb-tune), restart PostgreSQL, then CREATE EXTENSION timescaledb as a "
                "superuser; or set timescaledb: auto / off")
ATTEMPTS = 3  # fresh connections per connect_migrated call before giving up


class _ExtensionBrokeLink(Exception):
    """CREATE EXTENSION ended the session (the library is not preloaded)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _lost(conn: psycopg.AsyncConnection) -> bool:
    return conn.closed or conn.broken


async def connect_migrated(
        connect: Callable[[], Awaitable[psycopg.AsyncConnection]], cfg: TimescaleSinkConfig,
        setup: Callable[[psycopg.AsyncConnection], Awaitable[None]] | None = None,
) -> tuple[psycopg.AsyncConnection, Flavour]:
    """A connection (from ``connect``, in autocommit) whose database is migrated, and its
    flavour; ``setup`` then runs on it (session state such as TEMP tables). A connection lost on
    the way is replaced by a fresh one (at most :data:`ATTEMPTS` in all); any other error is
    raised with the connection closed."""
    extension_failed: str | None = None
    for attempt in range(1, ATTEMPTS + 1):
        conn = await connect()
        try:
            flavour = await migrate(conn, cfg, extension_failed=extension_failed)
            if setup is not None:
                await setup(conn)
            return conn, flavour
        except _ExtensionBrokeLink as exc:
            await conn.close()
            extension_failed = exc.reason
            log.info("timescale sink: CREATE EXTENSION timescaledb closed the connection (%s); "
                     "starting over on a fresh one", exc.reason)
            continue
        except psycopg.Error as exc:
            lost = _lost(conn)
            await conn.close()
            if not lost or attempt == ATTEMPTS:
                raise
            log.warning("timescale sink: connection lost while migrating (%s); starting over "
                        "on a fresh one", str(exc).strip() or type(exc).__name__)
        except BaseException:
            await conn.close()
            raise
    raise SinkError("timescale: CREATE EXTENSION timescaledb keeps closing the connection "
                    f"({extension_failed}): {PRELOAD_HINT}")


async def _timescale_usable(conn: psycopg.AsyncConnection, mode: str,
                            extension_failed: str | None) -> bool:
    """Is the extension installed, or can it be created? (``mode`` off: never asked;
    ``extension_failed``: CREATE EXTENSION already ended an earlier session, do not retry.)"""
    if mode == "off":
        return False
    row = await (await conn.execute(hypertables.AVAILABLE)).fetchone()
    if row is not None and row[1] is not None:
        return True
    if row is None:
        if mode == "require":
            raise SinkError("timescaledb: the server has no timescaledb extension "
                            "(install it or set timescaledb: auto / off)")
        return False
    reason = extension_failed
    if reason is None:
        try:
            await conn.execute(hypertables.EXTENSION)  # autocommit: no tx left behind
            return True
        except psycopg.Error as exc:
            reason = str(exc).strip() or type(exc).__name__
            if _lost(conn):
                raise _ExtensionBrokeLink(reason) from exc
    if mode == "require":
        raise SinkError(f"timescaledb: CREATE EXTENSION failed ({reason}): {PRELOAD_HINT}")
    log.warning("timescaledb is available but CREATE EXTENSION failed (%s); using plain "
                "PostgreSQL tables (to use it: %s)", reason, PRELOAD_HINT)
    return False


async def _timescale_version(conn: psycopg.AsyncConnection) -> hypertables.Version:
    """The installed extension's (major, minor); 1.x is refused (its API differs)."""
    row = await (await conn.execute(hypertables.INSTALLED)).fetchone()
    if row is None:
        raise SinkError("timescaledb: this database was set up with the extension, which is "
                        "no longer installed (CREATE EXTENSION timescaledb, as a superuser)")
    version = hypertables.parse_version(str(row[0]))
    if version < hypertables.OLDEST:
        raise SinkError(f"timescaledb {row[0]} is too old: 2.x is needed (ALTER EXTENSION "
                        "timescaledb UPDATE), or set timescaledb: off")
    if version < hypertables.BY_RANGE:
        log.info("timescaledb %s: using the pre-2.13 create_hypertable signature", row[0])
    return version


async def _applied(conn: psycopg.AsyncConnection) -> dict[int, str]:
    cur = await conn.execute("SELECT version, name FROM schema_migrations")
    return {v: n for v, n in await cur.fetchall()}


def _recorded_flavour(applied: dict[int, str]) -> Flavour | None:
    names = set(applied.values())
    if _FLAVOUR_STEP["timescale"] in names:
        return "timescale"
    if _FLAVOUR_STEP["plain"] in names:
        return "plain"
    return None


async def migrate(conn: psycopg.AsyncConnection, cfg: TimescaleSinkConfig, *,
                  extension_failed: str | None = None) -> Flavour:
    """Apply pending steps; return the database's flavour. ``conn`` must be in autocommit.
    Use :func:`connect_migrated`: a connection lost here must not be used again."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        return await _migrate_locked(conn, cfg, extension_failed)
    finally:
        if not _lost(conn):
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
            except psycopg.Error:
                pass  # connection gone: the server dropped the lock with it


async def _migrate_locked(conn: psycopg.AsyncConnection, cfg: TimescaleSinkConfig,
                          extension_failed: str | None) -> Flavour:
    await conn.execute(CREATE_LEDGER)
    applied = await _applied(conn)
    flavour = _recorded_flavour(applied)
    if flavour is None:
        usable = await _timescale_usable(conn, cfg.timescaledb, extension_failed)
        flavour = "timescale" if usable else "plain"
    if flavour == "plain" and cfg.timescaledb == "require":
        raise SinkError("timescaledb: require, but this database was set up on plain "
                        "PostgreSQL; move it by hand or use a new database")
    pending = [m for m in MIGRATIONS
               if m.version not in applied and m.flavour in (None, flavour)]
    if not pending:
        return flavour
    version = await _timescale_version(conn) if flavour == "timescale" else None
    async with conn.transaction():
        for step in pending:
            log.info("timescale sink: applying migration %d %s", step.version, step.name)
            for stmt in step.statements(cfg, version):
                await conn.execute(stmt)  # built from constants
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (step.version, step.name))
    return flavour
