"""The ``spark`` command line, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from broker_fixture import free_port
from e2e.harness import wait_until

SPARK = [sys.executable, "-m", "spark.app.cli"]


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


def _up_config(tmp_path: Path, **extra: object) -> Path:
    conf = tmp_path / "spark.yaml"
    conf.write_text(yaml.safe_dump({
        "mqtt": {"port": free_port()},
        "broker": {"data_dir": str(tmp_path / "broker")},
        "ui": {"host": "127.0.0.1", "port": free_port()},
        **extra,
    }))
    return conf


def test_up_starts_mosquitto_and_shows_the_lab_in_the_registry(tmp_path: Path):
    conf = _up_config(tmp_path)
    cfg = yaml.safe_load(conf.read_text())
    port, ui_port = cfg["mqtt"]["port"], cfg["ui"]["port"]
    out = spark("up", "--config", str(conf), "--duration", "8", timeout=90, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"broker: mosquitto at 127.0.0.1:{port}" in out.stdout
    assert "Prime Spark is up: hub 'hub' and 6 nodes" in out.stdout
    lines = out.stdout.splitlines()
    sim = next(line for line in lines if line.split()[:3] == ["sim", "simulated", "online"])
    assert "Blind closed, Ceiling light off" in sim  # states as Home Assistant shows them
    assert "where to look next" in out.stdout
    assert len(lines) < 40  # a summary, not an entity dump
    # how to log in comes last: the URL, the user, the password's file (0600, changed at the
    # first log-in)
    assert lines[-5:-1] == [
        "how to log in:", f"  open      http://127.0.0.1:{ui_port}/", "  user      admin",
        "  password  cat .spark/ui/admin.password   (generated; the panel asks you to choose "
        "your own at the first log-in)"]
    assert (tmp_path / ".spark" / "ui" / "admin.password").stat().st_mode & 0o777 == 0o600
    for db in ("users.db", "history.db"):
        assert (tmp_path / ".spark" / db).stat().st_mode & 0o777 == 0o600, db
    # passwords were generated for every account, readable only by the owner
    secret = tmp_path / "broker" / "secrets" / "hub.password"
    assert secret.exists() and (secret.stat().st_mode & 0o077) == 0
    # a later run says how to log in too (the generated password is still unchanged)
    again = spark("up", "--config", str(conf), "--duration", "4", timeout=90, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "how to log in:" in again.stdout and "admin.password" in again.stdout
    assert "created user" not in again.stdout


def test_a_second_up_refuses_the_running_ones_node_ids_and_leaves_them_online(
        tmp_path: Path):
    from helpers import Recorder

    conf = _up_config(tmp_path)
    port = yaml.safe_load(conf.read_text())["mqtt"]["port"]
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen([*SPARK, "up", "--config", str(conf)], cwd=tmp_path,
                                 stdout=log, stderr=subprocess.STDOUT, text=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        def first_up() -> bool:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            return "how to log in:" in (tmp_path / "first.log").read_text()

        wait_until(first_up, 90, "the first `spark up` printed its summary")
        ha = (tmp_path / "broker" / "secrets" / "homeassistant.password").read_text().strip()
        with Recorder("127.0.0.1", port, "homeassistant", ha) as rec:
            rec.connect()
            rec.subscribe("spark/+/availability")
            nodes = ("hub", "sim", "power", "system", "nas", "vision", "voice")
            rec.wait(lambda: {m.topic.split("/")[1] for m in rec.received(
                "spark/+/availability") if m.payload == b"online"} >= set(nodes), 10,
                "every node online")
            second = spark("up", "--config", str(conf), "--duration", "5", timeout=90,
                           cwd=tmp_path)
            assert second.returncode == 1, second.stdout + second.stderr
            for node in nodes:
                assert f"{node!r} is already served by a running process (host " \
                    in second.stderr, second.stderr
            assert f"pid {first.pid}" in second.stderr
            assert "another `spark up` or `spark hub` runs hub 'hub'" in second.stderr
            assert "Prime Spark is up" not in second.stdout
            # nobody published offline for the first instance's nodes, and they still answer
            assert not [m.topic for m in rec.received("spark/+/availability")
                        if m.payload != b"online"]
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(30)


def test_a_taken_panel_port_is_an_error_at_start(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ui_port = taken.getsockname()[1]
        conf = _up_config(tmp_path, ui={"host": "127.0.0.1", "port": ui_port})
        out = spark("up", "--config", str(conf), "--duration", "5", timeout=90, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"cannot listen on 127.0.0.1:{ui_port}" in out.stderr
    assert "Prime Spark is up" not in out.stdout and "how to log in" not in out.stdout
