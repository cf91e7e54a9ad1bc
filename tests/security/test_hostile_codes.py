"""Codes with markup and script in them never render: a user's typed code, a lock's
``code_format`` from the network, an alarm panel's config ``code`` (tests/coded_devices.py).

A third party announces a lock whose ``code_format`` is an alternation of markup, a Vue
template and four digits, and an alarm panel whose secret ``code`` is markup. A real
``spark hub`` serves the panel; headless Chromium types hostile codes (one the hub refuses for
its form, one of the lock's form that the hub sends and the lock refuses, a wrong one for the
alarm, then the alarm's own): each press answers in our words, nothing ran (``window.__pwned``
unset, no element or attribute from the codes), the typed code is in no text, markup or input
after the press, the ``code_format`` shows as text only, and the alarm's code is on no page and
in no API answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from broker_fixture import free_port
from coded_devices import ALARM_ID, DOOR_SET, LOCK_ID, alarm_config, coded_world, lock_config
from e2e.harness import (
    chromium,
    chromium_available,
    running_lab,
    sign_in,
    wait_text,
    wait_until,
)

# (the typed code of the form is not a part of the format's text: "." stands for its "x")
FORMAT = r"^(\d{4}|<img src=. data-pwn=1 onerror=window.__pwned=1>|{{window.__pwned=3}})$"
OF_THE_FORM = "<img src=x data-pwn=1 onerror=window.__pwned=1>"  # matches FORMAT: sent
NOT_OF_THE_FORM = '"><script>window.__pwned=2</script><svg data-pwn=4 onload=x>'
WRONG = ':x="(window.__pwned=5)" ${window.__pwned=6} <b data-pwn=5>'
ALARM_SECRET = "<i data-pwn=6 onclick=window.__pwned=7>o</i>{{window.__pwned=8}}"

PROBE = """
const injected = [...document.querySelectorAll(
  '[data-pwn], [onerror], [onload], [onclick], [x], img[src="x"]')]
  .map(e => e.outerHTML.slice(0, 120));
return {pwned: window.__pwned === undefined ? null : String(window.__pwned),
        injected: injected, text: document.body.innerText, all: document.body.textContent,
        html: document.documentElement.outerHTML,
        values: [...document.querySelectorAll('input')].map(i => i.value)};
"""


def press(driver: Any, entity_id: str, code: str, button: str, says: str) -> dict[str, Any]:
    """Type ``code``, press ``button``, wait for ``says``; then the page is clean of it."""
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, f'input[data-code="{entity_id}"]')
    field.send_keys(code)
    wait_until(lambda: field.get_property("value") == code, 5, "the code typed")
    driver.find_element(By.CSS_SELECTOR, button).click()
    wait_text(driver, f'[data-error="{entity_id}"]', says, 15)
    wait_until(lambda: field.get_property("value") == "", 5, "the code field emptied")
    found: dict[str, Any] = driver.execute_script(PROBE)
    assert found["pwned"] is None, f"script from a code ran ({found['pwned']})"
    assert found["injected"] == [], f"markup from a code: {found['injected']}"
    for where in ("all", "html"):
        assert code not in found[where], f"the typed code is in the page ({where})"
    assert all(code not in value for value in found["values"]), "the typed code is in an input"
    return found


@pytest.mark.slow
def test_hostile_codes_and_code_formats_never_render(broker: Any, tmp_path: Path) -> None:
    missing = chromium_available()
    if missing:
        pytest.fail(missing, pytrace=False)
    with coded_world(broker, lock=lock_config(FORMAT), alarm=alarm_config(ALARM_SECRET)) \
            as devices, \
            running_lab(tmp_path, broker, free_port(), [], ui={"control_timeout": 2.0}) as lab, \
            lab.api() as api, chromium(tmp_path / "profile") as driver:
        api.login()
        wait_until(lambda: (api.entity(LOCK_ID) or {}).get("state") == "unlocked"
                   and (api.entity(ALARM_ID) or {}).get("state") == "disarmed", 30,
                   "the hostile lock and alarm panel in the registry")
        sign_in(driver, lab.url, "[data-page] > *", "the panel after signing in")

        driver.get(f"{lab.url}/entity/{LOCK_ID}")
        wait_text(driver, f'[data-entity="{LOCK_ID}"]', "unlocked", 15)
        switch = f'[data-control="{LOCK_ID}"]'
        found = press(driver, LOCK_ID, NOT_OF_THE_FORM, switch,
                      "That is not a code this device takes: nothing was sent.")
        assert FORMAT in found["all"], "the code_format is shown (as text) among the attributes"
        assert devices.commands(DOOR_SET) == []
        press(driver, LOCK_ID, OF_THE_FORM, switch, f"{LOCK_ID} did not confirm 'locked' "
              "within 2.0s")
        assert len(devices.commands(DOOR_SET)) == 1  # of the lock's form: sent, and refused

        driver.get(f"{lab.url}/entity/{ALARM_ID}")
        wait_text(driver, f'[data-entity="{ALARM_ID}"]', "disarmed", 15)
        field = driver.find_element("css selector", f'input[data-code="{ALARM_ID}"]')
        assert field.get_attribute("inputmode") is None  # code_format "text": no number pad
        driver.find_element("css selector", f'[data-key="{ALARM_ID}:alarm_arm_home"]').click()
        wait_text(driver, f'[data-entity="{ALARM_ID}"]', "armed_home", 15)
        disarm = f'[data-key="{ALARM_ID}:alarm_disarm"]'
        press(driver, ALARM_ID, WRONG, disarm, "Wrong code: nothing was sent.")
        driver.find_element("css selector", f'input[data-code="{ALARM_ID}"]').send_keys(
            ALARM_SECRET)
        driver.find_element("css selector", disarm).click()
        wait_text(driver, f'[data-entity="{ALARM_ID}"]', "disarmed", 15)
        found = driver.execute_script(PROBE)
        assert found["pwned"] is None and found["injected"] == [], found["injected"]
        assert ALARM_SECRET not in found["all"] and ALARM_SECRET not in found["html"]

        for path in (f"/api/entities/{ALARM_ID}", "/api/entities", "/api/devices"):
            assert ALARM_SECRET not in api.get(path).text, f"the alarm's code in {path}"
        for path in ("/entities?q=coded", f"/entity/{ALARM_ID}"):
            driver.get(lab.url + path)
            wait_until(lambda: ALARM_ID in driver.execute_script(PROBE)["all"], 15,
                       f"{path} lists the alarm panel")
            found = driver.execute_script(PROBE)
            assert found["pwned"] is None and found["injected"] == [], (path, found["injected"])
            assert ALARM_SECRET not in found["all"] and ALARM_SECRET not in found["html"], path
