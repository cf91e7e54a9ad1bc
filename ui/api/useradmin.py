"""Users from the command line (``spark user add|list|reset-password|remove``), on the same
database as the panel and the REST API, with or without a running hub.

A running hub sees the change at once for log-ins; a removed user's or reset password's
sessions end at their next refresh (at most ``ui.auth.access_ttl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from spark.ui.api.auth import (
    USERNAME_RE,
    AuthError,
    default_users_url,
    generate_password,
    generated_password_file,
)
from spark.ui.api.config import AuthConfig
from spark.ui.api.passwords import weakness
from spark.ui.api.store import ROLES, UserRow, UserStore


@dataclass(frozen=True, slots=True)
class NewPassword:
    """What the user is told: where the password is, and whether it must be changed."""

    username: str
    file: Path | None  # a generated password's 0600 file
    must_change: bool


class UserAdmin:
    def __init__(self, auth: AuthConfig, recorder_url: str, data_dir: Path) -> None:
        self.config = auth
        self.data_dir = data_dir
        self.store = UserStore(auth.users_url or default_users_url(recorder_url, data_dir))
        self._hasher = PasswordHasher()

    def __enter__(self) -> UserAdmin:
        self.store.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()

    def users(self) -> list[UserRow]:
        return self.store.all_users()

    def _user(self, username: str) -> UserRow:
        user = self.store.user_by_name(username.strip().lower())
        if user is None:
            raise AuthError(f"no user {username!r} (see `spark user list`)", 404)
        return user

    def _password(self, username: str, password_file: Path | None) -> tuple[str, NewPassword]:
        if password_file is None:
            password, path = generate_password(self.data_dir, username)
            return password, NewPassword(username, path, True)
        password = password_file.read_text().strip()
        generated_password_file(self.data_dir, username).unlink(missing_ok=True)  # stale now
        why = weakness(password, self.config.min_password, username)
        if why is not None:
            raise AuthError(f"{password_file}: {why}", 422)
        return password, NewPassword(username, None, False)

    def add(self, username: str, role: str, password_file: Path | None = None) -> NewPassword:
        name = username.strip().lower()
        if not USERNAME_RE.match(name):
            raise AuthError("usernames use letters, digits and _ . @ - (at most 64)", 422)
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}", 422)
        if role != "admin" and self.store.count_users() == 0:
            raise AuthError("the first user must be an admin (--role admin); or start the hub "
                            "once, which creates ui.auth.admin_user", 409)
        if self.store.user_by_name(name) is not None:
            raise AuthError(f"user {name!r} exists already (reset its password with "
                            f"`spark user reset-password {name}`)", 409)
        password, result = self._password(name, password_file)
        self.store.add_user(name, self._hasher.hash(password), role,
                            must_change_password=result.must_change)
        return result

    def reset_password(self, username: str, password_file: Path | None = None) -> NewPassword:
        """A new password (generated: to be changed at the next log-in); the user's sessions
        end and a disabled user is enabled again."""
        user = self._user(username)
        password, result = self._password(user.username, password_file)
        self.store.update_user(user.id, password_hash=self._hasher.hash(password),
                               must_change_password=result.must_change, active=True)
        self.store.revoke_user(user.id)
        return result

    def remove(self, username: str) -> None:
        user = self._user(username)
        admins = [u.id for u in self.store.all_users() if u.role == "admin" and u.active]
        if admins == [user.id]:
            raise AuthError("the last active admin cannot be removed", 409)
        self.store.delete_user(user.id)
