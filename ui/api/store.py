"""Users and refresh tokens in the hub's database (SQLAlchemy; SQLite by default).

Synchronous: :class:`~ui.api.auth.AuthService` calls it on worker threads. Refresh tokens are
stored as SHA-256 hashes (they are 256-bit random strings, so no salt is needed); passwords as
argon2 hashes made by the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from spark.core.errors import SparkError
from spark.hub.files import private_file, sqlite_path

ROLES = ("viewer", "operator", "admin")

metadata = MetaData()
users = Table(
    "ui_users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    # A generated (first admin, `spark user add|reset-password`) password: until the user
    # sets their own, only changing it is allowed.
    Column("must_change_password", Boolean, nullable=False, default=False),
)
refresh_tokens = Table(
    "ui_refresh_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("family", String(32), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("ui_users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    Column("revoked_at", Float),
    Column("ip", String(64)),
)
# API keys for scripts and devices: only the SHA-256 of a key is kept (keys are 256-bit
# random strings); ``prefix`` (its first characters) names it in lists.
api_keys = Table(
    "ui_api_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)


class StoreError(SparkError):
    """The users database failed or refused a change; the message says which."""


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    password_hash: str
    role: str
    active: bool
    created_at: float
    must_change_password: bool = False


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    family: str
    user_id: int
    expires_at: float
    used_at: float | None
    revoked_at: float | None


def engine_url(url: str) -> str:
    """psycopg 3 drives PostgreSQL URLs; a SQLite file is created with mode 0600 (it holds
    password hashes), its folder 0700."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    path = sqlite_path(url)
    if path is not None:
        private_file(path)
    return url


def _upgrade(engine: Engine) -> None:
    """Columns added since a database was created (create_all adds only missing tables)."""
    have = {c["name"] for c in inspect(engine).get_columns(users.name)}
    if "must_change_password" not in have:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {users.name} ADD COLUMN must_change_password "
                              "BOOLEAN NOT NULL DEFAULT FALSE"))


class UserStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def open(self) -> None:
        if self._engine is not None:
            return
        args = {"check_same_thread": False, "timeout": 10} if self.url.startswith("sqlite") \
            else {}
        try:
            engine = create_engine(engine_url(self.url), connect_args=args)
            metadata.create_all(engine)
            _upgrade(engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"users database {self.url}: {exc}") from exc
        self._engine = engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError("the users database is not open")
        return self._engine

    # ---- users ------------------------------------------------------------------------
    def all_users(self) -> list[UserRow]:
        with self.engine.connect() as conn:
            return [UserRow(*r) for r in conn.execute(select(users).order_by(users.c.id))]

    def user_by_name(self, username: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
            return UserRow(*row) if row else None

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar_one())

    def add_user(self, username: str, password_hash: str, role: str,
                 must_change_password: bool = False) -> UserRow:
        now = time.time()
        try:
            with self.engine.begin() as conn:
                key = conn.execute(insert(users).values(
                    username=username, password_hash=password_hash, role=role, active=True,
                    created_at=now, must_change_password=must_change_password,
                )).inserted_primary_key
        except IntegrityError:
            raise StoreError(f"user {username!r} exists already") from None
        assert key is not None  # None only for executemany / non-INSERT statements
        return UserRow(int(key[0]), username, password_hash, role, True, now, must_change_password)

    def update_user(self, user_id: int, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))

    def delete_user(self, user_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(refresh_tokens).where(refresh_tokens.c.user_id == user_id))
            conn.execute(delete(users).where(users.c.id == user_id))

    # ---- refresh tokens ---------------------------------------------------------------
    def add_token(self, token_hash: str, family: str, user_id: int, ttl: float,
                  ip: str | None) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(insert(refresh_tokens).values(
                token_hash=token_hash, family=family, user_id=user_id, issued_at=now,
                expires_at=now + ttl, ip=(ip or "")[:64]))

    def token(self, token_hash: str) -> TokenRow | None:
        c = refresh_tokens.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.id, c.family, c.user_id, c.expires_at, c.used_at,
                                      c.revoked_at).where(c.token_hash == token_hash)).first()
            return TokenRow(*row) if row else None

    def mark_used(self, token_id: int) -> bool:
        """Mark a token used; False when another caller used it first (a race = reuse)."""
        c = refresh_tokens.c
        with self.engine.begin() as conn:
            result = conn.execute(update(refresh_tokens).where(
                c.id == token_id, c.used_at.is_(None)).values(used_at=time.time()))
            return result.rowcount == 1

    def revoke_family(self, family: str) -> None:
        c = refresh_tokens.c
        with self.engine.begin() as conn:
            conn.execute(update(refresh_tokens).where(
                c.family == family, c.revoked_at.is_(None)).values(revoked_at=time.time()))

    def revoke_user(self, user_id: int) -> list[str]:
        """Revoke every session of a user; returns the families revoked."""
        c = refresh_tokens.c
        with self.engine.begin() as conn:
            fams = [r[0] for r in conn.execute(select(c.family).distinct().where(
                c.user_id == user_id, c.revoked_at.is_(None)))]
            conn.execute(update(refresh_tokens).where(
                c.user_id == user_id, c.revoked_at.is_(None)).values(revoked_at=time.time()))
        return fams

    def revoked_families(self, since: float) -> set[str]:
        c = refresh_tokens.c
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(c.family).distinct().where(
                c.revoked_at.is_not(None), c.expires_at > since))}

    def purge_tokens(self, before: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(refresh_tokens).where(
                refresh_tokens.c.expires_at < before)).rowcount
