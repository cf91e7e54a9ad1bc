"""The broker runs unprivileged: a Mosquitto we start as root switches to ``broker.run_user``.

Attack surface: a Mosquitto left running as root turns any broker bug (a crafted packet, a
plugin, a TLS library flaw) into root on the control PC. Also checked: the broker's own user,
now owning ``data_dir``, cannot make root write through a planted link.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_fixture import HOST, broker_config, free_port
from helpers import Recorder, connect_rc

from spark.core.errors import BrokerError
from spark.hub.broker import (
    choose_broker,
    mosquitto_process,
    probe_mqtt,
    render_conf,
    resolve_passwords,
)
from spark.hub.broker.mosquitto import broker_paths

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="starts Mosquitto as root (CI does)")


def _ids(pid: int) -> tuple[set[int], set[int]]:
    """Real, effective, saved and filesystem uid and gid of a process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return ({int(x) for x in fields["Uid"].split()}, {int(x) for x in fields["Gid"].split()})


def test_config_generated_for_root_names_an_unprivileged_user(tmp_path: Path) -> None:
    cfg = broker_config(tmp_path / "broker", 1883).broker_settings()
    conf = render_conf(cfg, as_root=True)
    lines = conf.splitlines()
    assert "user root" not in lines
    assert "user mosquitto" in lines
    # Paths relative to data_dir (the broker's working directory): nothing above it is needed.
    assert str(tmp_path) not in conf
    assert "password_file passwd" in lines and "persistence_location ./" in lines
    # Not root: no user line at all (Mosquitto keeps running as whoever started it).
    assert not any(line.startswith("user ") for line in render_conf(cfg, as_root=False).split("\n"))


def test_run_user_root_is_refused(tmp_path: Path) -> None:
    cfg = broker_config(tmp_path / "broker", 1883, run_user="root").broker_settings()
    with pytest.raises(BrokerError, match="must not run as root"):
        render_conf(cfg, as_root=True)


@needs_root
def test_mosquitto_started_as_root_runs_as_the_broker_user(tmp_path: Path) -> None:
    # data_dir sits below pytest's private (0700, root) temp directories on purpose.
    data_dir = tmp_path / "deep" / "broker"
    user = pwd.getpwnam("mosquitto")
    cfg = broker_config(data_dir, free_port())
    settings = cfg.broker_settings()
    process = mosquitto_process(settings)
    process.start_blocking()
    try:
        assert process.pid is not None
        uids, gids = _ids(process.pid)
        assert uids == {user.pw_uid}, f"mosquitto runs with uids {uids}"
        assert gids == {user.pw_gid}
        paths = broker_paths(cfg.broker)
        for key in ("persistence", "conf", "passwd", "acl", "pid", "log"):
            assert paths[key].stat().st_uid == user.pw_uid, key
        secrets = paths["persistence"] / "secrets"
        assert secrets.stat().st_uid == 0 and stat.S_IMODE(secrets.stat().st_mode) == 0o700
        assert stat.S_IMODE(paths["passwd"].stat().st_mode) == 0o600

        # It works: logins and ACLs from the files it read after dropping root, and a reload
        # (SIGHUP re-reads config, passwd and acl as the broker user).
        password = resolve_passwords(settings)["admin"]
        process.reload()
        with Recorder(HOST, cfg.mqtt.port, "admin", password) as rec:
            assert rec.connect() == 0
            rec.subscribe("probe/#")
            rec.publish("probe/x", "1", retain=True)
            rec.wait_topic("probe/x")
        assert process.running
        # Persistence is written by the broker user into its own directory.
        process.stop_blocking()
        assert paths["db"].stat().st_uid == user.pw_uid
    finally:
        process.stop_blocking()


@needs_root
def test_the_broker_user_cannot_make_root_write_through_a_link(tmp_path: Path) -> None:
    """data_dir belongs to the broker user: links it plants at the names root writes (the
    temporary files of passwd / acl / mosquitto.conf, the console log) must not redirect root."""
    data_dir = tmp_path / "broker"
    user = pwd.getpwnam("mosquitto")
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    cfg = broker_config(data_dir, free_port())
    process = mosquitto_process(cfg.broker_settings())  # generates once: data_dir is handed over
    planted = [data_dir / f".{name}.{os.getpid()}.tmp" for name in ("passwd", "acl",
                                                                      "mosquitto.conf")]
    planted.append(data_dir / "mosquitto.console.log")
    for link in planted:
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
        os.lchown(link, user.pw_uid, user.pw_gid)
    with pytest.raises(OSError):  # the console log is refused, not followed
        process.start_blocking()
    (data_dir / "mosquitto.console.log").unlink()
    process = mosquitto_process(cfg.broker_settings())  # regenerates through the planted tmps
    process.start_blocking()
    try:
        assert process.running
    finally:
        process.stop_blocking()
    assert victim.read_text() == "untouched"
    assert victim.stat().st_uid == 0


@needs_root
def test_a_missing_run_user_is_a_clear_error(tmp_path: Path) -> None:
    cfg = broker_config(tmp_path / "broker", free_port(), run_user="no-such-user-here")
    with pytest.raises(BrokerError, match=r"broker.run_user 'no-such-user-here': no such user"):
        mosquitto_process(cfg.broker_settings())


@needs_root
async def test_the_embedded_broker_needs_no_broker_user(tmp_path: Path) -> None:
    """The embedded broker runs in our own process (a machine without Mosquitto has no
    'mosquitto' user): its files stay ours and it starts."""
    pytest.importorskip("amqtt")
    cfg = broker_config(tmp_path, free_port(), mode="embedded", run_user="no-such-user-here")
    async with choose_broker(cfg.broker_settings()) as handle:
        assert handle.kind == "embedded"
        login = handle.login("admin")
        assert login is not None
        rc = await asyncio.to_thread(connect_rc, HOST, cfg.mqtt.port, *login)
        assert not rc.is_failure
    assert (tmp_path / "passwd").stat().st_uid == 0


def _tls_material(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_dir() -> Iterator[Path]:
    """Outside pytest's private temp tree, enterable by others (like /etc/prime-spark/tls)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl for a test certificate")
    directory = Path(tempfile.mkdtemp(prefix="spark-tls-"))
    directory.chmod(0o711)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@needs_root
async def test_tls_works_as_the_broker_user_with_a_key_it_may_read(
    tmp_path: Path, tls_dir: Path
) -> None:
    cert, key = _tls_material(tls_dir)
    user = pwd.getpwnam("mosquitto")
    os.chown(key, 0, user.pw_gid)
    key.chmod(0o640)
    cert.chmod(0o644)
    tls_port = free_port()
    cfg = broker_config(tmp_path / "broker", free_port(), tls_port=tls_port,
                        tls_cert_file=str(cert), tls_key_file=str(key))
    process = mosquitto_process(cfg.broker_settings())
    await process.start()
    try:
        assert process.pid is not None and _ids(process.pid)[0] == {user.pw_uid}
        assert (await probe_mqtt(HOST, tls_port, use_tls=True)).is_broker
    finally:
        await process.stop()


@needs_root
def test_a_key_only_root_may_read_is_refused_with_the_fix(tmp_path: Path, tls_dir: Path) -> None:
    """Mosquitto loads certificates after it dropped root: rather than a broker that dies at
    start, an error that names the key and what to do."""
    cert, key = _tls_material(tls_dir)
    key.chmod(0o600)  # root's
    cfg = broker_config(tmp_path / "broker", free_port(), tls_port=free_port(),
                        tls_cert_file=str(cert), tls_key_file=str(key))
    with pytest.raises(BrokerError, match=r"broker.tls_key_file .*cannot read.*chgrp mosquitto"):
        mosquitto_process(cfg.broker_settings())
