"""Codes in the panel, in a real headless Chromium against ``spark hub`` on the test Mosquitto,
with a third-party lock (``code_format`` ``^\\d{4}$``) and alarm panel (a code,
``code_arm_required: false``) whose devices answer (tests/coded_devices.py).

As a Home Assistant user expects: a code field (a password field with the number pad) beside
the lock's switch and on the alarm's keypad; a missing or malformed code is refused by the hub
in words with nothing sent; a well-formed code the lock refuses is sent and the lock does not
move; the right code locks and unlocks (the device confirms, the hub agrees); arming needs no
code, disarming does. After each press the field is empty and the code is nowhere in the page.
A screenshot of each goes to test-artifacts/pages/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from broker_fixture import free_port
from coded_devices import ALARM_CODE, ALARM_ID, ALARM_SET, DOOR_SET, LOCK_CODE, LOCK_ID, coded_world
from e2e.harness import (
    chromium,
    chromium_available,
    running_lab,
    sign_in,
    wait_text,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
# what a page holds: its text, its markup, and every input's live value
PAGE = """return {text: document.body.innerText, html: document.documentElement.outerHTML,
                 values: [...document.querySelectorAll('input')].map(i => i.value)};"""


def find(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, selector), 15,
                      f"{selector} on the page")[0]


def text(driver: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return str(found[0].text).strip() if found else ""


def shows(driver: Any, selector: str, wanted: str, timeout: float = 15) -> None:
    wait_until(lambda: wanted in text(driver, selector), timeout,
               f"{selector} shows {wanted!r} (it shows {text(driver, selector)!r})")


def is_state(driver: Any, entity_id: str, wanted: str) -> None:
    wait_text(driver, f'[data-entity="{entity_id}"]', wanted, 15)


def enter(driver: Any, entity_id: str, code: str) -> Any:
    field = find(driver, f'input[data-code="{entity_id}"]')
    field.send_keys(code)
    wait_until(lambda: field.get_property("value") == code, 5, "the code typed")
    return field


def forgotten(driver: Any, field: Any, *codes: str) -> None:
    """The field is empty and no code is anywhere in the page."""
    wait_until(lambda: field.get_property("value") == "", 5, "the code field emptied")
    page = driver.execute_script(PAGE)
    for code in codes:
        assert code not in page["text"], f"{code!r} in the page's text"
        assert f'"{code}"' not in page["html"] and f">{code}<" not in page["html"], \
            f"{code!r} in the page's markup"
        assert all(code not in value for value in page["values"]), f"{code!r} in an input"


@pytest.mark.slow
def test_codes_for_a_lock_and_an_alarm_panel_in_a_real_browser(broker: Any,
                                                                tmp_path: Path) -> None:
    missing = chromium_available()
    if missing:
        pytest.fail(missing, pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with coded_world(broker) as devices, \
            running_lab(tmp_path, broker, free_port(), [], ui={"control_timeout": 2.0}) as lab, \
            lab.api() as api, chromium(tmp_path / "profile") as driver:
        api.login()
        wait_until(lambda: (api.entity(LOCK_ID) or {}).get("state") == "unlocked"
                   and (api.entity(ALARM_ID) or {}).get("state") == "disarmed", 30,
                   "the coded lock and alarm panel in the registry")
        sign_in(driver, lab.url, "[data-page] > *", "the panel after signing in")

        # ---- the lock: a code field beside its switch ----------------------------------------
        driver.get(f"{lab.url}/entity/{LOCK_ID}")
        switch = f'[data-control="{LOCK_ID}"]'
        error = f'[data-error="{LOCK_ID}"]'
        is_state(driver, LOCK_ID, "unlocked")
        field = find(driver, f'input[data-code="{LOCK_ID}"]')
        assert field.get_attribute("type") == "password"
        assert field.get_attribute("inputmode") == "numeric"  # a digits-only code_format

        find(driver, switch).click()  # no code
        shows(driver, error, "Enter the code first: nothing was sent.")
        enter(driver, LOCK_ID, "24x8")
        find(driver, switch).click()
        shows(driver, error, "That is not a code this device takes: nothing was sent.")
        forgotten(driver, field, "24x8")
        assert devices.commands(DOOR_SET) == [], "a refused code was sent"
        driver.save_screenshot(str(ARTIFACTS / "lock_code_refused.png"))

        enter(driver, LOCK_ID, "1357")  # the right form: sent; the lock refuses it
        find(driver, switch).click()
        shows(driver, error, "did not confirm 'locked'")
        assert devices.commands(DOOR_SET) == [b'{"state": "LOCK", "code": "1357"}']
        forgotten(driver, field, "1357")
        assert api.entity(LOCK_ID)["state"] == "unlocked"

        enter(driver, LOCK_ID, LOCK_CODE)
        find(driver, switch).click()
        is_state(driver, LOCK_ID, "locked")
        wait_until(lambda: api.entity(LOCK_ID)["state"] == "locked", 5, "the hub: locked")
        assert not find(driver, error).is_displayed()
        forgotten(driver, field, LOCK_CODE)
        driver.save_screenshot(str(ARTIFACTS / "lock_code_locked.png"))
        enter(driver, LOCK_ID, LOCK_CODE)
        find(driver, switch).click()
        is_state(driver, LOCK_ID, "unlocked")
        forgotten(driver, field, LOCK_CODE)

        # ---- the alarm panel: arming needs no code, disarming does ---------------------------
        driver.get(f"{lab.url}/entity/{ALARM_ID}")
        error = f'[data-error="{ALARM_ID}"]'
        is_state(driver, ALARM_ID, "disarmed")
        field = find(driver, f'input[data-code="{ALARM_ID}"]')
        assert field.get_attribute("type") == "password"
        assert field.get_attribute("inputmode") == "numeric"  # code_format "number"
        find(driver, f'[data-key="{ALARM_ID}:alarm_arm_away"]').click()
        is_state(driver, ALARM_ID, "armed_away")
        assert devices.commands(ALARM_SET) == [b"ARM_AWAY"]

        enter(driver, ALARM_ID, "1234")
        find(driver, f'[data-key="{ALARM_ID}:alarm_disarm"]').click()
        shows(driver, error, "Wrong code: nothing was sent.")
        forgotten(driver, field, "1234")
        assert devices.commands(ALARM_SET) == [b"ARM_AWAY"]
        driver.save_screenshot(str(ARTIFACTS / "alarm_code_refused.png"))
        enter(driver, ALARM_ID, ALARM_CODE)
        find(driver, f'[data-key="{ALARM_ID}:alarm_disarm"]').click()
        is_state(driver, ALARM_ID, "disarmed")
        assert devices.commands(ALARM_SET) == [b"ARM_AWAY", b"DISARM"]
        forgotten(driver, field, ALARM_CODE)
        assert api.entity(ALARM_ID)["state"] == "disarmed"
