"""The TimescaleDB sink's migrations when the server ends the session half-way.

No TimescaleDB is needed: the test database itself plays the server that ends the sink's
session. A kill point (``test_kill_point(text)``) runs ``pg_terminate_backend(pg_backend_pid())``
when its text matches a planned pattern, as many times as planned (the count is a sequence, so
a rolled-back migration transaction does not undo it). It is reached from an event trigger on
every DDL statement (with the statement's text), and from shadows of the two non-DDL calls
the migration makes, ``pg_advisory_lock`` and ``pg_available_extensions``, which the database's
``search_path = public, pg_catalog`` resolves first. The shadow of ``pg_available_extensions``
can also say that timescaledb's files are installed (not yet created): then ``CREATE
EXTENSION timescaledb`` reaches the kill point like the real extension's loader, which ends the
session with "extension "timescaledb" must be preloaded" when the library is not in
``shared_preload_libraries``. The results are the same whatever this machine has installed.
"""

from __future__ import annotations

import logging
import re

import psycopg
import pytest

from spark.bridges.sinks.base import SinkError
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.migrate import CREATE_LEDGER, MIGRATIONS
from spark.bridges.sinks.timescale.sink import TimescaleSink
from spark.core.messages.records import MetricRecord

RIG = [
    "CREATE TABLE test_kill_plan (pattern text NOT NULL, times int NOT NULL)",
    "CREATE SEQUENCE test_kills",
    """CREATE FUNCTION test_kill_point(what text) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      limit_ int;
    BEGIN
      FOR limit_ IN SELECT times FROM test_kill_plan WHERE what LIKE pattern LOOP
        IF nextval('test_kills') <= limit_ THEN
          PERFORM pg_terminate_backend(pg_backend_pid());
        END IF;
      END LOOP;
    END $$""",
    """CREATE FUNCTION test_kill_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM test_kill_point(current_query());
    END $$""",
    "CREATE EVENT TRIGGER test_kill_ddl ON ddl_command_start EXECUTE FUNCTION test_kill_ddl()",
    """CREATE FUNCTION public.pg_advisory_lock(key bigint) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM test_kill_point('pg_advisory_lock');
      PERFORM pg_catalog.pg_advisory_lock(key);
    END $$""",
    "CREATE TABLE test_timescale_files (installed boolean NOT NULL)",
    "INSERT INTO test_timescale_files VALUES (false)",
    # What pg_available_extensions says about timescaledb: installed files (not created yet)
    # when test_timescale_files says so, else nothing, as on a server without it.
    """CREATE FUNCTION test_available() RETURNS TABLE (name name, default_version text,
                                                     installed_version text)
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM test_kill_point('pg_available_extensions');
      RETURN QUERY SELECT 'timescaledb'::name, '2.17.2'::text, NULL::text
                     FROM test_timescale_files WHERE installed;
    END $$""",
    "CREATE VIEW public.pg_available_extensions AS SELECT * FROM test_available()",
]


def rig(url: str, *, kill: str | None = None, times: int = 1, timescale_files: bool = False,
        ledger_trigger: bool = False) -> str:
    """Set the rig up in ``url``'s database; returns the URL unchanged."""
    with psycopg.connect(url, autocommit=True) as conn:
        dbname = conn.info.dbname
        for stmt in RIG:
            conn.execute(stmt)
        conn.execute(f'ALTER DATABASE "{dbname}" SET search_path = public, pg_catalog')
        conn.execute("UPDATE test_timescale_files SET installed = %s", (timescale_files,))
        if ledger_trigger:  # the ledger exists already; its INSERT is a kill point
            conn.execute(CREATE_LEDGER)
            conn.execute("""CREATE FUNCTION test_kill_insert() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                  PERFORM test_kill_point('INSERT INTO schema_migrations');
                  RETURN NEW;
                END $$""")
            conn.execute("CREATE TRIGGER test_kill_insert BEFORE INSERT ON schema_migrations "
                         "FOR EACH ROW EXECUTE FUNCTION test_kill_insert()")
        if kill is not None:
            conn.execute("INSERT INTO test_kill_plan VALUES (%s, %s)", (kill, times))
    return url


def kills(url: str) -> int:
    """How many times a planned kill point was reached (killed or not)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                           "FROM test_kills").fetchone()
        assert row is not None
        return int(row[0])


def applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()


def cfg(url: str, **kw: object) -> TimescaleSinkConfig:
    return TimescaleSinkConfig.model_validate({"url": url, "maintenance_seconds": 0, **kw})


async def write_one(sink: TimescaleSink) -> None:
    from datetime import UTC, datetime

    await sink.write([MetricRecord(key="m1", device_id="pi5", metric_name="load_1",
                                   time=datetime.now(UTC), value=0.5)])


# Every statement kind the migration sends, and the session setup after it.
STEPS = [
    "pg_advisory_lock",
    "CREATE TABLE IF NOT EXISTS schema_migrations%",
    "pg_available_extensions",
    "CREATE TABLE IF NOT EXISTS device_metrics%",  # step 1, first statement
    "CREATE INDEX IF NOT EXISTS analytics_events_%",  # step 1, last statements
    "CREATE INDEX IF NOT EXISTS device_metrics_time_brin%",  # step 2, first statement
    "CREATE OR REPLACE FUNCTION spark_purge%",  # step 2, last statement
    "ALTER TABLE ai_inference_results ADD COLUMN IF NOT EXISTS tier %",  # step 4, first
    "ALTER TABLE ai_inference_results ADD COLUMN IF NOT EXISTS ttft_ms %",  # step 4, last
    "CREATE TEMP TABLE IF NOT EXISTS stage_%",  # the session's staging tables
]


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE as a regular expression (% any text, _ one character)."""
    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                              for c in pattern), re.DOTALL)


def test_every_migration_step_on_plain_postgresql_has_kill_points() -> None:
    """The first and last statement of every step that runs without TimescaleDB are in STEPS
    (a new migration gets its kill points, or this fails)."""
    config = cfg("postgresql://127.0.0.1/unused")
    patterns = [_like(p) for p in STEPS]
    for step in MIGRATIONS:
        if step.flavour == "timescale":  # needs the extension; see the preload tests below
            continue
        statements = step.statements(config, None)
        for stmt in (statements[0], statements[-1]):
            assert any(p.fullmatch(stmt.strip()) for p in patterns), \
                f"migration {step.version} {step.name}: no kill point for {stmt[:80]!r}"


@pytest.mark.parametrize("step", STEPS)
async def test_a_session_ended_at_any_migration_step_starts_over_on_a_fresh_one(
        pg_url: str, step: str) -> None:
    rig(pg_url, kill=step)
    sink = TimescaleSink(cfg(pg_url))
    try:
        await sink.open()
        assert sink.flavour == "plain"
        await write_one(sink)
    finally:
        await sink.close()
    assert kills(pg_url) >= 1, f"the kill point {step!r} was never reached"
    assert applied(pg_url) == [(1, "tables"), (2, "plain_rollup"), (4, "llm_inference_columns")]


async def test_a_session_ended_at_the_ledger_insert_starts_over(pg_url: str) -> None:
    rig(pg_url, kill="INSERT INTO schema_migrations", ledger_trigger=True)
    sink = TimescaleSink(cfg(pg_url))
    try:
        await sink.open()
        await write_one(sink)
    finally:
        await sink.close()
    assert kills(pg_url) >= 1
    assert applied(pg_url) == [(1, "tables"), (2, "plain_rollup"), (4, "llm_inference_columns")]


async def test_a_session_ended_at_every_attempt_is_a_sink_error(pg_url: str) -> None:
    rig(pg_url, kill="CREATE TABLE IF NOT EXISTS device_metrics%", times=1000)
    sink = TimescaleSink(cfg(pg_url))
    with pytest.raises(SinkError, match="cannot open"):
        await sink.open()
    await sink.close()
    assert kills(pg_url) == 3  # three fresh connections, then the pump's backoff takes over


async def test_extension_not_preloaded_falls_back_to_plain_tables(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """CREATE EXTENSION ends the session (timescaledb installed, not preloaded): a fresh
    connection, plain tables, a warning that says how to preload; and the flavour stays."""
    rig(pg_url, kill="CREATE EXTENSION%", times=1000, timescale_files=True)
    caplog.set_level(logging.INFO, "bridges.sinks.timescale")
    sink = TimescaleSink(cfg(pg_url))
    try:
        await sink.open()
        assert sink.flavour == "plain"
        await write_one(sink)
    finally:
        await sink.close()
    assert kills(pg_url) == 1  # CREATE EXTENSION was tried once, not on the fresh connection
    assert applied(pg_url) == [(1, "tables"), (2, "plain_rollup"), (4, "llm_inference_columns")]
    assert "shared_preload_libraries" in caplog.text
    again = TimescaleSink(cfg(pg_url))
    try:
        await again.open()  # the database is plain now: not asked again
        assert again.flavour == "plain"
    finally:
        await again.close()
    assert kills(pg_url) == 1


async def test_require_with_extension_not_preloaded_says_how_to_preload(pg_url: str) -> None:
    rig(pg_url, kill="CREATE EXTENSION%", times=1000, timescale_files=True)
    sink = TimescaleSink(cfg(pg_url, timescaledb="require"))
    with pytest.raises(SinkError, match="shared_preload_libraries") as err:
        await sink.open()
    await sink.close()
    assert "terminating connection" in str(err.value)  # the server's own reason, too
    assert kills(pg_url) == 1


async def test_require_without_the_extension_says_it_is_missing(pg_url: str) -> None:
    rig(pg_url)  # pg_available_extensions has no timescaledb, whatever this machine has
    sink = TimescaleSink(cfg(pg_url, timescaledb="require"))
    with pytest.raises(SinkError, match="no timescaledb extension"):
        await sink.open()
    await sink.close()
