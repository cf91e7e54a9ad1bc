"""The panel's controls of the multi-value platforms (core/platforms/: ``Control`` groups,
ui/controls.py: their widgets) with NiceGUI's simulated user, against a real hub and
Mosquitto: a cover's open / stop / close buttons and position slider, a climate's mode select
and target temperature, a fan's switch and percentage slider, each publishing what Home
Assistant would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from helpers import wait_for
from lab import publish_as, recorder, running_hub
from test_ui import SLOW, sign_in, simulated_panel

COVER = {"name": "Blind", "unique_id": "ui_blind", "default_entity_id": "cover.blind",
         "command_topic": "zigbee2mqtt/blind/set", "state_topic": "zigbee2mqtt/blind/state",
         "position_topic": "zigbee2mqtt/blind/pos",
         "set_position_topic": "zigbee2mqtt/blind/pos/set"}
CLIMATE = {"name": "Thermostat", "unique_id": "ui_thermostat",
           "default_entity_id": "climate.thermostat", "modes": ["off", "heat", "cool"],
           "mode_command_topic": "zigbee2mqtt/trv/mode/set",
           "temperature_command_topic": "zigbee2mqtt/trv/temp/set"}
FAN = {"name": "Ceiling fan", "unique_id": "ui_fan", "default_entity_id": "fan.ceiling",
       "command_topic": "zigbee2mqtt/fan/set", "percentage_command_topic": "zigbee2mqtt/fan/pct"}


async def test_cover_climate_and_fan_controls(broker: Any, tmp_path: Path) -> None:
    cfg = broker.spark_config(nodes=[], ui={"control_timeout": 2.0, "auth": {
        "admin_password": "admin password 1", "jwt_secret": "k" * 40}})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/#") as rec, \
            simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/cover/blind/cover/config", orjson.dumps(COVER), False),
            ("homeassistant/climate/trv/climate/config", orjson.dumps(CLIMATE), False),
            ("homeassistant/fan/fan/fan/config", orjson.dumps(FAN), False),
            ("zigbee2mqtt/blind/state", b"open", False),
            ("zigbee2mqtt/blind/pos", b"80", False)])
        reg = hub.registry
        await wait_for(lambda: all(reg.get(e) is not None for e in (
            "cover.blind", "climate.thermostat", "fan.ceiling"))
            and reg.get("cover.blind").state == "open", 10, what="the three entities")
        await panel.auth.register("otto", "operator password", "operator")
        user = new_user()
        await sign_in(user, "otto", "operator password")

        await user.open("/entity/cover.blind")
        await user.should_see(marker="control:cover.blind:open_cover")
        await user.should_see(marker="control:cover.blind:stop_cover")
        user.find(marker="control:cover.blind:close_cover").click()
        await wait_for(lambda: rec.payloads("zigbee2mqtt/blind/set") == [b"CLOSE"], 5,
                       what="CLOSE published")
        with user:
            slider = next(iter(user.find(marker="control:cover.blind:set_cover_position")
                               .elements))
            assert slider.value == 80  # the position the device reported
            slider.value = 30
        user.find(marker="control:cover.blind:set_cover_position").trigger("change")
        await wait_for(lambda: rec.payloads("zigbee2mqtt/blind/pos/set") == [b"30"], 5,
                       what="position 30 published")

        await user.open("/entity/climate.thermostat")
        await user.should_see(marker="state:climate.thermostat", content="off")
        with user:
            select = next(iter(user.find(marker="control:climate.thermostat:set_hvac_mode")
                               .elements))
            assert select.options == ["off", "heat", "cool"]
            select.value = "heat"
        await user.should_see(marker="state:climate.thermostat", content="heat", retries=SLOW)
        assert rec.payloads("zigbee2mqtt/trv/mode/set") == [b"heat"]
        with user:
            number = next(iter(user.find(marker="control:climate.thermostat:set_temperature")
                               .elements))
            assert number.value == 21  # HA's start value without a temperature state topic
            number.value = 22.5
        await wait_for(lambda: rec.payloads("zigbee2mqtt/trv/temp/set") == [b"22.5"], 5,
                       what="22.5 published")

        await user.open("/entity/fan.ceiling")
        user.find(marker="control:fan.ceiling:toggle").click()
        await wait_for(lambda: rec.payloads("zigbee2mqtt/fan/set") == [b"ON"], 5)
        await user.should_see(marker="state:fan.ceiling", content="on", retries=SLOW)
        with user:
            slider = next(iter(user.find(marker="control:fan.ceiling:set_percentage").elements))
            slider.value = 66
        user.find(marker="control:fan.ceiling:set_percentage").trigger("change")
        await wait_for(lambda: rec.payloads("zigbee2mqtt/fan/pct") == [b"66"], 5)
