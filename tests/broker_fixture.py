"""A real Mosquitto for tests, configured by the project's own generated files.

``start_test_broker(tmp_dir)`` writes passwd / acl / mosquitto.conf from :func:`broker_config`
(the accounts below) and starts Mosquitto on a free port; the ``broker`` and ``fresh_broker``
fixtures in conftest.py wrap it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.app.config.models import SparkConfig
from spark.core.config.mqtt import MqttConfig
from spark.core.errors import BrokerError
from spark.hub.broker import MosquittoProcess, find_mosquitto, mosquitto_process, resolve_passwords

HOST = "127.0.0.1"
HUB = "hub"
HOMEASSISTANT = "homeassistant"
ADMIN = "admin"  # readwrite '#': tests observe and inject with it
NODE_USERS = ("sim1", "sim2", "sim3", "power", "system", "nas", "voice", "vision", "bench")
THIRD_PARTY_USERS: list[dict[str, Any]] = [
    {"username": ADMIN, "readwrite": ["#"], "trusted": True},
    {   # as in config/spark.example.yaml: its own per-entity configs, never our nodes'
        "username": "zigbee2mqtt",
        "readwrite": ["zigbee2mqtt/#", "homeassistant/+/+/+/config"],
        "read": ["homeassistant/status"],
    },
    {
        "username": "tasmota",
        "write": ["tele/#", "stat/#", "tasmota/#", "homeassistant/#"],
        "read": ["cmnd/#", "homeassistant/status"],
    },
]
MISSING = (
    "mosquitto is not installed, and the broker tests and fixtures need a real one: "
    "apt install mosquitto (CI installs it)"
)


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def broker_config(data_dir: Path, port: int, **broker: Any) -> SparkConfig:
    """The config the test broker's files are generated from."""
    section: dict[str, Any] = {
        "mode": "mosquitto",
        "data_dir": str(data_dir),
        "listen_host": HOST,
        "node_accounts": list(NODE_USERS),
        "users": THIRD_PARTY_USERS,
        "sys_interval": 1,
        **broker,
    }
    return SparkConfig.model_validate(
        {"mqtt": {"host": HOST, "port": port}, "hub": {"id": HUB}, "broker": section}
    )


@dataclass
class RunningBroker:
    host: str
    port: int
    passwords: dict[str, str]  # username -> password
    data_dir: Path
    process: MosquittoProcess  # stop / kill / restart / reload for tests that need it
    config: SparkConfig  # what the broker files were generated from

    def login(self, username: str) -> dict[str, Any]:
        return {"username": username, "password": self.passwords[username]}

    def mqtt_config(self, user: str | None = None, **overrides: Any) -> MqttConfig:
        """An MqttConfig pointed at this broker (logged in as ``user`` when given)."""
        data: dict[str, Any] = {"host": self.host, "port": self.port}
        if user is not None:
            data |= self.login(user)
        return MqttConfig.model_validate(data | overrides)

    def spark_config(
        self, nodes: Iterable[Mapping[str, Any]] = (), **sections: Any
    ) -> SparkConfig:
        """A SparkConfig whose mqtt section points at this broker with the hub's login (hub id
        ``hub``), broker.mode ``external``; nodes without a password get their account's."""
        node_list = []
        for node in nodes:
            node = dict(node)
            username = node.get("username") or node.get("id")
            has_secret = "password" in node or "password_file" in node
            if not has_secret and username in self.passwords:
                node["password"] = self.passwords[username]
            node_list.append(node)
        mqtt = {"host": self.host, "port": self.port, **self.login(HUB), **sections.pop("mqtt", {})}
        data: dict[str, Any] = {
            "mqtt": mqtt,
            "hub": {"id": HUB, **sections.pop("hub", {})},
            "broker": {"mode": "external", **sections.pop("broker", {})},
            "nodes": node_list,
            # Hubs in tests record nothing unless a test asks (never into the repo's .spark/).
            "recorder": sections.pop("recorder", {"enabled": False}),
            **sections,
        }
        return SparkConfig.model_validate(data)


def start_test_broker(data_dir: Path, attempts: int = 3, **broker: Any) -> RunningBroker:
    """Generate the files and start Mosquitto on a free port (retrying if a port race is lost)."""
    if find_mosquitto() is None:
        raise RuntimeError(MISSING)
    last: BrokerError | None = None
    for _ in range(attempts):
        cfg = broker_config(data_dir, free_port(), **broker)
        process = mosquitto_process(cfg.broker_settings())
        try:
            process.start_blocking()
        except BrokerError as exc:
            last = exc
            continue
        return RunningBroker(
            HOST, cfg.mqtt.port, resolve_passwords(cfg.broker_settings()), data_dir, process, cfg
        )
    assert last is not None
    raise last
