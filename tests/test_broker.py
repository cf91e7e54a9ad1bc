"""The broker side against a real Mosquitto (and the embedded amqtt broker): generated passwords
and ACLs, the generated config, process control, and broker selection."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from broker_fixture import ADMIN, HOST, RunningBroker, broker_config, free_port
from helpers import Recorder, connect_rc, wait_for

from spark.app.config.models import SparkConfig
from spark.core.errors import BrokerError
from spark.hub.broker import (
    MosquittoProcess,
    choose_broker,
    ensure_password,
    generate_files,
    hash_password,
    mosquitto_process,
    render_conf,
    resolve_passwords,
    verify_password,
)
from spark.hub.broker.acl import build_acl, is_allowed, parse_acl, render_acl
from spark.hub.broker.passwd import read_password_file
from spark.hub.broker.probe import Answer, probe_mqtt


def _marker() -> str:
    return uuid.uuid4().hex[:8]


# ---- passwords ---------------------------------------------------------------------------
def test_hash_format_matches_mosquitto_passwd_layout() -> None:
    hashed = hash_password("s3cret")
    _, seven, iterations, salt, digest = hashed.split("$")
    assert (seven, iterations) == ("7", "101")
    assert len(salt) == 16 and len(digest) == 88  # base64 of 12 and 64 bytes
    assert verify_password("s3cret", hashed)
    assert not verify_password("S3cret", hashed)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd")
def test_we_verify_hashes_written_by_mosquitto_passwd(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "pa ss:wörd"], check=True)
    hashed = read_password_file(path)["alice"]
    assert verify_password("pa ss:wörd", hashed)
    assert not verify_password("pass", hashed)


def test_ensure_password_is_generated_once_and_private(tmp_path: Path) -> None:
    first = ensure_password(tmp_path / "secrets", "sim1")
    assert len(first) >= 30
    assert ensure_password(tmp_path / "secrets", "sim1") == first
    assert ensure_password(tmp_path / "secrets", "sim2") != first
    assert (tmp_path / "secrets" / "sim1.password").stat().st_mode & 0o777 == 0o600


def test_mosquitto_accepts_our_hashes_and_refuses_wrong_ones(broker: RunningBroker) -> None:
    for username, password in broker.passwords.items():
        assert not connect_rc(broker.host, broker.port, username, password).is_failure, username
    assert connect_rc(broker.host, broker.port, "sim1", "wrong").is_failure
    assert connect_rc(broker.host, broker.port, "sim1", broker.passwords["sim2"]).is_failure
    assert connect_rc(broker.host, broker.port, "nobody", "x").is_failure
    assert connect_rc(broker.host, broker.port, None, None).is_failure  # no anonymous


# ---- ACLs on the real broker ---------------------------------------------------------------
def _check_delivery(
    broker: RunningBroker, user: str, denied: list[str], allowed: list[str], marker: str
) -> None:
    """``user`` publishes every denied topic, then the allowed ones, then ``marker`` (allowed);
    an admin subscribed to '#' must see exactly the allowed ones once the marker arrived."""
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as admin, Recorder(
        broker.host, broker.port, **broker.login(user)
    ) as client:
        admin.connect()
        admin.subscribe("#")
        assert not client.connect().is_failure
        for topic in [*denied, *allowed, marker]:
            client.publish(topic, "x")  # Mosquitto acks denied publishes too, then drops them
        admin.wait_topic(marker)
        seen = set(admin.topics())
    assert not seen & set(denied), f"{user} could publish {sorted(seen & set(denied))}"
    assert set(allowed) <= seen


def test_node_writes_only_its_own_topics(broker: RunningBroker) -> None:
    run = _marker()
    denied = [
        f"spark/sim2/lamp{run}/set",
        f"homeassistant/sensor/sim2/x{run}/config",
        f"homeassistant/device/sim2{run}/config",
        f"spark/sim2/availability{run}",
        f"zigbee2mqtt/dev{run}/set",
        f"spark/hub/request/sim2/ping{run}",  # requests only under its own account name
        f"spark/hub/request/hub/ping{run}",
    ]
    allowed = [
        f"spark/sim1/temp{run}/state",
        f"homeassistant/sensor/sim1/temp{run}/config",
        "homeassistant/device/sim1/config",
        f"spark/hub/request/sim1/ping{run}",
    ]
    _check_delivery(broker, "sim1", denied, allowed, f"spark/sim1/marker{run}/state")


def test_homeassistant_sends_commands_and_status_but_not_states(broker: RunningBroker) -> None:
    run = _marker()
    denied = [
        f"spark/sim1/temp{run}/state",
        f"spark/sim1/avail{run}/availability",
        f"homeassistant/sensor/sim1/x{run}/config",
    ]
    allowed = [f"spark/sim1/lamp{run}/set"]
    _check_delivery(broker, "homeassistant", denied, allowed, "homeassistant/status")


def test_third_party_users_get_exactly_their_lists(broker: RunningBroker) -> None:
    run = _marker()
    _check_delivery(
        broker, "zigbee2mqtt",
        denied=[f"spark/sim1/lamp{run}/set", f"spark/zigbee2mqtt/x{run}/state", f"tele/z{run}",
                f"homeassistant/select/power/mode{run}/config",  # our nodes' configs
                f"homeassistant/switch/hub/x{run}/config", "homeassistant/device/sim1/config",
                "homeassistant/status"],
        allowed=[f"homeassistant/light/0x{run}/light/config"],
        marker=f"zigbee2mqtt/bridge{run}/state",
    )
    _check_delivery(
        broker, "tasmota",
        denied=[f"zigbee2mqtt/t{run}", f"spark/sim1/lamp{run}/set", f"cmnd/t{run}/POWER",
                f"homeassistant/sensor/sim1/t{run}/config"],
        allowed=[f"stat/t{run}/POWER", f"tasmota/discovery/t{run}/config"],
        marker=f"tele/t{run}/STATE",
    )


def test_reads_are_limited_too(broker: RunningBroker) -> None:
    """sim1 reads spark/# and homeassistant/status, not zigbee2mqtt's topics nor $SYS; the hub
    reads $SYS."""
    run = _marker()
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as admin, Recorder(
        broker.host, broker.port, **broker.login("sim1")
    ) as node, Recorder(broker.host, broker.port, **broker.login("hub")) as hub:
        admin.connect()
        node.connect()
        hub.connect()
        node.subscribe("spark/#", "homeassistant/status", "zigbee2mqtt/#", "$SYS/broker/version")
        hub.subscribe("$SYS/broker/version")
        hub.wait_topic("$SYS/broker/version")
        admin.publish(f"zigbee2mqtt/dev{run}", "secret")
        admin.publish(f"spark/sim2/marker{run}/state", "1")
        node.wait_topic(f"spark/sim2/marker{run}/state")
        assert not node.received("zigbee2mqtt/#")
        assert not node.received("$SYS/#")


def test_password_and_acl_reload_on_sighup(fresh_broker: RunningBroker) -> None:
    cfg = fresh_broker.config
    extra = {"username": "newcomer", "readwrite": ["lab/#"]}
    new_cfg = cfg.model_copy(
        update={"broker": cfg.broker.model_validate(
            cfg.broker.model_dump() | {"users": [*cfg.broker.model_dump()["users"], extra]}
        )}
    )
    generate_files(new_cfg.broker_settings())
    password = ensure_password(fresh_broker.data_dir / "secrets", "newcomer")
    assert connect_rc(HOST, fresh_broker.port, "newcomer", password).is_failure
    fresh_broker.process.reload()
    asyncio.run(wait_for(
        lambda: not connect_rc(HOST, fresh_broker.port, "newcomer", password).is_failure,
        what="newcomer accepted after SIGHUP",
    ))


# ---- the generated files -----------------------------------------------------------------
def test_generated_conf_has_queue_limits_and_auth(broker: RunningBroker) -> None:
    text = (broker.data_dir / "mosquitto.conf").read_text()
    b = broker.config.broker
    assert f"max_queued_messages {b.max_queued_messages}\n" in text
    assert f"max_queued_bytes {b.max_queued_bytes}\n" in text
    assert f"max_inflight_messages {b.max_inflight_messages}\n" in text
    assert b.max_queued_messages >= 200_000  # a 200k burst to a lagging hub must fit
    assert "allow_anonymous false\n" in text
    assert f"listener {broker.port} {HOST}\n" in text
    # Started as root, Mosquitto runs as broker.run_user from data_dir: paths relative to it.
    location = "." if os.geteuid() == 0 else broker.data_dir.resolve()
    assert f"persistence_location {location}/\n" in text
    assert "sys_interval 1\n" in text


def test_conf_variants(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cfg = broker_config(tmp_path, 1884, auth=False, tls_port=8883, tls_cert_file=str(cert),
                        tls_key_file=str(cert), bridge={"enabled": True, "remote_prefix": "site1/",
                                                        "remote_username": "me"})
    text = render_conf(cfg.broker_settings())
    assert "allow_anonymous true\n" in text and "password_file" not in text
    assert f"listener 8883 {HOST}\ncertfile {cert}\n" in text
    assert "connection cloud\naddress cloud.example.net:8883\n" in text
    assert "topic +/telemetry out 1 spark/ site1/spark/\n" in text
    assert "topic +/+/set in 1 spark/ site1/spark/\n" in text
    with pytest.raises(BrokerError, match="tls_cert_file"):
        render_conf(broker_config(tmp_path, 1884, tls_port=8883).broker_settings())


def test_acl_round_trip_and_evaluation(broker: RunningBroker) -> None:
    acl = build_acl(broker.config.broker_settings())
    assert parse_acl(render_acl(acl)) == acl
    assert is_allowed(acl, "hub", "read", "$SYS/broker/version")
    assert not is_allowed(acl, "homeassistant", "read", "$SYS/broker/version")
    assert is_allowed(acl, "sim1", "write", "homeassistant/device/sim1/config")
    assert not is_allowed(acl, "sim1", "write", "homeassistant/device/sim2/config")
    assert not is_allowed(acl, "nobody", "read", "spark/x")
    assert is_allowed(acl, "sim1", "write", "spark/hub/request/sim1/call_service")
    assert not is_allowed(acl, "sim1", "write", "spark/hub/request/voice/call_service")
    assert is_allowed(acl, "zigbee2mqtt", "write", "homeassistant/light/0x00aa/light/config")
    assert not is_allowed(acl, "zigbee2mqtt", "write", "homeassistant/select/power/mode/config")


def test_duplicate_usernames_are_refused(tmp_path: Path) -> None:
    cfg = broker_config(tmp_path, 1884, users=[{"username": "sim1", "read": ["#"]}])
    with pytest.raises(BrokerError, match="'sim1' is used twice"):
        generate_files(cfg.broker_settings())


# ---- the process ---------------------------------------------------------------------------
async def test_process_reports_a_bad_config_with_its_log(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(f"listener {free_port()} {HOST}\nbogus_option 1\n")
    proc = MosquittoProcess(conf, HOST, free_port(), start_timeout=5)
    with pytest.raises(BrokerError, match="bogus_option"):
        await proc.start()
    assert not proc.running


async def test_restart_keeps_retained_messages(fresh_broker: RunningBroker) -> None:
    b = fresh_broker
    with Recorder(b.host, b.port, **b.login("sim1")) as node:
        node.connect()
        node.publish("spark/sim1/temp/state", "21.5", retain=True)
    await b.process.restart()
    with Recorder(b.host, b.port, **b.login(ADMIN)) as admin:
        admin.connect()
        admin.subscribe("spark/sim1/temp/state")
        assert admin.wait_topic("spark/sim1/temp/state").payload == b"21.5"
    b.process.kill()
    assert not b.process.running
    assert (await probe_mqtt(b.host, b.port)).answer is Answer.NOTHING
    await b.process.start()
    assert (await probe_mqtt(b.host, b.port)).is_broker


def test_burst_to_an_absent_subscriber_loses_nothing(broker: RunningBroker) -> None:
    """Far more than Mosquitto's default 1000-message queue, to a hub whose session is away
    (same queue as for a connected hub that fell behind): every message arrives, in order."""
    n, run = 20_000, _marker()
    topic = f"spark/bench/burst{run}/state"
    hub_id = f"test-hub-burst-{run}"
    with Recorder(broker.host, broker.port, **broker.login("hub"), client_id=hub_id,
                  clean_session=False) as hub:
        hub.connect()
        hub.subscribe(topic)
    with Recorder(broker.host, broker.port, **broker.login("bench")) as bench:
        bench.connect()
        for i in range(n):
            info = bench.client.publish(topic, str(i), 1)
            if i % 10_000 == 9_999:
                info.wait_for_publish(30)  # keep paho's 16-bit message ids from wrapping
        info.wait_for_publish(30)
    with Recorder(broker.host, broker.port, **broker.login("hub"), client_id=hub_id,
                  clean_session=False) as hub:
        hub.connect()
        hub.wait_count(topic, n, timeout=60)
        assert [m.payload for m in hub.received(topic)] == [str(i).encode() for i in range(n)]
        hub.client.disconnect()
    # leave no persistent session behind in the shared broker
    with Recorder(broker.host, broker.port, **broker.login("hub"), client_id=hub_id) as hub:
        hub.connect()


# ---- choosing the broker -------------------------------------------------------------------
async def test_choose_external_when_a_broker_answers(broker: RunningBroker) -> None:
    cfg = broker.spark_config(broker={"mode": "auto"})
    async with choose_broker(cfg.broker_settings()) as handle:
        assert handle.kind == "external"
        assert "already answers" in handle.describe()
        assert handle.hub_login() is None and handle.password_for("hub") is None
        assert handle.mqtt == cfg.mqtt  # the config's own logins apply
    assert broker.process.running


async def test_choose_starts_mosquitto_when_nothing_answers(tmp_path: Path) -> None:
    port = free_port()
    cfg = SparkConfig.model_validate(
        {"mqtt": {"port": port}, "broker": {"data_dir": str(tmp_path), "node_accounts": ["sim1"]}}
    )
    handle = await choose_broker(cfg.broker_settings())
    try:
        assert handle.kind == "mosquitto", handle
        assert "nothing answered" in handle.reason
        login = handle.node_login("sim1")
        assert login is not None and login[0] == "sim1"
        hub_cfg = handle.mqtt  # logs in as the hub
        assert hub_cfg.username == "hub" and hub_cfg.secret() == handle.password_for("hub")
        rc = await asyncio.to_thread(connect_rc, HOST, port, hub_cfg.username, hub_cfg.secret())
        assert not rc.is_failure
        assert "hub.password" in handle.sub_auth_hint()
    finally:
        await handle.stop()
    assert (await probe_mqtt(HOST, port)).answer is Answer.NOTHING


async def test_choose_refuses_a_port_used_by_something_else(tmp_path: Path) -> None:
    async def hang_up(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    server = await asyncio.start_server(hang_up, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        cfg = broker_config(tmp_path, port, mode="auto")
        with pytest.raises(BrokerError, match="another program"):
            await choose_broker(cfg.broker_settings())
        with pytest.raises(BrokerError, match="'external'"):
            await choose_broker(broker_config(tmp_path, port, mode="external").broker_settings())


async def test_a_started_broker_must_serve_mqtt_host(tmp_path: Path) -> None:
    cfg = SparkConfig.model_validate({"mqtt": {"host": "192.0.2.10", "port": free_port()},
                                      "broker": {"mode": "mosquitto", "data_dir": str(tmp_path)}})
    with pytest.raises(BrokerError, match="listen_host"):
        await choose_broker(cfg.broker_settings())


async def test_embedded_broker_passes_messages_and_enforces_acls(tmp_path: Path) -> None:
    pytest.importorskip("amqtt")
    cfg = broker_config(tmp_path, free_port(), mode="embedded")
    async with choose_broker(cfg.broker_settings()) as handle:
        assert handle.kind == "embedded"
        pw = handle.passwords
        assert pw is not None
        admin = Recorder(HOST, cfg.mqtt.port, ADMIN, pw[ADMIN])
        node = Recorder(HOST, cfg.mqtt.port, "sim1", pw["sim1"])
        try:
            assert not (await asyncio.to_thread(admin.connect)).is_failure
            await asyncio.to_thread(admin.subscribe, "#")
            assert not (await asyncio.to_thread(node.connect)).is_failure
            await asyncio.to_thread(node.publish, "spark/sim2/lamp/set", "ON")
            await asyncio.to_thread(node.publish, "spark/sim1/temp/state", "21.5")
            msg = await asyncio.to_thread(admin.wait_topic, "spark/sim1/temp/state")
            assert msg.payload == b"21.5"
            assert admin.topics() == ["spark/sim1/temp/state"]
            bad = await asyncio.to_thread(connect_rc, HOST, cfg.mqtt.port, "sim1", "wrong")
            assert bad.is_failure
        finally:
            admin.close()
            node.close()


# ---- bridges and the checked-in production config ----------------------------------------
REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "mosquitto"


async def _bridge_up(local: MosquittoProcess, passwords: dict[str, str]) -> None:
    """Wait until the local broker reports its bridge connected ($SYS, read by the hub)."""
    with Recorder(local.host, local.port, "hub", passwords["hub"]) as hub:
        await asyncio.to_thread(hub.connect)
        await asyncio.to_thread(hub.subscribe, "$SYS/broker/connection/+/state")
        await asyncio.to_thread(
            hub.wait, lambda: any(m.payload == b"1" for m in hub.messages), 10, "bridge up"
        )


async def test_generated_bridge_sends_telemetry_up_and_commands_down(
    broker: RunningBroker, tmp_path: Path
) -> None:
    """A second Mosquitto bridged to the session broker (standing in for the cloud)."""
    run = _marker()
    cfg = broker_config(tmp_path, free_port(), bridge={
        "enabled": True, "name": f"cloud{run}", "address": f"{HOST}:{broker.port}",
        "remote_username": ADMIN, "remote_password": broker.passwords[ADMIN],
        "remote_prefix": f"site{run}/",
    })
    local = mosquitto_process(cfg.broker_settings())
    passwords = resolve_passwords(cfg.broker_settings())
    async with local:
        await _bridge_up(local, passwords)
        cloud = Recorder(HOST, broker.port, **broker.login(ADMIN))
        node = Recorder(HOST, local.port, "sim1", passwords["sim1"])
        try:
            await asyncio.to_thread(cloud.connect)
            await asyncio.to_thread(cloud.subscribe, f"site{run}/#")
            await asyncio.to_thread(node.connect)
            await asyncio.to_thread(node.subscribe, "spark/sim1/+/set")
            await asyncio.to_thread(node.publish, "spark/sim1/telemetry", "{}")
            await asyncio.to_thread(cloud.wait_topic, f"site{run}/spark/sim1/telemetry")
            await asyncio.to_thread(cloud.publish, f"site{run}/spark/sim1/lamp/set", "ON")
            msg = await asyncio.to_thread(node.wait_topic, "spark/sim1/lamp/set")
            assert msg.payload == b"ON"
        finally:
            cloud.close()
            node.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def test_checked_in_queue_limits_match_the_schema_defaults() -> None:
    text = (STATIC / "mosquitto.conf").read_text()
    defaults = SparkConfig().broker
    for key in ("max_queued_messages", "max_queued_bytes", "max_inflight_messages",
                "autosave_interval"):
        assert f"\n{key} {getattr(defaults, key)}\n" in text, key


def test_acl_example_matches_what_we_generate() -> None:
    cfg = SparkConfig.model_validate({"broker": {"node_accounts": ["sim1", "power"], "users": [
        {"username": "zigbee2mqtt", "readwrite": ["zigbee2mqtt/#", "homeassistant/+/+/+/config"],
         "read": ["homeassistant/status"]}]}})
    assert parse_acl((STATIC / "acl.example").read_text()) == build_acl(cfg.broker_settings())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl for a test certificate")
async def test_checked_in_config_runs_with_tls_and_bridge(
    broker: RunningBroker, tmp_path: Path
) -> None:
    """mosquitto/mosquitto.conf and both conf.d examples, with paths, ports and the cloud
    address pointed at tmp_path and the session broker, start on the real Mosquitto."""
    run, port, tls_port = _marker(), free_port(), free_port()
    cfg = broker_config(tmp_path / "gen", port)
    files = generate_files(cfg.broker_settings())
    cert, key = _self_signed(tmp_path)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    tls = (STATIC / "conf.d" / "tls.conf.example").read_text()
    tls = tls.replace("listener 8883", f"listener {tls_port} {HOST}").replace(
        "/etc/mosquitto/certs/server.crt", str(cert)).replace(
        "/etc/mosquitto/certs/server.key", str(key)).replace(
        "/etc/mosquitto/certs/ca.crt", str(cert))
    (conf_d / "tls.conf").write_text(tls)
    bridge = (STATIC / "conf.d" / "bridge.conf.example").read_text()
    bridge = bridge.replace("cloud.example.net:8883", f"{HOST}:{broker.port}").replace(
        "bridge_cafile /etc/ssl/certs/ca-certificates.crt\n", "").replace(
        "remote_username spark-site1", f"remote_username {ADMIN}").replace(
        "remote_password CHANGE-ME", f"remote_password {broker.passwords[ADMIN]}").replace(
        "connection cloud", f"connection cloud{run}").replace("site1/", f"site{run}/")
    (conf_d / "bridge.conf").write_text(bridge)
    main = (STATIC / "mosquitto.conf").read_text()
    for old, new in {
        "/run/mosquitto/mosquitto.pid": str(tmp_path / "mosquitto.pid"),
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "/var/log/mosquitto/mosquitto.log": str(tmp_path / "mosquitto.log"),
        "/etc/mosquitto/passwd": str(files["passwd"]),
        "/etc/mosquitto/acl": str(files["acl"]),
        "\nlistener 1883\n": f"\nlistener {port} {HOST}\n",
        "/etc/mosquitto/conf.d": str(conf_d),
        # tmp_path is root's private directory: as root, this test broker stays root.
        "\nuser mosquitto\n": "\nuser root\n" if os.geteuid() == 0 else "\n",
    }.items():
        assert old in main, old
        main = main.replace(old, new)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(main)
    passwords = resolve_passwords(cfg.broker_settings())
    async with MosquittoProcess(conf, HOST, port, log_file=tmp_path / "mosquitto.log") as local:
        assert (await probe_mqtt(HOST, tls_port, use_tls=True)).is_broker
        await _bridge_up(local, passwords)
        with Recorder(HOST, broker.port, **broker.login(ADMIN)) as cloud, Recorder(
            HOST, port, "sim1", passwords["sim1"]
        ) as node:
            await asyncio.to_thread(cloud.connect)
            await asyncio.to_thread(cloud.subscribe, f"site{run}/#")
            await asyncio.to_thread(node.connect)
            await asyncio.to_thread(node.publish, "spark/sim1/availability", "online")
            await asyncio.to_thread(cloud.wait_topic, f"site{run}/spark/sim1/availability")
