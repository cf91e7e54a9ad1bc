"""``spark node <kind> --help`` and the config error messages, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from spark.nodes.kinds import kind_about, kinds

SPARK = [sys.executable, "-m", "spark.app.cli"]


def spark(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("SPARK")}
    return subprocess.run([*SPARK, *args], capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONUNBUFFERED": "1", **(env or {})})


def test_every_node_kind_has_its_own_help():
    listing = spark("node", "--help")
    assert listing.returncode == 0
    flat = " ".join(listing.stdout.split())
    generic = spark("node", "--help").stdout
    for kind in kinds():
        about = kind_about(kind)
        assert about.summary and "\n" not in about.summary
        assert kind in listing.stdout and " ".join(about.summary.split()) in flat
        out = spark("node", kind, "--help")
        assert out.returncode == 0 and out.stdout != generic
        assert about.description.splitlines()[0] in out.stdout  # kept as written
        assert "--id" in out.stdout and "--config" in out.stdout


def test_voice_help_says_what_it_listens_to_and_understands():
    out = spark("node", "voice", "--help").stdout
    for said in ('"hey spark"', "/tmp/spark-voice", "spark up", "pyaudio", "ReSpeaker",
                 "turn off the sim lamp", "set the power mode to off grid", "ask spark",
                 "didn't understand"):
        assert said in out, said


def test_vision_help_names_detectors_sources_and_the_fallbacks_limits():
    out = spark("node", "vision", "--help").stdout
    for said in ("hailo", "HEF", "cpu", "HOG", "Haar", "fallback", "files", "opencv",
                 "picamera2", "people only", "cannot see"):
        assert said in out, said


def test_config_is_accepted_before_or_after_the_kind(tmp_path: Path):
    from spark.app.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["node", "-c", "a.yaml", "nas"]).config == "a.yaml"
    assert parser.parse_args(["node", "nas", "-c", "b.yaml", "--id", "n2"]).config == "b.yaml"
    assert parser.parse_args(["node", "nas"]).config is None


def test_config_errors_name_the_variable_the_node_and_the_discriminator(tmp_path: Path):
    cfg = tmp_path / "spark.yaml"
    cfg.write_text(yaml.safe_dump({"nodes": [
        {"id": "sim", "kind": "simulated"},
        {"id": "garage", "kind": "power", "backend": {"type": "zigbee"}},
        {"id": "ups", "kind": "power", "backend": {"port": 3493}},
    ]}))
    out = spark("config", "check", str(cfg), env={"SPARK__MQTT__HOTS": "10.0.0.2"})
    assert out.returncode == 2
    err = out.stderr
    assert f"{cfg} and the environment" in err
    assert "environment variable SPARK__MQTT__HOTS (mqtt.hots): unknown key; did you mean " \
        "'host'? Rename the variable to SPARK__MQTT__HOST or unset it." in err
    assert "  - mqtt.hots" not in err  # not blamed on the file
    assert "nodes['garage'].backend: Input tag 'zigbee'" in err
    assert "set 'type' to one of the listed values" in err and "'kind'" not in err
    assert "nodes['ups'].backend: no 'type' given; add 'type:'" in err
    assert "nodes[1]" not in err and "nodes[2]" not in err
    cfg.write_text(yaml.safe_dump({"mqtt": {"port": 1884}}))
    out = spark("config", "check", str(cfg), env={"SPARK__MQTT__PORT": "many"})
    assert out.returncode == 2
    assert f"the environment (SPARK__* variables; none in {cfg})" in out.stderr
    assert "environment variable SPARK__MQTT__PORT (mqtt.port)" in out.stderr


def test_config_check_mentions_the_bridge_sinks(tmp_path: Path):
    cfg = tmp_path / "spark.yaml"
    cfg.write_text("")
    out = spark("config", "check", str(cfg))
    assert out.returncode == 0 and "bridges.sinks is empty" in out.stdout
    cfg.write_text(yaml.safe_dump({"bridges": {"sinks": [
        {"type": "kafka"}, {"type": "timescale", "url": "postgresql://u:secret@db/x"}]}}))
    out = spark("config", "check", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "bridges.sinks: kafka, timescale" in out.stdout and "secret" not in out.stdout
