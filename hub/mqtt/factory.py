"""Build a configured paho-mqtt client (protocol, login, will, TLS) from our config."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.config.models import MqttConfig


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: str
    qos: int = 1
    retain: bool = True


def build_paho(
    cfg: MqttConfig, client_id: str, username: str | None, password: str | None,
    will: Will | None, *, clean_session: bool = True, manual_ack: bool = False,
) -> paho.Client:
    protocol = paho.MQTTv5 if cfg.protocol == "5" else paho.MQTTv311
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
