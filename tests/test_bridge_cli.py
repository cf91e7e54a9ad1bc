"""``spark bridge`` as a user runs it (without a sink, ``run`` and ``sync`` refuse alike), and the
bridge benches' command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

EMPTY = "bridges.sinks is empty: name a timescale or kafka sink to bridge to"


@pytest.mark.parametrize("command", ["sync", "run"])
def test_bridge_without_a_sink_is_a_clear_error(tmp_path: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK")}
    out = subprocess.run([sys.executable, "-m", "spark.app.cli", "bridge", command], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert EMPTY in out.stderr
    assert "no gaps" not in out.stdout
    assert not (tmp_path / ".spark").exists()  # no outbox folder left behind


def test_bench_names_are_the_leading_arguments_only() -> None:
    from bench.__main__ import split_args

    assert split_args(["bridge", "--skip", "kafka", "outage"]) == (
        ["bridge"], ["--skip", "kafka", "outage"])  # 'kafka' is the phase, not the bench
    assert split_args(["bridge", "timescale", "--", "--url", "postgresql://db/x"]) == (
        ["bridge", "timescale"], ["--url", "postgresql://db/x"])
    assert split_args(["--list"]) == ([], ["--list"])


def test_bridge_bench_readings_carry_current_times() -> None:
    """A TimescaleDB's own retention policy (30 days) must not drop them mid-run."""
    import orjson

    from bench.bridge_pipeline import readings

    now = datetime.now(UTC)
    times = [datetime.fromisoformat(orjson.loads(p)["time"]) for _t, p, _r in readings(60_000)]
    assert now - timedelta(minutes=2) < min(times) and max(times) <= now + timedelta(minutes=1)
    assert len(set(times)) == len(times)
