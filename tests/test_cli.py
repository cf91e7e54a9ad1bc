"""The ``spark`` command line, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from broker_fixture import free_port

SPARK = [sys.executable, "-m", "hub.cli"]


def spark(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*SPARK, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_help_lists_subcommands():
    out = spark("--help")
    assert out.returncode == 0
    for command in ("up", "hub", "node", "broker", "config"):
        assert command in out.stdout
    for command in (["up"], ["hub"], ["node"], ["broker"], ["config", "check"]):
        assert spark(*command, "--help").returncode == 0


def test_config_check_explains_errors(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"mqtt": {"port": 1884},
                                    "nodes": [{"id": "sim", "kind": "simulated"}]}))
    out = spark("config", "check", str(good))
    assert out.returncode == 0 and "OK" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  hots: x\n  port: many\nnodes:\n  - {id: 'a b', kind: toaster}\n")
    out = spark("config", "check", str(bad))
    assert out.returncode == 2
    assert str(bad) in out.stderr
    assert "mqtt.hots: unknown key; did you mean 'host'?" in out.stderr
    assert "mqtt.port" in out.stderr and "nodes['a b']" in out.stderr  # named by its id
    broken = tmp_path / "broken.yaml"
    broken.write_text("mqtt: [\n")
    out = spark("config", "check", str(broken))
    assert out.returncode == 2 and "not valid YAML" in out.stderr


def test_unknown_keys_inside_typed_backends_get_a_suggestion(tmp_path: Path):
    """Keys under a backend chosen by ``type`` (a list of sinks, a node's stt) are checked
    against that backend's own fields."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "nodes": [{"id": "voice", "kind": "voice",
                   "stt": {"type": "pocketsphinx", "onof": {"enabled": True}},
                   "source": {"type": "wav", "path": "/tmp", "zzz": 1}}],
        "bridges": {"sinks": [{"type": "timescale", "retention_dayz": 3}]}}))
    out = spark("config", "check", str(bad))
    assert out.returncode == 2
    assert "nodes['voice'].stt.onof: unknown key; did you mean 'onoff'?" in out.stderr
    assert "bridges.sinks[0].retention_dayz: unknown key; did you mean " \
        "'retention_days'?" in out.stderr
    assert "nodes['voice'].source.zzz: unknown key; valid keys: type, path," in out.stderr


def test_the_shipped_example_config_is_valid():
    example = Path(__file__).parent.parent / "config" / "spark.example.yaml"
    out = spark("config", "check", str(example))
    assert out.returncode == 0, out.stderr


def test_up_starts_mosquitto_and_shows_the_lab_in_the_registry(tmp_path: Path):
    port = free_port()
    conf = tmp_path / "spark.yaml"
    conf.write_text(yaml.safe_dump({
        "mqtt": {"port": port},
        "broker": {"data_dir": str(tmp_path / "broker")},
    }))
    out = spark("up", "--config", str(conf), "--duration", "8", timeout=90, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"broker: mosquitto at 127.0.0.1:{port}" in out.stdout
    assert "hub registry:" in out.stdout
    assert "switch.sim_lamp" in out.stdout and "sensor.sim_temperature" in out.stdout
    assert "where to look next" in out.stdout
    # passwords were generated for every account, readable only by the owner
    secret = tmp_path / "broker" / "secrets" / "hub.password"
    assert secret.exists() and (secret.stat().st_mode & 0o077) == 0
