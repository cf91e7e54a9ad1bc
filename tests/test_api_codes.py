"""Service calls with codes through the REST API of a real ``spark hub`` on the test Mosquitto
(a third-party lock with a ``code_format`` and alarm panel with a ``code``: tests/coded_devices.py).

The code goes in the call's ``data`` (HA's service data ``code``). A missing, malformed or wrong
code is a 400 naming the problem, with nothing published; the code never comes back, not in an
error, a result (its payload is hidden), nor a 422 for a broken body."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from broker_fixture import free_port
from coded_devices import (
    ALARM_CODE,
    ALARM_ID,
    ALARM_SET,
    DOOR_SET,
    LOCK_CODE,
    LOCK_ID,
    CodedDevices,
    coded_world,
)
from e2e.harness import Api, Lab, running_lab, wait_until

from spark.hub.services import HIDDEN


@dataclass(frozen=True)
class World:
    lab: Lab
    devices: CodedDevices
    operator: Api
    viewer: Api


@pytest.fixture(scope="module")
def world(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("api-codes")
    with coded_world(broker) as devices, running_lab(root, broker, free_port(), []) as lab, \
            lab.api() as admin, lab.api() as operator, lab.api() as viewer:
        admin.login()
        for name, role in (("olga", "operator"), ("vic", "viewer")):
            r = admin.post("/api/auth/register", json={
                "username": name, "password": f"{name} password!", "role": role})
            assert r.status_code == 201, r.text
        operator.login("olga", "olga password!")
        viewer.login("vic", "vic password!")
        wait_until(lambda: (operator.entity(LOCK_ID) or {}).get("state") == "unlocked"
                   and (operator.entity(ALARM_ID) or {}).get("state") == "disarmed", 30,
                   "the coded lock and alarm panel in the registry")
        yield World(lab, devices, operator, viewer)


@dataclass(frozen=True)
class Refused:
    what: str
    service: str
    entity_id: str
    data: dict[str, Any]
    says: str
    secrets: tuple[str, ...] = field(default=())


REFUSED = [
    Refused("a lock call without a code", "lock", LOCK_ID, {}, "lock on lock.coded_door needs "
            "a code (its code_format is '^\\d{4}$')"),
    Refused("an empty code", "unlock", LOCK_ID, {"code": ""}, "needs a code"),
    Refused("a code of the wrong form", "lock", LOCK_ID, {"code": "24x8"},
            "the code does not match its code_format", ("24x8",)),
    Refused("a code too long", "lock", LOCK_ID, {"code": "9" * 65}, "longer than 64",
            ("9" * 65,)),
    Refused("a code that is not text", "lock", LOCK_ID, {"code": ["2468"]}, "text or a number"),
    Refused("a disarm without a code", "alarm_disarm", ALARM_ID, {}, "needs a code"),
    Refused("a disarm with the wrong code", "alarm_disarm", ALARM_ID, {"code": "1234"},
            "alarm_disarm on alarm_control_panel.coded_house: wrong code", ("1234",)),
    Refused("a disarm with markup for a code", "alarm_disarm", ALARM_ID,
            {"code": "<script>x</script>"}, "wrong code", ("<script>",)),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.what for c in REFUSED])
def test_a_missing_or_wrong_code_is_a_400_naming_it(world: World, case: Refused) -> None:
    sent = len(world.devices.commands(DOOR_SET)) + len(world.devices.commands(ALARM_SET))
    r = world.operator.post(f"/api/services/{case.service}",
                            json={"entity_id": case.entity_id, "data": case.data})
    assert r.status_code == 400, r.text
    assert case.says in r.json()["detail"], r.text
    for secret in (*case.secrets, LOCK_CODE, ALARM_CODE):
        assert secret not in r.text
    assert len(world.devices.commands(DOOR_SET)) + len(world.devices.commands(ALARM_SET)) \
        == sent, "a refused call published"


def call(api: Api, service: str, entity_id: str, data: dict[str, Any],
         timeout: float = 5.0) -> Any:
    return api.post(f"/api/services/{service}",
                    json={"entity_id": entity_id, "data": data, "timeout": timeout})


def test_the_right_code_moves_the_lock_and_the_alarm_panel(world: World) -> None:
    api, devices = world.operator, world.devices
    r = call(api, "lock", LOCK_ID, {"code": LOCK_CODE})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "locked" and r.json()["payload"] == HIDDEN
    assert LOCK_CODE not in r.text
    assert devices.commands(DOOR_SET)[-1] == b'{"state": "LOCK", "code": "2468"}'

    # the right form but not the lock's code: the hub passes it on, the lock does not move
    r = call(api, "unlock", LOCK_ID, {"code": "1357"}, timeout=1.0)
    assert r.status_code == 504 and "did not confirm 'unlocked'" in r.text, r.text
    assert "1357" not in r.text
    assert api.entity(LOCK_ID)["state"] == "locked"

    r = call(api, "unlock", LOCK_ID, {"code": int(LOCK_CODE)})  # a number is a code too
    assert r.status_code == 200 and r.json()["state"] == "unlocked", r.text

    # arming needs no code (code_arm_required: false); disarming does
    r = call(api, "alarm_arm_away", ALARM_ID, {})
    assert r.status_code == 200 and r.json()["state"] == "armed_away", r.text
    r = call(api, "alarm_disarm", ALARM_ID, {"code": ALARM_CODE})
    assert r.status_code == 200 and r.json()["state"] == "disarmed", r.text
    assert r.json()["payload"] == HIDDEN and ALARM_CODE not in r.text


def test_no_echo_of_a_code_in_a_broken_request_and_viewers_cannot_try_codes(
        world: World) -> None:
    r = world.operator.post("/api/services/unlock", json={"data": {"code": "8642"}})
    assert r.status_code == 422, r.text
    assert "8642" not in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "entity_id"]
    r = world.operator.post("/api/auth/login", json={"password": "a secret password"})
    assert r.status_code == 422 and "a secret password" not in r.text, r.text

    sent = len(world.devices.commands(DOOR_SET))
    r = call(world.viewer, "unlock", LOCK_ID, {"code": LOCK_CODE})
    assert r.status_code == 403 and LOCK_CODE not in r.text, r.text
    assert len(world.devices.commands(DOOR_SET)) == sent
