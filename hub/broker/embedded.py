"""A pure-Python broker (amqtt) for machines without Mosquitto. Import lazily: amqtt is optional
(``pip install prime-spark[embedded-broker]``).

It enforces the same accounts and ACLs as Mosquitto, read from the same generated ``passwd`` and
``acl`` files, through two amqtt plugins below. It is fine for a few nodes; it has no persistence,
no bridge, and is far slower than Mosquitto (install Mosquitto for anything bigger).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.errors import AMQTTError
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from spark.core.errors import BrokerError
from spark.hub.broker.acl import Acl, is_allowed, parse_acl
from spark.hub.broker.config import BrokerSettings
from spark.hub.broker.mosquitto import broker_paths, generate_files
from spark.hub.broker.passwd import read_password_file, verify_password

log = logging.getLogger(__name__)


def filter_covers(rule: str, sub: str) -> bool:
    """True when every topic matching subscription filter ``sub`` also matches ``rule``."""
    r, s = rule.split("/"), sub.split("/")
    if s[0].startswith("$") and r[0] in ("#", "+"):
        return False
    for i, level in enumerate(r):
        if level == "#":
            return True
        if i >= len(s) or s[i] == "#" or (level != "+" and level != s[i]):
            return False
    return len(s) == len(r)


class PasswordFileAuth(BaseAuthPlugin):
    """Checks logins against a Mosquitto ``$7$`` password file."""

    @dataclass
    class Config:
        password_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._users = read_password_file(Path(self.config.password_file))

    async def authenticate(self, *, session: Session) -> bool | None:
        hashed = self._users.get(session.username or "")
        ok = hashed is not None and verify_password(session.password or "", hashed)
        if not ok:
            log.warning("embedded broker: refused login %r (client %s)", session.username,
                        session.client_id)
        return ok


class AclFileTopics(BaseTopicPlugin):
    """Applies a generated ACL file: publish needs a write rule, delivery a read rule, and a
    subscription must lie inside a read rule (amqtt sends retained messages unchecked)."""

    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._acl: Acl = parse_acl(Path(self.config.acl_file).read_text())

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or not topic:
            return False
        user = session.username
        if action == Action.PUBLISH:
            return is_allowed(self._acl, user, "write", topic)
        if action == Action.RECEIVE:
            return is_allowed(self._acl, user, "read", topic)
        rules = self._acl.get(user or "", [])
        return any(r.access in ("read", "readwrite") and filter_covers(r.topic, topic)
                   for r in rules)  # deny rules still filter delivery (RECEIVE)


def amqtt_config(cfg: BrokerSettings) -> dict[str, Any]:
    """The amqtt broker config for these settings (writes passwd/acl when auth is on)."""
    listener = {"type": "tcp", "bind": f"{cfg.broker.listen_host}:{cfg.mqtt.port}"}
    plugins: dict[str, Any]
    if cfg.broker.auth:
        generate_files(cfg, mosquitto=False)  # read here, in our process: no hand-over
        paths = broker_paths(cfg.broker)
        plugins = {
            f"{__name__}.PasswordFileAuth": {"password_file": str(paths["passwd"])},
            f"{__name__}.AclFileTopics": {"acl_file": str(paths["acl"])},
        }
    else:
        plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    return {"listeners": {"default": listener}, "plugins": plugins}


class EmbeddedBroker:
    """``async with EmbeddedBroker(cfg):`` serves MQTT 3.1.1 on broker.listen_host:mqtt.port."""

    def __init__(self, cfg: BrokerSettings) -> None:
        self.cfg = cfg
        self.host = cfg.broker.listen_host
        self.port = cfg.mqtt.port
        self._broker: Broker | None = None

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        if self._broker is not None:
            raise BrokerError("embedded broker already running")
        try:
            broker = Broker(amqtt_config(self.cfg))
            await broker.start()
        except (AMQTTError, OSError) as exc:
            raise BrokerError(
                f"embedded broker could not listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self._broker = broker
        if self.cfg.broker.auth:
            log.info("embedded amqtt broker on %s:%d (password + ACL files)", self.host, self.port)
        else:
            log.warning("embedded amqtt broker on %s:%d accepts ANONYMOUS clients "
                        "(broker.auth is false)", self.host, self.port)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
