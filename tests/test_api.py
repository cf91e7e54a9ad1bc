"""The REST API of a real ``spark hub`` process (with ``spark node simulated``) on the test
Mosquitto: auth over HTTP, roles on service calls, health, entities, history, OpenAPI."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from broker_fixture import free_port
from e2e.harness import SPARK, Api, Lab, running_lab, wait_until

LAMP = "switch.sim1_lamp"


@pytest.fixture(scope="module")
def lab(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("api-lab")
    nodes = [{"id": "sim1", "kind": "simulated", "state_interval": 3600, "area": "Lab"}]
    with running_lab(root, broker, free_port(), nodes,
                     ui={"auth": {"login_attempts": 4, "login_window": 600}}) as running:
        yield running


@pytest.fixture(scope="module")
def admin(lab: Lab) -> Iterator[Api]:
    with lab.api() as api:
        api.login()
        for name, role in (("vic", "viewer"), ("olga", "operator")):
            r = api.post("/api/auth/register",
                         json={"username": name, "password": f"{name} password!", "role": role})
            assert r.status_code == 201, r.text
        yield api


def as_user(lab: Lab, name: str) -> Api:
    api = lab.api()
    api.login(name, f"{name} password!")
    return api


def test_health_needs_no_auth_but_details_do(lab: Lab, admin: Api) -> None:
    with lab.api() as anon:
        assert anon.get("/health").json()["status"] == "ok"
        r = anon.get("/api/health/detailed")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    body = admin.get("/api/health/detailed").json()
    status = {c["name"]: c["status"] for c in body["components"]}
    # the shared test broker may remember other tests' nodes (offline): judge ours
    assert {status[n] for n in ("broker", "hub", "sim1", "history")} == {"healthy"}, body
    assert body["status"] in ("healthy", "unhealthy")


def test_entities_devices_and_filters(admin: Api) -> None:
    entities = admin.get("/api/entities").json()
    lamp = next(e for e in entities if e["entity_id"] == LAMP)
    assert lamp["area"] == "Lab" and lamp["node"] == "sim1" and lamp["commandable"]
    assert {e["entity_id"] for e in admin.get("/api/entities", params={"q": "sim1_lamp"})
            .json()} == {LAMP}
    assert all(e["area"] == "Lab" for e in
               admin.get("/api/entities", params={"area": "Lab"}).json())
    devices = admin.get("/api/devices").json()
    assert any(LAMP in d["entities"] for d in devices)
    assert admin.get("/api/entities/switch.nope").status_code == 404


def test_a_viewer_cannot_call_a_service_an_operator_can(lab: Lab, admin: Api) -> None:
    with as_user(lab, "vic") as viewer:
        r = viewer.post("/api/services/turn_on", json={"entity_id": LAMP})
        assert r.status_code == 403
        assert viewer.entity(LAMP)["state"] == "off"
        assert viewer.post("/api/auth/register", json={
            "username": "x", "password": "x password!!", "role": "admin"}).status_code == 403
    with as_user(lab, "olga") as operator:
        r = operator.post("/api/services/turn_on", json={"entity_id": LAMP})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "on"  # confirmed by the node (wait=True)
        assert operator.post("/api/services/select_option", json={
            "entity_id": "select.sim1_mode", "data": {"option": "nope"}}).status_code == 400
        assert operator.post("/api/services/turn_off",
                             json={"entity_id": LAMP}).json()["state"] == "off"
    history = admin.get(f"/api/entities/{LAMP}/history")
    assert history.status_code == 200
    wait_until(lambda: {"on", "off"} <= {p["state"] for p in admin.get(
        f"/api/entities/{LAMP}/history").json()["points"]}, 10, "the lamp's history")


def test_refresh_rotation_and_logout_over_http(lab: Lab, admin: Api) -> None:
    with lab.api() as api:
        tokens = api.login("olga", "olga password!")
        r = api.http.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200
        fresh = r.json()
        replay = api.http.post("/api/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401  # reuse: the session is revoked
        me = api.http.get("/api/auth/me",
                          headers={"Authorization": f"Bearer {fresh['access_token']}"})
        assert me.status_code == 401
        tokens = api.login("olga", "olga password!")
        assert api.get("/api/auth/me").json()["role"] == "operator"
        api.http.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
        assert api.get("/api/auth/me").status_code == 401
        bad = dict(api.headers)
        bad["Authorization"] = bad["Authorization"][:-4] + "AAAA"
        assert api.http.get("/api/auth/me", headers=bad).status_code == 401


def test_a_user_with_a_generated_password_must_change_it_first(lab: Lab, admin: Api) -> None:
    # `spark user add` beside the running hub: the password goes to a 0600 file
    out = subprocess.run([*SPARK, "user", "add", "gus", "--role", "operator", "-c",
                          str(lab.config)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    secret = lab.root / "ui" / "gus.password"
    assert str(secret) in out.stdout and "must be changed at the first log-in" in out.stdout
    assert secret.stat().st_mode & 0o777 == 0o600
    generated = secret.read_text().strip()
    with lab.api() as api:
        tokens = api.login("gus", generated)
        assert tokens["must_change_password"] is True
        for path in ("/api/entities", "/api/health/detailed"):
            r = api.get(path)
            assert r.status_code == 403 and "change the generated password first" in r.text
        r = api.post("/api/services/turn_on", json={"entity_id": LAMP})
        assert r.status_code == 403
        assert api.get("/api/auth/me").json()["must_change_password"] is True
        r = api.http.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 403
        r = api.post("/api/auth/password", json={"current_password": generated,
                                                  "new_password": "gus own password"})
        assert r.status_code == 200, r.text
        assert r.json()["must_change_password"] is False
        api.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert api.get("/api/entities").status_code == 200
        assert api.get("/api/auth/me").json()["must_change_password"] is False
    assert not secret.exists()
    users = {u["username"]: u for u in admin.get("/api/auth/users").json()}
    assert users["gus"]["must_change_password"] is False


def test_openapi_spec(lab: Lab) -> None:
    with lab.api() as api:
        spec = api.get("/api/openapi.json").json()
    for path in ("/api/auth/login", "/api/auth/refresh", "/api/auth/me", "/api/auth/register",
                 "/api/auth/password",
                 "/health", "/api/health/detailed", "/api/entities", "/api/devices",
                 "/api/entities/{entity_id}/history", "/api/services/{service}"):
        assert path in spec["paths"], path
    assert "TokenResponse" in spec["components"]["schemas"]


def test_the_hub_logged_no_traceback(lab: Lab) -> None:
    assert "Traceback" not in lab.log("hub"), lab.log("hub")[-3000:]


def test_login_rate_limit_over_http(lab: Lab) -> None:
    with lab.api() as api:
        codes = [api.http.post("/api/auth/login", json={"username": "vic", "password": "no"}
                               ).status_code for _ in range(4)]
        assert codes == [401] * 4
        r = api.http.post("/api/auth/login", json={"username": "vic",
                                                   "password": "vic password!"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_an_alarm_code_is_never_answered_back(lab: Lab, broker: Any, admin: Api) -> None:
    """A call that carries an alarm code: refused for a wrong code without saying either code;
    published with the right one, and the answer hides the payload that holds the code."""
    import orjson
    from helpers import Recorder

    alarm = {"name": "Api alarm", "unique_id": "api_alarm", "object_id": "api_alarm",
             "state_topic": "zigbee2mqtt/api_alarm", "command_topic": "zigbee2mqtt/api_alarm/set",
             "code": "4711", "command_template": '{"action": "{{ action }}", "code": "{{ code }}"}'}
    with Recorder(broker.host, broker.port, "zigbee2mqtt", broker.passwords["zigbee2mqtt"]) as z:
        z.connect()
        z.subscribe("zigbee2mqtt/api_alarm/set")
        z.publish("homeassistant/alarm_control_panel/api/alarm/config", orjson.dumps(alarm))
        z.publish("zigbee2mqtt/api_alarm", "disarmed", retain=True)  # (after the config)
        wait_until(lambda: admin.get("/api/entities/alarm_control_panel.api_alarm")
                   .json().get("state") == "disarmed", 10, "the alarm discovered")
        r = admin.post("/api/services/alarm_arm_away", json={
            "entity_id": "alarm_control_panel.api_alarm", "data": {"code": "1111"}})
        assert r.status_code == 400 and "wrong code" in r.text
        assert "1111" not in r.text and "4711" not in r.text
        r = admin.post("/api/services/alarm_arm_away", json={
            "entity_id": "alarm_control_panel.api_alarm", "data": {"code": "4711"},
            "wait": False})
        assert r.status_code == 200, r.text
        assert "4711" not in r.text
        z.wait(lambda: bool(z.received("zigbee2mqtt/api_alarm/set")), 5, "the command")
        assert [m.payload for m in z.received("zigbee2mqtt/api_alarm/set")] == [
            b'{"action": "ARM_AWAY", "code": "4711"}']
        z.publish("zigbee2mqtt/api_alarm", b"", retain=True)
