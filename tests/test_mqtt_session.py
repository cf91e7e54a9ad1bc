"""MQTT sessions of our client against real brokers: an MQTT 5 persistent session keeps what
arrived while the client was away (as clean_session=False does with 3.1.1), the client's own
receive window (MQTT 5 Receive Maximum) replaces the broker's max_inflight_messages, and a
broker that only speaks 3.1.1 (the embedded amqtt) gets 3.1.1 after one failed attempt."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from broker_fixture import ADMIN, RunningBroker, broker_config, free_port
from helpers import Recorder, wait_for

from spark.core.mqtt import Message, MqttClient
from spark.hub.broker import choose_broker

TOPIC = "spark/sessiontest/value/state"


def _client(broker: RunningBroker, client_id: str, **kw: object) -> MqttClient:
    cfg = broker.mqtt_config(ADMIN, protocol="5", reconnect_min=0.05)
    return MqttClient(cfg, "session", client_id=client_id, **kw)  # type: ignore[arg-type]


def _publish(broker: RunningBroker, n: int, start: int = 0) -> None:
    with Recorder("127.0.0.1", broker.port, ADMIN, broker.passwords[ADMIN]) as pub:
        pub.connect()
        for i in range(start, start + n):
            pub.publish(TOPIC, str(i), qos=1)


async def test_mqtt5_persistent_session_keeps_what_came_while_away(broker: RunningBroker
                                                                   ) -> None:
    client_id = f"session-{uuid.uuid4().hex[:6]}"
    got: list[bytes] = []

    def on(msg: Message) -> None:
        got.append(bytes(msg.payload))

    first = _client(broker, client_id, clean_session=False)
    first.subscribe(TOPIC, on, qos=1)
    async with first:
        await first.wait_connected(10)
    # nobody connected: the broker keeps them for the session
    await asyncio.to_thread(_publish, broker, 5)
    again = _client(broker, client_id, clean_session=False)
    again.subscribe(TOPIC, on, qos=1)
    async with again:
        await wait_for(lambda: len(got) == 5, 10, what="the 5 queued messages")
    assert got == [str(i).encode() for i in range(5)]


async def test_mqtt5_receive_window_is_the_clients(broker: RunningBroker) -> None:
    """Mosquitto lets 100 unacknowledged messages out to a 3.1.1 client (our
    max_inflight_messages); an MQTT 5 client that asks for 300 gets 300."""
    got: list[Message] = []
    client = _client(broker, f"window-{uuid.uuid4().hex[:6]}", manual_ack=True,
                     receive_maximum=300)
    client.subscribe(TOPIC, got.append, qos=1)
    async with client:
        await client.wait_connected(10)
        await asyncio.to_thread(_publish, broker, 400)
        await wait_for(lambda: len(got) == 300, 10, what="300 unacknowledged messages")
        assert all([client.ack(msg) for msg in got[:50]])
        await wait_for(lambda: len(got) > 300, 10, what="more after 50 acks")


async def test_mqtt5_falls_back_to_311_on_a_311_only_broker(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    pytest.importorskip("amqtt")
    cfg = broker_config(tmp_path, free_port(), mode="embedded")
    async with choose_broker(cfg.broker_settings()) as handle:
        assert handle.kind == "embedded" and handle.passwords is not None
        mqtt = cfg.mqtt.model_copy(update={"protocol": "5", "connect_timeout": 1.0,
                                           "reconnect_min": 0.05})
        client = MqttClient(mqtt, "fallback", username=ADMIN, password=handle.passwords[ADMIN])
        async with client:
            await client.wait_connected(15)
        assert "does not take MQTT 5" in caplog.text
