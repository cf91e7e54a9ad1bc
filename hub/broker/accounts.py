"""The broker accounts a config implies, and their passwords.

Accounts: the hub (``hub.id``), one per node (``nodes:`` plus ``broker.node_accounts``; username =
the node's ``username`` or its id), Home Assistant (``broker.homeassistant_user``) and the extra
``broker.users``. A configured password (``password`` / ``password_file``) wins; otherwise one is
generated once under ``<data_dir>/secrets`` and reused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from spark.core.errors import BrokerError
from spark.core.topics import valid_segment
from spark.hub.broker.config import BrokerSettings, BrokerUser
from spark.hub.broker.passwd import valid_username
from spark.hub.broker.secrets import ensure_password, secrets_dir


class Role(enum.Enum):
    HUB = "hub"
    NODE = "node"
    HOMEASSISTANT = "homeassistant"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: Role
    node_id: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    user: BrokerUser | None = None

    def configured_password(self) -> str | None:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise BrokerError(
                    f"{self.password_file}: cannot read the password of broker user "
                    f"{self.username!r} ({exc.strerror}); fix the path or remove password_file"
                ) from exc
        return None


def accounts(cfg: BrokerSettings) -> list[Account]:
    """Every account, hub first. Raises BrokerError on duplicate usernames."""
    hub_id = cfg.hub_id
    hub_password = cfg.mqtt.password if cfg.mqtt.username == hub_id else None
    hub_file = cfg.mqtt.password_file if cfg.mqtt.username == hub_id else None
    out = [Account(hub_id, Role.HUB, hub_id, hub_password, hub_file)]
    for node in cfg.nodes:
        out.append(
            Account(node.username or node.id, Role.NODE, node.id, node.password, node.password_file)
        )
    for node_id in cfg.broker.node_accounts:
        out.append(Account(valid_segment(node_id, "node id"), Role.NODE, node_id))
    out.append(Account(cfg.broker.homeassistant_user, Role.HOMEASSISTANT))
    for user in cfg.broker.users:
        out.append(
            Account(user.username, Role.USER, None, user.password, user.password_file, user)
        )
    seen: dict[str, Account] = {}
    for acc in out:
        valid_username(acc.username)
        if acc.username in seen:
            raise BrokerError(
                f"broker username {acc.username!r} is used twice ({seen[acc.username].role.value} "
                f"and {acc.role.value}); rename one in broker.users / nodes / broker.node_accounts"
            )
        seen[acc.username] = acc
    return out


def resolve_passwords(cfg: BrokerSettings) -> dict[str, str]:
    """``{username: password}`` for every account (generating missing ones on disk)."""
    directory = secrets_dir(cfg.broker)
    out: dict[str, str] = {}
    for acc in accounts(cfg):
        out[acc.username] = acc.configured_password() or ensure_password(directory, acc.username)
    return out
