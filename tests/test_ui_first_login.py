"""First log-in with a generated password, in a real headless Chromium against ``spark hub``
and ``spark node`` processes (the e2e harness: no NiceGUI in this process): the sign-in leads
to a change-password form, nothing else opens before it, and the new password is the one that
works afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from broker_fixture import free_port
from e2e.harness import SPARK, chromium, chromium_available, running_lab, wait_until

NEW_PASSWORD = "fay chose this one"


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _type(driver: Any, testid: str, text: str) -> None:
    _css(driver, f'input[data-testid="{testid}"]')[0].send_keys(text)


@pytest.mark.slow
def test_a_generated_password_is_changed_at_the_first_sign_in(broker: Any, tmp_path: Path
                                                              ) -> None:
    missing = chromium_available()
    if missing:
        pytest.fail(missing, pytrace=False)
    nodes = [{"id": "sim1", "kind": "simulated", "state_interval": 3600}]
    with running_lab(tmp_path, broker, free_port(), nodes) as lab, \
            chromium(tmp_path / "profile") as driver:
        out = subprocess.run([*SPARK, "user", "add", "fay", "--role", "operator", "-c",
                              str(lab.config)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        secret = lab.root / "ui" / "fay.password"
        generated = secret.read_text().strip()

        driver.get(lab.url + "/")
        wait_until(lambda: _css(driver, 'input[data-testid="username"]'), 15, "the login form")
        _type(driver, "username", "fay")
        _type(driver, "password", generated)
        _css(driver, '[data-testid="sign-in"]')[0].click()
        wait_until(lambda: any(e.is_displayed() for e in _css(
            driver, 'input[data-testid="new"]')), 15, "the change-password form")
        assert not _css(driver, '[data-availability="sim1"]')
        # the session holds nothing usable yet: the dashboard sends us back to sign in
        driver.get(lab.url + "/")
        wait_until(lambda: _css(driver, 'input[data-testid="username"]'), 15, "the login form")
        _type(driver, "username", "fay")
        _type(driver, "password", generated)
        _css(driver, '[data-testid="sign-in"]')[0].click()
        wait_until(lambda: any(e.is_displayed() for e in _css(
            driver, 'input[data-testid="new"]')), 15, "the change-password form again")
        _type(driver, "new", NEW_PASSWORD)
        _type(driver, "repeat", NEW_PASSWORD)
        _css(driver, '[data-testid="set-password"]')[0].click()
        wait_until(lambda: _css(driver, '[data-availability="sim1"]'), 15,
                   "the dashboard after setting the password")
        assert not secret.exists()
        with lab.api() as api:
            assert api.login("fay", NEW_PASSWORD)["must_change_password"] is False
            assert api.get("/api/entities").status_code == 200
            r = api.http.post("/api/auth/login", json={"username": "fay",
                                                       "password": generated})
            assert r.status_code == 401
