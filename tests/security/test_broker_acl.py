"""The broker half of the README's threat model, against a real Mosquitto with our generated
passwd and ACL (the session ``broker`` fixture; accounts in tests/broker_fixture.py).

Each row is an attack: an account publishes where it must not (spoofing another node's state or
availability, the hub's availability, Home Assistant's status, a command it may not send), or
reads what is not its own. ``admin`` (readwrite ``#``, a test harness account) observes.
Mosquitto acknowledges a refused publish too and then drops it, so the check is delivery: every
row is published, then a marker the account may publish; once the marker arrived (a client's
messages reach a subscriber in order), the refused rows must be absent and the granted present.
"""

from __future__ import annotations

import uuid

import pytest
from broker_fixture import ADMIN, RunningBroker
from helpers import Recorder, connect_rc

Row = tuple[list[str], list[str], str]

# account -> (may publish, must not publish, marker it may publish). ``{r}`` is a per-run tag.
WRITES: dict[str, Row] = {
    "sim1": (  # a node: its own namespace and its own discovery configs, nothing else
        ["spark/sim1/t{r}/state", "spark/sim1/availability",
         "homeassistant/sensor/sim1/t{r}/config", "homeassistant/device/sim1/config"],
        ["spark/sim2/t{r}/state", "spark/sim2/availability", "spark/sim2/lamp{r}/set",
         "spark/sim2/response/command", "spark/hub/availability", "spark/hub/t{r}/state",
         "homeassistant/sensor/sim2/t{r}/config", "homeassistant/device/sim2/config",
         "homeassistant/status", "zigbee2mqtt/dev{r}/set", "cmnd/dev{r}/POWER",
         "tele/dev{r}/STATE"],
        "spark/sim1/m{r}/state",
    ),
    "homeassistant": (  # commands and its own status; never states, availability or configs
        ["spark/sim1/lamp{r}/set", "homeassistant/status"],
        ["spark/sim1/lamp{r}/state", "spark/sim1/availability", "spark/hub/availability",
         "homeassistant/sensor/sim1/t{r}/config", "homeassistant/device/sim1/config",
         "spark/hub/request/homeassistant/call_service", "zigbee2mqtt/dev{r}/set"],
        "spark/sim2/m{r}/set",
    ),
    "tasmota": (  # its own namespaces only
        ["tele/t{r}/STATE", "stat/t{r}/POWER"],
        ["spark/sim1/lamp{r}/set", "spark/sim1/availability", "spark/tasmota/availability",
         "spark/sim1/t{r}/state", "zigbee2mqtt/t{r}", "cmnd/t{r}/POWER"],
        "tasmota/m{r}",
    ),
    "zigbee2mqtt": (
        ["zigbee2mqtt/bridge{r}/state"],
        ["spark/sim1/lamp{r}/set", "spark/sim1/availability", "spark/zigbee2mqtt/availability",
         "spark/zigbee2mqtt/t{r}/state", "tele/z{r}", "cmnd/z{r}/POWER"],
        "zigbee2mqtt/m{r}",
    ),
}

# account -> (may read, must not read, marker it may read); the admin publishes them in order.
READS: dict[str, Row] = {
    "sim1": (["spark/sim2/t{r}/state", "homeassistant/status"],
             ["homeassistant/sensor/sim2/t{r}/config", "zigbee2mqtt/dev{r}", "tele/dev{r}/STATE",
              "cmnd/dev{r}/POWER"],
             "spark/sim1/m{r}/state"),
    "tasmota": (["cmnd/t{r}/POWER"],
                ["spark/sim1/t{r}/state", "zigbee2mqtt/dev{r}",
                 "homeassistant/sensor/sim1/t{r}/config"],
                "cmnd/m{r}/POWER"),
    "zigbee2mqtt": (["zigbee2mqtt/dev{r}"],
                    ["spark/sim1/t{r}/state", "tele/dev{r}/STATE", "cmnd/dev{r}/POWER"],
                    "zigbee2mqtt/m{r}"),
}


def _fill(row: Row, run: str) -> Row:
    allowed, denied, marker = row
    return [t.format(r=run) for t in allowed], [t.format(r=run) for t in denied], \
        marker.format(r=run)


@pytest.mark.parametrize("account", sorted(WRITES))
def test_each_account_publishes_only_where_the_threat_model_says(
    broker: RunningBroker, account: str
) -> None:
    run = uuid.uuid4().hex[:8]
    allowed, denied, marker = _fill(WRITES[account], run)
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as admin, Recorder(
        broker.host, broker.port, **broker.login(account)
    ) as client:
        admin.connect()
        admin.subscribe("#")
        assert not client.connect().is_failure
        for topic in [*denied, *allowed, marker]:
            client.publish(topic, f"attack {run}")
        admin.wait_topic(marker)
        seen = {m.topic for m in admin.messages if m.payload == f"attack {run}".encode()}
    assert not seen & set(denied), f"{account} could publish to {sorted(seen & set(denied))}"
    assert set(allowed) <= seen, f"{account} was refused {sorted(set(allowed) - seen)}"


@pytest.mark.parametrize("account", sorted(READS))
def test_each_account_reads_only_what_the_threat_model_says(
    broker: RunningBroker, account: str
) -> None:
    run = uuid.uuid4().hex[:8]
    allowed, denied, marker = _fill(READS[account], run)
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as admin, Recorder(
        broker.host, broker.port, **broker.login(account)
    ) as reader:
        admin.connect()
        assert not reader.connect().is_failure
        reader.subscribe("#")  # granted, but Mosquitto filters each message by the read rules
        for topic in [*denied, *allowed, marker]:
            admin.publish(topic, f"secret {run}")
        reader.wait_topic(marker)
        seen = {m.topic for m in reader.messages if m.payload == f"secret {run}".encode()}
    assert not seen & set(denied), f"{account} could read {sorted(seen & set(denied))}"
    assert set(allowed) <= seen, f"{account} could not read {sorted(set(allowed) - seen)}"


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("sim1", "wrong"), ("nobody", "x"), ("sim1", ""), ("", "")],
)
def test_anonymous_and_wrong_logins_are_refused(
    broker: RunningBroker, username: str | None, password: str | None
) -> None:
    assert connect_rc(broker.host, broker.port, username, password).is_failure
