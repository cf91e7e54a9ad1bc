"""Auth (shared by the panel and the REST API) on a real SQLite users database: tokens
expired, tampered or revoked are refused; refresh tokens rotate and a reused one revokes its
session; the login rate limit holds; the first admin's password is never a default."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from spark.ui.api.auth import AuthError, AuthService
from spark.ui.api.config import AuthConfig
from spark.ui.api.tokens import ALGORITHM, ISSUER

KEY = "test signing key that is long enough 0123456789"
IP = "192.0.2.7"


async def service(tmp: Path, **cfg: object) -> AuthService:
    config = AuthConfig.model_validate({"admin_password": "first admin pw", "jwt_secret": KEY,
                                        **cfg})
    auth = AuthService(config, f"sqlite:///{tmp / 'users.db'}", tmp / "ui")
    await auth.start()
    return auth


async def test_expired_and_tampered_access_tokens_are_refused(tmp_path: Path) -> None:
    auth = await service(tmp_path)
    pair = await auth.login("admin", "first admin pw", IP)
    assert auth.verify(pair.access_token).role == "admin"
    claims = jwt.decode(pair.access_token, KEY, algorithms=[ALGORITHM], issuer=ISSUER)
    expired = jwt.encode({**claims, "exp": time.time() - 1}, KEY, algorithm=ALGORITHM)
    with pytest.raises(AuthError, match="expired"):
        auth.verify(expired)
    head, body, sig = pair.access_token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["name"] = "mallory"
    body2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="invalid"):
        auth.verify(f"{head}.{body2}.{sig}")
    other_key = jwt.encode(claims, "another key, also long enough 0123456789", ALGORITHM)
    with pytest.raises(AuthError, match="invalid"):
        auth.verify(other_key)
    none_alg = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthError):
        auth.verify(none_alg)
    auth.close()


async def test_refresh_rotates_and_reuse_revokes_the_session(tmp_path: Path) -> None:
    auth = await service(tmp_path)
    first = await auth.login("admin", "first admin pw", IP)
    second = await auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.principal.family == first.principal.family
    auth.verify(second.access_token)
    with pytest.raises(AuthError, match="already used"):
        await auth.refresh(first.refresh_token)  # replayed: the whole family is revoked
    with pytest.raises(AuthError, match="revoked"):
        await auth.refresh(second.refresh_token)
    with pytest.raises(AuthError, match="revoked"):
        auth.verify(second.access_token)
    other = await auth.login("admin", "first admin pw", IP)  # other sessions are untouched
    auth.verify(other.access_token)
    auth.close()


async def test_logout_and_user_changes_revoke_tokens(tmp_path: Path) -> None:
    auth = await service(tmp_path)
    pair = await auth.login("admin", "first admin pw", IP)
    await auth.logout(pair.refresh_token)
    with pytest.raises(AuthError, match="revoked"):
        auth.verify(pair.access_token)
    with pytest.raises(AuthError, match="revoked"):
        await auth.refresh(pair.refresh_token)
    op = await auth.register("Otto", "operator password", "operator")
    assert op.username == "otto"
    session = await auth.login("otto", "operator password", IP)
    assert auth.verify(session.access_token).can("operator")
    await auth.update(op.id, role="viewer")  # the current role counts, not the token's
    assert not auth.verify(session.access_token).can("operator")
    await auth.update(op.id, active=False)
    with pytest.raises(AuthError):
        auth.verify(session.access_token)
    with pytest.raises(AuthError):
        await auth.login("otto", "operator password", IP)
    admin = next(u for u in auth.users() if u.username == "admin")
    with pytest.raises(AuthError, match="last active admin"):
        await auth.update(admin.id, role="operator")
    with pytest.raises(AuthError, match="at least"):
        await auth.register("shorty", "short", "viewer")
    auth.close()


async def test_the_login_rate_limit_holds(tmp_path: Path) -> None:
    auth = await service(tmp_path, login_attempts=3, login_window=600)
    for _ in range(3):
        with pytest.raises(AuthError) as exc:
            await auth.login("admin", "guess", IP)
        assert exc.value.status == 401
    with pytest.raises(AuthError) as exc:  # even the right password, from that address
        await auth.login("admin", "first admin pw", IP)
    assert exc.value.status == 429 and exc.value.retry_after and exc.value.retry_after > 500
    await auth.login("admin", "first admin pw", "192.0.2.8")  # another address may
    auth.close()


async def test_first_admin_password_is_generated_into_a_private_file_and_stored_hashed(
        tmp_path: Path) -> None:
    said: list[str] = []
    config = AuthConfig()
    auth = AuthService(config, f"sqlite:///{tmp_path / 'users.db'}", tmp_path / "ui",
                       announce=said.append)
    await auth.start()
    secret = tmp_path / "ui" / "admin.password"
    assert len(said) == 1 and str(secret) in said[0] and "changed at the first log-in" in said[0]
    assert secret.stat().st_mode & 0o777 == 0o600
    password = secret.read_text().strip()
    assert password not in said[0]  # the file, not the log, holds it
    assert (await auth.login("admin", password, IP)).principal.must_change
    key_file = tmp_path / "ui" / "jwt.secret"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "users.db").stat().st_mode & 0o777 == 0o600
    auth.close()
    assert password.encode() not in (tmp_path / "users.db").read_bytes()
    again = AuthService(config, f"sqlite:///{tmp_path / 'users.db'}", tmp_path / "ui",
                        announce=said.append)
    await again.start()
    assert len(said) == 1  # created once only
    await again.login("admin", password, IP)  # the same signing key and users
    again.close()


async def test_a_generated_password_must_be_changed_before_anything_else(
        tmp_path: Path) -> None:
    auth = AuthService(AuthConfig(jwt_secret=KEY), f"sqlite:///{tmp_path / 'users.db'}",
                       tmp_path / "ui", announce=lambda _: None)
    await auth.start()
    secret = tmp_path / "ui" / "admin.password"
    generated = secret.read_text().strip()
    pair = await auth.login("admin", generated, IP)
    with pytest.raises(AuthError, match="change the generated password first") as refused:
        auth.verify(pair.access_token)
    assert refused.value.status == 403
    with pytest.raises(AuthError, match="change the generated password first"):
        await auth.refresh(pair.refresh_token)
    assert auth.verify(pair.access_token, pending_ok=True).must_change
    with pytest.raises(AuthError, match="current password is wrong"):
        await auth.change_password(pair.principal.user_id, "not it", "a new password 1", IP)
    with pytest.raises(AuthError, match="not the current one"):
        await auth.change_password(pair.principal.user_id, generated, generated, IP)
    with pytest.raises(AuthError, match="at least"):
        await auth.change_password(pair.principal.user_id, generated, "short", IP)
    new = await auth.change_password(pair.principal.user_id, generated, "a new password 1", IP)
    assert not new.principal.must_change
    assert auth.verify(new.access_token).username == "admin"
    with pytest.raises(AuthError, match="revoked"):  # the generated password's session ended
        auth.verify(pair.access_token)
    assert not secret.exists()  # a stale password file would only mislead
    with pytest.raises(AuthError):
        await auth.login("admin", generated, "192.0.2.99")
    auth.close()


async def test_the_users_database_of_an_older_release_gains_the_flag(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "users.db"
    with sqlite3.connect(db) as conn:  # the table as release 0.1 created it
        conn.execute("CREATE TABLE ui_users (id INTEGER PRIMARY KEY AUTOINCREMENT, username "
                     "VARCHAR(64) NOT NULL UNIQUE, password_hash VARCHAR(255) NOT NULL, role "
                     "VARCHAR(16) NOT NULL, active BOOLEAN NOT NULL, created_at FLOAT NOT NULL)")
    db.chmod(0o644)
    auth = await service(tmp_path)
    assert [u.must_change_password for u in auth.users()] == [False]
    assert db.stat().st_mode & 0o777 == 0o600
    auth.close()
