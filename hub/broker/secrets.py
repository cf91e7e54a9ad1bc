"""Generated broker passwords: one file per account, created once (mode 0600) and reused."""

from __future__ import annotations

import secrets
from pathlib import Path

from spark.core.errors import BrokerError
from spark.hub.broker.config import BrokerConfig
from spark.hub.broker.passwd import valid_username, write_private

PASSWORD_BYTES = 24


def secrets_dir(broker: BrokerConfig) -> Path:
    """Where generated passwords live: ``<broker.data_dir>/secrets``."""
    return broker.data_dir / "secrets"


def password_path(directory: Path, username: str) -> Path:
    return directory / f"{valid_username(username)}.password"


def ensure_password(directory: Path, username: str) -> str:
    """The password of ``username``: read from ``<directory>/<username>.password``, or generated
    (URL-safe random, 192 bits) and written there on first use."""
    path = password_path(directory, username)
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise BrokerError(f"{path}: cannot read password file ({exc.strerror})") from exc
    if existing:
        return existing
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, password + "\n")
    except OSError as exc:
        raise BrokerError(f"{path}: cannot write password file ({exc.strerror})") from exc
    return password
