"""Users, roles and tokens shared by the panel and the REST API.

Roles: ``viewer`` sees, ``operator`` also controls, ``admin`` also manages users and settings.
Login gives a short-lived JWT access token and a refresh token. A refresh token is used once:
refreshing returns a new pair in the same *family* (one login session); presenting a used token
again means it was stolen or replayed, so the whole family is revoked. Logging out, deleting or
disabling a user, or an admin's "sign out everywhere" revoke families; an access token of a
revoked family, or of a user no longer active, is refused at once (the service keeps users and
revoked families in memory, so checking an access token never touches the database).

A generated password (the first admin's, or one from ``spark user add|reset-password``) is
written to a file only its owner can read, ``<ui.data_dir>/<user>.password``, and must be
changed at the first log-in: until then the user's tokens are good for
:meth:`AuthService.change_password` (``POST /api/auth/password``) and ``/me`` only.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from spark.core.errors import SparkError
from spark.hub.broker.passwd import write_private
from spark.ui.api.apikeys import KEY_PREFIX, ApiKeys, KeyRow
from spark.ui.api.config import AuthConfig
from spark.ui.api.passwords import weakness
from spark.ui.api.ratelimit import LoginLimiter, Refused
from spark.ui.api.store import ROLES, StoreError, UserRow, UserStore
from spark.ui.api.tokens import (
    Signer,
    TokenError,
    load_signing_key,
    new_family,
    new_refresh_token,
    token_hash,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
CHANGE_FIRST = ("change the generated password first (POST /api/auth/password, or sign in "
                "to the panel)")


def generated_password_file(data_dir: Path, username: str) -> Path:
    """Where a generated password for ``username`` is kept until its first change."""
    return data_dir / f"{username}.password"


def generate_password(data_dir: Path, username: str) -> tuple[str, Path]:
    """A new random password, written to its 0600 file; returns it and the file."""
    password = secrets.token_urlsafe(15)
    path = generated_password_file(data_dir, username)
    write_private(path, password + "\n")
    return password, path


class AuthError(SparkError):
    """Refused: bad credentials, bad or revoked token, not allowed, or an invalid change."""

    def __init__(self, message: str, status: int = 401, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str
    family: str
    must_change: bool = False  # a generated password: only changing it is allowed
    key_id: int | None = None  # signed in with an API key (no user session)

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: float
    principal: Principal


def default_users_url(recorder_url: str, data_dir: Path) -> str:
    """users.db beside the recorder's SQLite file, else in the panel's data folder."""
    if recorder_url.startswith("sqlite:///") and ":memory:" not in recorder_url:
        return f"sqlite:///{Path(recorder_url[len('sqlite:///'):]).parent / 'users.db'}"
    return f"sqlite:///{data_dir / 'users.db'}"


class AuthService:
    def __init__(self, config: AuthConfig, users_url: str, data_dir: Path,
                 announce: Callable[[str], None] = print) -> None:
        self.config = config
        self.store = UserStore(users_url)
        self.data_dir = data_dir
        self.limiter = LoginLimiter(config.login_attempts, config.login_window,
                                    config.login_concurrency, config.login_verifications)
        self.keys = ApiKeys(self.store)
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))
        self._announce = announce
        self._signer: Signer | None = None
        self._users: dict[int, UserRow] = {}
        self._revoked: set[str] = set()

    async def start(self) -> None:
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        self.store.open()
        secret = self.config.jwt_secret.get_secret_value() if self.config.jwt_secret else (
            self.config.jwt_secret_file.read_text().strip() if self.config.jwt_secret_file
            else None)
        self._signer = Signer(load_signing_key(secret, self.data_dir / "jwt.secret"),
                              self.config.access_ttl)
        if self.store.count_users() == 0:
            self._bootstrap_admin()
        self.store.purge_tokens(time.time() - 86_400)
        self._revoked = self.store.revoked_families(time.time())
        self._reload_users()

    def _bootstrap_admin(self) -> None:
        password = self.config.admin_secret()
        name = self.config.admin_user
        generated = password is None
        if password is None:
            password, path = generate_password(self.data_dir, name)
            self._announce(f"panel: created user {name!r}; its generated password is in {path} "
                           "(readable by you only); it must be changed at the first log-in")
        self.store.add_user(name, self._hasher.hash(password), "admin",
                            must_change_password=generated)
        log.info("panel: created the first admin user %r", name)

    def close(self) -> None:
        self.store.close()

    def _reload_users(self) -> None:
        self._users = {u.id: u for u in self.store.all_users()}

    async def _io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except StoreError as exc:
            raise AuthError(str(exc), status=409) from exc

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise AuthError("the auth service is not started", status=503)
        return self._signer

    # ---- tokens -----------------------------------------------------------------------
    async def _verified(self, user: UserRow | None, password: str, ip: str) -> bool:
        """Check a password as an attempt of ``ip``: counted before the (slow) verify, so
        parallel guesses cannot pass the limit; a success gives its attempt back."""
        try:  # all unknown usernames are one account ("")
            async with self.limiter.attempt(ip, user.username if user else "") as succeeded:
                ok = await asyncio.to_thread(self._check_password, user, password)
                if ok:
                    succeeded()
                return ok
        except Refused as exc:
            log.warning("panel: login attempt from %s refused: %s", ip, exc)
            raise AuthError("too many login attempts; try again later", 429,
                            retry_after=exc.retry_after) from None

    async def login(self, username: str, password: str, ip: str) -> TokenPair:
        user = await self._io(self.store.user_by_name, username.strip().lower())
        ok = await self._verified(user, password, ip)
        if user is None or not ok or not user.active:
            log.warning("panel: failed login for %r from %s", username[:64], ip)
            raise AuthError("wrong username or password")
        self._users[user.id] = user  # as the database has it (`spark user` may have changed it)
        return await self._io(self._issue, user, new_family(), ip)

    def _check_password(self, user: UserRow | None, password: str) -> bool:
        try:
            self._hasher.verify(user.password_hash if user else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if user is not None and self._hasher.check_needs_rehash(user.password_hash):
            self.store.update_user(user.id, password_hash=self._hasher.hash(password))
        return user is not None

    def _issue(self, user: UserRow, family: str, ip: str | None) -> TokenPair:
        refresh = new_refresh_token()
        self.store.add_token(token_hash(refresh), family, user.id, self.config.refresh_ttl, ip)
        access, exp = self.signer.issue(user.id, user.username, user.role, family)
        return TokenPair(access, refresh, exp, Principal(user.id, user.username, user.role,
                                                         family, user.must_change_password))

    async def refresh(self, refresh_token: str, ip: str | None = None) -> TokenPair:
        return await self._io(self._refresh_sync, refresh_token, ip)

    def _refresh_sync(self, refresh_token: str, ip: str | None) -> TokenPair:
        row = self.store.token(token_hash(refresh_token))
        if row is None:
            raise AuthError("unknown refresh token")
        if row.revoked_at is not None or row.family in self._revoked:
            raise AuthError("refresh token revoked")
        if row.expires_at <= time.time():
            raise AuthError("refresh token expired")
        if row.used_at is not None or not self.store.mark_used(row.id):
            self.store.revoke_family(row.family)
            self._revoked.add(row.family)
            log.warning("panel: refresh token reused (user id %d); its session is revoked",
                        row.user_id)
            raise AuthError("refresh token already used; the session is revoked")
        user = self._users.get(row.user_id)
        if user is None or not user.active:
            raise AuthError("the user no longer exists or is disabled")
        if user.must_change_password:
            raise AuthError(CHANGE_FIRST, 403)
        return self._issue(user, row.family, ip)

    async def logout(self, refresh_token: str) -> None:
        row = await self._io(self.store.token, token_hash(refresh_token))
        if row is not None:
            await self._revoke_family(row.family)

    async def _revoke_family(self, family: str) -> None:
        self._revoked.add(family)
        await self._io(self.store.revoke_family, family)

    def verify(self, access_token: str, pending_ok: bool = False) -> Principal:
        """The principal of a valid access token (its role as it is now); raises AuthError,
        with status 403 for a user who must change a generated password first (unless
        ``pending_ok``: the password change itself)."""
        try:
            claims = self.signer.verify(access_token)
        except TokenError as exc:
            raise AuthError(str(exc)) from None
        if claims.family in self._revoked:
            raise AuthError("access token revoked")
        user = self._users.get(claims.user_id)
        if user is None or not user.active or user.username != claims.username:
            raise AuthError("the user no longer exists or is disabled")
        if user.must_change_password and not pending_ok:
            raise AuthError(CHANGE_FIRST, 403)
        return Principal(user.id, user.username, user.role, claims.family,
                         user.must_change_password)

    async def change_password(self, user_id: int, current: str, new: str,
                              ip: str) -> TokenPair:
        """A user sets their own password (clearing a generated one): every session of the
        user ends, and a new one starts with the returned pair."""
        user = await self._io(self.store.user_by_name, self._user(user_id).username)
        if user is None or not await self._verified(user, current, ip):
            raise AuthError("the current password is wrong", 403)
        if new == current:
            raise AuthError("choose a new password, not the current one", 422)
        self._check_new_password(new, user.username)
        await self.update(user_id, password=new)
        await asyncio.to_thread(
            generated_password_file(self.data_dir, user.username).unlink, missing_ok=True)
        log.info("panel: user %r changed their password", user.username)
        return await self._io(self._issue, self._user(user_id), new_family(), ip)

    # ---- user management (admin) ------------------------------------------------------
    def users(self) -> list[UserRow]:
        return sorted(self._users.values(), key=lambda u: u.id)

    def _check_new_password(self, password: str, username: str = "") -> None:
        why = weakness(password, self.config.min_password, username)
        if why is not None:
            raise AuthError(why, 422)

    async def register(self, username: str, password: str, role: str) -> UserRow:
        name = username.strip().lower()
        if not USERNAME_RE.match(name):
            raise AuthError("usernames use letters, digits and _ . @ - (at most 64)", 422)
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}", 422)
        self._check_new_password(password, name)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = await self._io(self.store.add_user, name, hashed, role)
        self._users[user.id] = user
        log.info("panel: user %r created with role %s", name, role)
        return user

    def _user(self, user_id: int) -> UserRow:
        user = self._users.get(user_id)
        if user is None:
            raise AuthError(f"no user {user_id}", 404)
        return user

    def _keep_an_admin(self, user_id: int) -> None:
        admins = [u for u in self._users.values() if u.role == "admin" and u.active]
        if [u.id for u in admins] == [user_id]:
            raise AuthError("the last active admin cannot be removed, demoted or disabled", 409)

    async def update(self, user_id: int, *, role: str | None = None, active: bool | None = None,
                     password: str | None = None) -> UserRow:
        user = self._user(user_id)
        values: dict[str, object] = {}
        if role is not None and role != user.role:
            if role not in ROLES:
                raise AuthError(f"role must be one of {', '.join(ROLES)}", 422)
            if user.role == "admin":
                self._keep_an_admin(user_id)
            values["role"] = role
        if active is not None and active != user.active:
            if not active:
                self._keep_an_admin(user_id)
            values["active"] = active
        if password is not None:
            self._check_new_password(password, user.username)
            values["password_hash"] = await asyncio.to_thread(self._hasher.hash, password)
            values["must_change_password"] = False
        if values:
            await self._io(self.store.update_user, user_id, **values)
            await asyncio.to_thread(self._reload_users)
        if active is False or password is not None:
            await self.revoke_sessions(user_id)
        return self._user(user_id)

    async def delete(self, user_id: int) -> None:
        self._user(user_id)
        self._keep_an_admin(user_id)
        await self.revoke_sessions(user_id)
        await self._io(self.store.delete_user, user_id)
        self._users.pop(user_id, None)

    async def revoke_sessions(self, user_id: int) -> None:
        """Sign a user out everywhere: every refresh family and its access tokens."""
        self._revoked.update(await self._io(self.store.revoke_user, user_id))

    # ---- API keys ---------------------------------------------------------------------
    async def authenticate(self, credential: str, pending_ok: bool = False) -> Principal:
        """The principal of a bearer credential: an access token or an API key."""
        if not credential.startswith(KEY_PREFIX):
            return self.verify(credential, pending_ok)
        row = await self._io(self.keys.lookup, credential)
        if row is None:
            raise AuthError("unknown or revoked API key")
        return Principal(0, f"key:{row.name}", row.role, f"key-{row.id}", key_id=row.id)

    async def add_key(self, name: str, role: str, created_by: str) -> tuple[KeyRow, str]:
        row, key = await self._io(self.keys.add, name, role, created_by)
        log.info("panel: API key %r (%s) made by %s", name, role, created_by)
        return row, key

    async def list_keys(self) -> list[KeyRow]:
        return await self._io(self.keys.all)

    async def revoke_key(self, key_id: int) -> KeyRow:
        row = await self._io(self.keys.revoke, key_id)
        log.info("panel: API key %r revoked", row.name)
        return row
