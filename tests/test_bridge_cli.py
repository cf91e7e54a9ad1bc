"""``spark bridge`` as a user runs it: without a sink, ``run`` and ``sync`` refuse alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EMPTY = "bridges.sinks is empty: name a timescale or kafka sink to bridge to"


@pytest.mark.parametrize("command", ["sync", "run"])
def test_bridge_without_a_sink_is_a_clear_error(tmp_path: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK")}
    out = subprocess.run([sys.executable, "-m", "hub.cli", "bridge", command], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert EMPTY in out.stderr
    assert "no gaps" not in out.stdout
    assert not (tmp_path / ".spark").exists()  # no outbox folder left behind
