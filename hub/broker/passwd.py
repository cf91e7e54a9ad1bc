"""Mosquitto 2.x password files, written without ``mosquitto_passwd``.

One line per user: ``user:$7$<iterations>$<base64 salt>$<base64 hash>`` where the hash is
PBKDF2-HMAC-SHA512 of the password (64 bytes) over a 12-byte random salt, 101 iterations: exactly
what ``mosquitto_passwd`` 2.x writes and what Mosquitto and the embedded broker check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from spark.core.errors import BrokerError

ITERATIONS = 101
SALT_BYTES = 12
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


def valid_username(username: str) -> str:
    """Broker usernames end up in the password and ACL files: keep them to one safe token."""
    if not isinstance(username, str) or not _USERNAME_RE.match(username):
        raise BrokerError(
            f"invalid broker username {username!r}: use letters, digits, '_', '.', '@' or '-'"
        )
    return username


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$...`` hash of ``password`` (random salt unless given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash (constant-time compare)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def render_password_file(passwords: Mapping[str, str]) -> str:
    """Password file text for ``{username: clear password}`` (sorted, one line per user)."""
    lines = []
    for username in sorted(passwords):
        lines.append(f"{valid_username(username)}:{hash_password(passwords[username])}\n")
    return "".join(lines)


def read_password_file(path: Path) -> dict[str, str]:
    """``{username: hash}`` from a Mosquitto password file (blank and ``#`` lines skipped)."""
    users: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, hashed = line.partition(":")
        if sep:
            users[username] = hashed
    return users


def write_password_file(path: Path, passwords: Mapping[str, str]) -> Path:
    """Write the password file with mode 0600, atomically (Mosquitto may be reading it)."""
    write_private(path, render_password_file(passwords))
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # A fresh file, never through a link: the directory may belong to the broker's own
    # unprivileged user (started as root), who must not make root write elsewhere.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
