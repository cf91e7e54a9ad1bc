"""API keys for scripts and devices: a role each, revocable, only their SHA-256 kept.

A key is ``spk_`` + 43 URL-safe characters (256 random bits), shown once when it is made
(``spark apikey add``, ``POST /api/keys``). It is sent like a token,
``Authorization: Bearer spk_...`` (or ``X-API-Key: spk_...``), and acts with its role:
``viewer`` reads, ``operator`` also calls services, ``admin`` also manages users. Managing
keys themselves needs a signed-in admin (a key cannot make keys). Revoking is at once, also
for a running hub (every use looks the key up).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from spark.ui.api.store import ROLES, StoreError, UserStore, api_keys

KEY_PREFIX = "spk_"
KEY_RE = re.compile(r"^spk_[A-Za-z0-9_-]{43}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    name: str
    prefix: str
    role: str
    created_at: float
    created_by: str
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Synchronous (call it on a worker thread from async code) over the users database."""

    def __init__(self, store: UserStore) -> None:
        self.store = store

    def add(self, name: str, role: str, created_by: str) -> tuple[KeyRow, str]:
        """A new key; returns its row and the key itself (never stored)."""
        if not NAME_RE.match(name):
            raise StoreError("key names use letters, digits and _ . @ - (at most 64)")
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        try:
            with self.store.engine.begin() as conn:
                pk = conn.execute(insert(api_keys).values(
                    name=name, prefix=key[:10], key_hash=key_hash(key), role=role,
                    created_at=now, created_by=created_by[:64])).inserted_primary_key
        except IntegrityError:
            raise StoreError(f"an API key named {name!r} exists already") from None
        assert pk is not None
        return KeyRow(int(pk[0]), name, key[:10], role, now, created_by, None, None), key

    def all(self) -> list[KeyRow]:
        c = api_keys.c
        with self.store.engine.connect() as conn:
            return [KeyRow(*r) for r in conn.execute(select(
                c.id, c.name, c.prefix, c.role, c.created_at, c.created_by, c.last_used_at,
                c.revoked_at).order_by(c.id))]

    def find(self, id_or_name: str | int) -> KeyRow:
        for row in self.all():
            if str(row.id) == str(id_or_name) or row.name == id_or_name:
                return row
        raise StoreError(f"no API key {id_or_name!r} (see `spark apikey list`)")

    def revoke(self, id_or_name: str | int) -> KeyRow:
        row = self.find(id_or_name)
        if row.revoked_at is None:
            with self.store.engine.begin() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(
                    revoked_at=time.time()))
        return self.find(row.id)

    def lookup(self, key: str) -> KeyRow | None:
        """The active key ``key`` is (its last use stamped), or None."""
        if not KEY_RE.match(key):
            return None
        c = api_keys.c
        with self.store.engine.begin() as conn:
            row = conn.execute(select(
                c.id, c.name, c.prefix, c.role, c.created_at, c.created_by, c.last_used_at,
                c.revoked_at).where(c.key_hash == key_hash(key), c.revoked_at.is_(None))).first()
            if row is None:
                return None
            now = time.time()
            if row.last_used_at is None or now - row.last_used_at > 60:  # at most once a minute
                conn.execute(update(api_keys).where(c.id == row.id).values(last_used_at=now))
            return KeyRow(*row)
