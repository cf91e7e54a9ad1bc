"""JWT access tokens (HS256), opaque refresh tokens, and the signing key on disk."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from spark.core.errors import SparkError

log = logging.getLogger(__name__)

ISSUER = "prime-spark"
ALGORITHM = "HS256"


class TokenError(SparkError):
    """A token is missing, malformed, tampered with, expired or revoked."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    username: str
    role: str
    family: str
    expires_at: float


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_family() -> str:
    return uuid.uuid4().hex


class Signer:
    def __init__(self, key: str, ttl: float) -> None:
        if len(key) < 32:
            raise TokenError("the JWT signing key must be at least 32 characters")
        self._key = key
        self.ttl = ttl

    def issue(self, user_id: int, username: str, role: str, family: str) -> tuple[str, float]:
        now = time.time()
        exp = now + self.ttl
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": str(user_id), "name": username, "role": role, "fam": family,
            "typ": "access", "iat": int(now), "exp": exp, "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), exp

    def derive(self, label: str) -> str:
        """A key for another purpose (the panel's session cookie), derived from this one."""
        return hmac.new(self._key.encode(), label.encode(), hashlib.sha256).hexdigest()

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("access token expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid access token: {exc}") from None
        if claims.get("typ") != "access":
            raise TokenError("not an access token")
        try:
            return AccessClaims(int(claims["sub"]), str(claims["name"]), str(claims["role"]),
                                str(claims["fam"]), float(claims["exp"]))
        except (KeyError, TypeError, ValueError):
            raise TokenError("invalid access token claims") from None


def write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (its folder 0700); fails if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def load_signing_key(configured: str | None, generated: Path) -> str:
    """The configured key, else the one generated earlier into ``generated``, else a new one."""
    if configured:
        return configured
    try:
        key = generated.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        try:
            write_private(generated, key)
        except FileExistsError:  # another process won the race: use its key
            return generated.read_text().strip()
        log.info("panel: generated the JWT signing key in %s", generated)
        return key
    if generated.stat().st_mode & 0o077:
        log.warning("panel: %s is readable by others; chmod 600 it", generated)
    return key
