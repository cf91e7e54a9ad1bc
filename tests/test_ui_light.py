"""The panel's light control (ui/controls.py ``LightWidget``) with NiceGUI's simulated user,
against a real hub, Mosquitto and a Zigbee2MQTT-shaped bulb that answers its commands: the
switch, the brightness and colour temperature sliders and the colour input send HA's data and
show what the bulb reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from helpers import wait_for
from lab import publish_as, running_hub
from nicegui import ui
from test_ui import ADMIN_PW, SLOW, sign_in, simulated_panel

from spark.core.mqtt import Message, MqttClient

BULB = "light.desk_bulb"
CONFIG = {
    "name": "Desk bulb", "unique_id": "z2m_desk_bulb", "object_id": "desk_bulb",
    "schema": "json", "state_topic": "zigbee2mqtt/desk_bulb",
    "command_topic": "zigbee2mqtt/desk_bulb/set", "brightness": True, "brightness_scale": 254,
    "supported_color_modes": ["color_temp", "xy"], "max_mireds": 454, "min_mireds": 250,
}


async def test_light_control_sends_brightness_colour_temperature_and_colour(
        broker: Any, tmp_path: Path) -> None:
    cfg = broker.spark_config(nodes=[], ui={"control_timeout": 5.0, "auth": {
        "admin_password": ADMIN_PW, "jwt_secret": "k" * 40}})
    pw = broker.passwords
    commands: list[dict[str, Any]] = []
    async with running_hub(cfg, pw["hub"]) as hub, \
            MqttClient(cfg.mqtt, "desk-bulb", username="zigbee2mqtt",
                       password=pw["zigbee2mqtt"]) as bulb:
        state: dict[str, Any] = {"state": "OFF", "brightness": 254,
                                 "color_mode": "color_temp", "color_temp": 300}

        def on_command(msg: Message) -> None:  # the bulb: does what it is told, reports it
            command = orjson.loads(msg.payload)
            commands.append(command)
            state.update({k: v for k, v in command.items() if k in ("state", "brightness")})
            if "color_temp" in command:
                state.update(color_mode="color_temp", color_temp=command["color_temp"])
            if "color" in command:
                state.update(color_mode="xy", color=command["color"])
            bulb.publish("zigbee2mqtt/desk_bulb", orjson.dumps(state), 1)

        bulb.subscribe("zigbee2mqtt/desk_bulb/set", on_command, 1)
        await bulb.wait_connected(10)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/light/desk_bulb/light/config", orjson.dumps(CONFIG), False),
            ("zigbee2mqtt/desk_bulb", orjson.dumps(state), False)])
        await wait_for(lambda: (r := hub.registry.get(BULB)) is not None and r.state == "off",
                       10, what="the bulb registered, off")
        try:
            async with simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
                await panel.auth.register("otto", "operator password", "operator")
                user = new_user()
                await sign_in(user, "otto", "operator password")
                await user.open(f"/entity/{BULB}")
                await user.should_see(marker=f"kelvin:{BULB}")
                await user.should_see(marker=f"colour:{BULB}")

                user.find(marker=f"control:{BULB}").click()  # the switch: on
                await user.should_see(marker=f"state:{BULB}", content="on", retries=SLOW)
                assert commands[-1] == {"state": "ON"}

                user.find(marker=f"brightness:{BULB}").trigger("change", 128)
                await wait_for(lambda: hub.registry.get(BULB).attributes.get("brightness")
                               == 128, 10, what="brightness 128 reported back")
                assert commands[-1] == {"state": "ON", "brightness": 127}  # HA's scaling

                user.find(marker=f"kelvin:{BULB}").trigger("change", 2700)
                await wait_for(lambda: hub.registry.get(BULB).attributes.get("color_temp")
                               == 370, 10, what="370 mireds reported back")
                assert commands[-1] == {"state": "ON", "color_temp": 370}

                with user:
                    colour = next(iter(user.find(marker=f"colour:{BULB}").elements))
                    colour.value = "#ff0000"
                user.find(marker=f"colour:{BULB}").trigger("change")
                await wait_for(lambda: hub.registry.get(BULB).attributes.get("color_mode")
                               == "xy", 10, what="xy colour reported back")
                assert commands[-1] == {"state": "ON", "color": {"x": 0.701, "y": 0.299}}

                user.find(marker=f"brightness:{BULB}").trigger("change", "<b>bold</b>")
                user.find(marker=f"control:{BULB}").click()  # off
                await user.should_see(marker=f"state:{BULB}", content="off", retries=SLOW)
                assert commands[-1] == {"state": "OFF"}
                assert len(commands) == 5  # the text was not sent
                slider = next(iter(user.find(kind=ui.slider).elements))
                assert slider.enabled
        finally:
            await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
                ("homeassistant/light/desk_bulb/light/config", b"", True)])
