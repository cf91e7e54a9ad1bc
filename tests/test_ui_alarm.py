"""The panel's alarm keypad, text field and the vacuum / lawn mower buttons (core/platforms:
``Control("alarm")``, ``Control("text")``, groups of buttons; ui/controls.py) with NiceGUI's
simulated user, against a real hub and Mosquitto: a wrong code is refused with nothing
published and the code never shown back; the right code arms; a text entity is set with Enter;
a vacuum starts, a mower docks (a mower without a start topic has no "Mow" button)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from helpers import wait_for
from lab import publish_as, recorder, running_hub
from test_ui import SLOW, sign_in, simulated_panel

ALARM = {"name": "House", "unique_id": "ui_alarm", "default_entity_id": "alarm_control_panel.house",
         "state_topic": "zigbee2mqtt/alarm/state", "command_topic": "zigbee2mqtt/alarm/set",
         "code": "4711", "supported_features": ["arm_home", "arm_away"]}
VACUUM = {"name": "Robot", "unique_id": "ui_vacuum", "default_entity_id": "vacuum.robot",
          "state_topic": "zigbee2mqtt/vac/state", "command_topic": "zigbee2mqtt/vac/set"}
MOWER = {"name": "Mower", "unique_id": "ui_mower", "default_entity_id": "lawn_mower.mower",
         "activity_state_topic": "zigbee2mqtt/mower/activity",
         "dock_command_topic": "zigbee2mqtt/mower/dock"}
TEXT = {"name": "Greeting", "unique_id": "ui_text", "default_entity_id": "text.greeting",
        "state_topic": "zigbee2mqtt/text/state", "command_topic": "zigbee2mqtt/text/set",
        "max": 10}


async def test_alarm_keypad_text_field_and_buttons(broker: Any, tmp_path: Path) -> None:
    cfg = broker.spark_config(nodes=[], ui={"control_timeout": 2.0, "auth": {
        "admin_password": "admin password 1", "jwt_secret": "k" * 40}})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/#") as rec, \
            simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/alarm_control_panel/alarm/x/config", orjson.dumps(ALARM), False),
            ("homeassistant/text/text/x/config", orjson.dumps(TEXT), False),
            ("homeassistant/vacuum/vac/x/config", orjson.dumps(VACUUM), False),
            ("homeassistant/lawn_mower/mower/x/config", orjson.dumps(MOWER), False),
            ("zigbee2mqtt/alarm/state", b"disarmed", False),
            ("zigbee2mqtt/text/state", b"hello", False)])
        reg = hub.registry
        alarm_id = "alarm_control_panel.house"
        await wait_for(lambda: reg.get(alarm_id) is not None
                       and reg.get(alarm_id).state == "disarmed"
                       and reg.get("text.greeting") is not None
                       and reg.get("vacuum.robot") is not None
                       and reg.get("lawn_mower.mower") is not None, 10, what="the entities")
        await panel.auth.register("otto", "operator password", "operator")
        user = new_user()
        await sign_in(user, "otto", "operator password")

        await user.open(f"/entity/{alarm_id}")
        await user.should_see(marker=f"key:{alarm_id}:alarm_disarm")
        await user.should_see(marker=f"key:{alarm_id}:alarm_arm_away")
        await user.should_not_see(marker=f"key:{alarm_id}:alarm_arm_night")
        with user:
            code = next(iter(user.find(marker=f"key:{alarm_id}:code").elements))
            code.value = "1111"
        user.find(marker=f"key:{alarm_id}:alarm_arm_away").click()
        await user.should_see(marker=f"error:{alarm_id}", content="Wrong code: nothing was sent.",
                              retries=SLOW)
        with user:
            error = next(iter(user.find(marker=f"error:{alarm_id}").elements))
            assert "1111" not in error.text and "4711" not in error.text
            assert code.value == ""  # cleared after each use
        assert rec.payloads("zigbee2mqtt/alarm/set") == []

        with user:
            code.value = "4711"
        user.find(marker=f"key:{alarm_id}:alarm_arm_away").click()
        await wait_for(lambda: rec.payloads("zigbee2mqtt/alarm/set") == [b"ARM_AWAY"], 5,
                       what="ARM_AWAY published")
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("zigbee2mqtt/alarm/state", b"armed_away", False)])
        await user.should_see(marker=f"state:{alarm_id}", content="armed_away", retries=SLOW)

        await user.open("/entity/text.greeting")
        with user:
            field = next(iter(user.find(marker="control:text.greeting").elements))
            assert field.value == "hello"
            field.value = "good day"
        user.find(marker="control:text.greeting").trigger("keydown.enter")
        await wait_for(lambda: rec.payloads("zigbee2mqtt/text/set") == [b"good day"], 5,
                       what="the text published")

        await user.open("/entity/vacuum.robot")
        user.find(marker="control:vacuum.robot:start").click()
        await wait_for(lambda: rec.payloads("zigbee2mqtt/vac/set") == [b"start"], 5,
                       what="start published")
        await user.open("/entity/lawn_mower.mower")
        await user.should_not_see(marker="control:lawn_mower.mower:start_mowing")  # no topic
        user.find(marker="control:lawn_mower.mower:dock").click()
        await wait_for(lambda: rec.payloads("zigbee2mqtt/mower/dock") == [b"dock"], 5,
                       what="dock published")
