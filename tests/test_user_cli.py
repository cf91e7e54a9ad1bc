"""``spark user add|list|reset-password|remove``, run as a user would, without a hub: the way
back from a lost password (issue 13). The log-ins are checked with the hub's own AuthService
on the same database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli import spark

from spark.ui.api.auth import AuthError, AuthService
from spark.ui.api.config import AuthConfig

IP = "192.0.2.10"


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    conf = tmp_path / "spark.yaml"
    conf.write_text(yaml.safe_dump({"recorder": {"url": url},
                                    "ui": {"data_dir": str(tmp_path / "ui")}}))
    return conf, url


async def _login(tmp_path: Path, url: str, user: str, password: str) -> bool:
    auth = AuthService(AuthConfig(), f"sqlite:///{tmp_path / 'users.db'}", tmp_path / "ui",
                       announce=lambda _: None)
    assert url.endswith("history.db")  # users.db sits beside the recorder's file
    await auth.start()
    try:
        await auth.login(user, password, IP)
        return True
    except AuthError:
        return False
    finally:
        auth.close()


async def test_add_list_reset_password_and_remove(tmp_path: Path) -> None:
    conf, url = _config(tmp_path)
    c = ("-c", str(conf))
    first = spark("user", "add", "olga", *c)  # the first user must be an admin
    assert first.returncode == 1 and "the first user must be an admin" in first.stderr

    out = spark("user", "add", "olga", "--role", "admin", *c)
    assert out.returncode == 0, out.stderr
    secret = tmp_path / "ui" / "olga.password"
    assert str(secret) in out.stdout and "must be changed at the first log-in" in out.stdout
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "users.db").stat().st_mode & 0o777 == 0o600
    generated = secret.read_text().strip()
    assert generated not in out.stdout

    chosen = tmp_path / "chosen"
    chosen.write_text("a long chosen passphrase\n")
    out = spark("user", "add", "ivan", "--role", "viewer", "--password-file", str(chosen), *c)
    assert out.returncode == 0, out.stderr
    assert "password  in" not in out.stdout  # nothing generated, nothing to change

    listed = spark("user", "list", *c)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["olga"][1:3] == ["admin", "yes"] and "generated" in " ".join(rows["olga"])
    assert rows["ivan"][1:3] == ["viewer", "yes"] and "set by the user" in " ".join(rows["ivan"])

    # the lost password: a new generated one, the old one no longer signs in
    out = spark("user", "reset-password", "olga", *c)
    assert out.returncode == 0, out.stderr
    assert "its sessions are signed out" in out.stdout
    assert secret.stat().st_mode & 0o777 == 0o600
    new = secret.read_text().strip()
    assert new != generated
    assert not await _login(tmp_path, url, "olga", generated)
    assert await _login(tmp_path, url, "olga", new)

    out = spark("user", "remove", "ivan", *c)
    assert out.returncode == 0, out.stderr
    assert "ivan" not in spark("user", "list", *c).stdout
    assert not await _login(tmp_path, url, "ivan", "a long chosen passphrase")
    gone = spark("user", "reset-password", "ivan", *c)
    assert gone.returncode == 1 and "no user 'ivan'" in gone.stderr


@pytest.mark.parametrize("password", ["short", "password123456"])
def test_a_weak_chosen_password_is_refused(tmp_path: Path, password: str) -> None:
    conf, _ = _config(tmp_path)
    weak = tmp_path / "weak"
    weak.write_text(password)
    out = spark("user", "add", "olga", "--role", "admin", "--password-file", str(weak),
                "-c", str(conf))
    assert out.returncode == 1 and str(weak) in out.stderr
    assert "olga" not in spark("user", "list", "-c", str(conf)).stdout
