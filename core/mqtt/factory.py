"""Build a configured paho-mqtt client (protocol, login, will, TLS) from our config, and the
arguments of its CONNECT (session and receive window)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from spark.core.config.mqtt import MqttConfig

Protocol = Literal["3.1.1", "5"]
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 Session Expiry Interval: "the session does not expire"


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: str
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Session:
    """What a CONNECT asks for.

    ``clean_session=False`` keeps the subscriptions and the unacknowledged QoS 1 messages at the
    broker while the client is away: MQTT 3.1.1's clean-session flag, or with MQTT 5 a clean
    start of False and a session that never expires (the 3.1.1 meaning; paho's own default for
    MQTT 5 would start clean on the first connect and let the session expire at disconnect).
    ``receive_maximum`` (MQTT 5 only): how many QoS 1/2 messages the broker may send before it
    waits for acknowledgements. A client that acknowledges after a durable commit needs a
    window much larger than Mosquitto's ``max_inflight_messages``, which is all an MQTT 3.1.1
    client gets.
    """

    protocol: Protocol = "3.1.1"
    clean_session: bool = True
    receive_maximum: int | None = None

    def refused_for_protocol(self, rc: Any, lost: bool) -> bool:
        """MQTT 5 refused for its protocol version (reason 0x84, or 1 from a 3.1.1 broker), or
        no CONNACK at all (``rc`` None or the socket closed): how 3.1.1-only brokers answer."""
        return self.protocol == "5" and (lost or rc is None or rc.value in (1, 0x84))

    def connect_args(self) -> dict[str, Any]:
        if self.protocol != "5":
            return {}
        props = Properties(PacketTypes.CONNECT)
        if not self.clean_session:
            props.SessionExpiryInterval = NEVER_EXPIRES
        if self.receive_maximum:
            props.ReceiveMaximum = self.receive_maximum
        return {"clean_start": self.clean_session, "properties": props}


def build_paho(
    cfg: MqttConfig, client_id: str, username: str | None, password: str | None,
    will: Will | None, *, session: Session | None = None, manual_ack: bool = False,
) -> paho.Client:
    session = session or Session(cfg.protocol)
    protocol = paho.MQTTv5 if session.protocol == "5" else paho.MQTTv311
    clean_session = session.clean_session
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=clean_session if protocol == paho.MQTTv311 else None,
        reconnect_on_failure=False,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if username:
        client.username_pw_set(username, password)
    if will is not None:
        client.will_set(will.topic, will.payload, will.qos, will.retain)
    if cfg.tls.enabled:
        ctx = ssl.create_default_context(cafile=str(cfg.tls.ca_file) if cfg.tls.ca_file else None)
        if cfg.tls.cert_file:
            ctx.load_cert_chain(
                str(cfg.tls.cert_file), str(cfg.tls.key_file) if cfg.tls.key_file else None
            )
        if cfg.tls.insecure:
            ctx.check_hostname = False
        client.tls_set_context(ctx)
    return client
