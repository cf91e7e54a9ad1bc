"""Light cases after Home Assistant's ``tests/components/mqtt/test_light.py``,
``test_light_json.py`` and ``test_light_template.py`` (HA 2025.x), as data: a config, then steps
(a message on a topic, a service call with the messages HA publishes for it, an expected state
and attributes). Topics are relative to the case's own base ``zigbee2mqtt/<case id>`` (the
config's ``~``). Read by tests/test_platform_light.py, which runs every case in-process and all
of them through a real hub and Mosquitto.

Attribute expectations compare like HA's ``state.attributes.get(key)``: ``None`` also matches a
missing key; tuples and lists are the same. JSON payloads (dicts) compare parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY: Any = object()  # an expectation that does not check the state


@dataclass(frozen=True)
class Case:
    id: str
    config: dict[str, Any]
    steps: tuple[tuple[Any, ...], ...]
    source: str = ""  # the HA test it comes from
    tags: tuple[str, ...] = field(default=())


def M(sub: str, payload: str | bytes) -> tuple[Any, ...]:
    """A message from the device on ``~/<sub>``."""
    return ("msg", sub, payload.encode() if isinstance(payload, str) else payload)


def C(service: str, data: dict[str, Any] | None = None, *sent: tuple[str, Any]
      ) -> tuple[Any, ...]:
    """A service call and the messages HA publishes for it, in HA's order."""
    return ("call", service, data or {}, sent)


def E(state: Any = ANY, **attrs: Any) -> tuple[Any, ...]:
    """The state and attributes expected now."""
    return ("expect", state, attrs)


ALL_TOPICS = {  # HA's test_controlling_state_via_topic config
    "state_topic": "~/status", "command_topic": "~/set",
    "brightness_state_topic": "~/brightness/status", "brightness_command_topic": "~/brightness/set",
    "rgb_state_topic": "~/rgb/status", "rgb_command_topic": "~/rgb/set",
    "rgbw_state_topic": "~/rgbw/status", "rgbw_command_topic": "~/rgbw/set",
    "rgbww_state_topic": "~/rgbww/status", "rgbww_command_topic": "~/rgbww/set",
    "color_temp_state_topic": "~/color_temp/status", "color_temp_command_topic": "~/color_temp/set",
    "effect_state_topic": "~/effect/status", "effect_command_topic": "~/effect/set",
    "hs_state_topic": "~/hs/status", "hs_command_topic": "~/hs/set",
    "xy_state_topic": "~/xy/status", "xy_command_topic": "~/xy/set",
}
MODES6 = ["color_temp", "hs", "rgb", "rgbw", "rgbww", "xy"]
OPTIMISTIC_ALL = {k: v for k, v in ALL_TOPICS.items() if "command" in k}

BASIC: list[Case] = [
    Case("no_topics", {"state_topic": "~/status", "command_topic": "~/set"}, (
        E(None, supported_color_modes=["onoff"], color_mode=None, brightness=None,
          supported_features=0, assumed_state=None),
        M("status", "ON"),
        E("on", color_mode="onoff", brightness=None, rgb_color=None, hs_color=None,
          xy_color=None, color_temp_kelvin=None),
        M("status", "OFF"), E("off", color_mode=None),
        M("status", "None"), E(None),
        M("seq", '{"brightness": 9, "color_mode": "rgb", "hello": 1}'),  # json_attributes
        E(None, brightness=None, color_mode=None, hello=1),  # HA: light attributes blocked
    ), "test_no_color_brightness_color_temp_hs_white_xy_if_no_topics; blocked attributes"),
    Case("state_via_topic", {**ALL_TOPICS, "payload_on": 1, "payload_off": 0}, (
        M("status", "1"),
        E("on", color_mode="unknown", brightness=None, rgb_color=None,
          supported_color_modes=MODES6, min_mireds=153, max_mireds=500,
          min_color_temp_kelvin=2000, max_color_temp_kelvin=6535),
        M("status", "0"), E("off", color_mode=None),
        M("status", "1"), M("brightness/status", "100"),
        E("on", brightness=None, color_mode="unknown"),
        M("color_temp/status", "300"),
        E(brightness=100, color_temp=300, color_temp_kelvin=3333, color_mode="color_temp"),
        M("effect/status", "rainbow"), E(effect="rainbow", color_mode="color_temp"),
        M("rgb/status", "125,125,125"), E(rgb_color=(125, 125, 125), color_mode="rgb"),
        M("rgbw/status", "80,40,20,10"), E(rgbw_color=(80, 40, 20, 10), color_mode="rgbw"),
        M("rgbww/status", "80,40,20,10,8"),
        E(rgbww_color=(80, 40, 20, 10, 8), color_mode="rgbww"),
        M("hs/status", "200,50"), E(hs_color=(200, 50), color_mode="hs"),
        M("xy/status", "0.675,0.322"), E(xy_color=(0.675, 0.322), color_mode="xy"),
    ), "test_controlling_state_via_topic"),
    Case("color_temp_mireds", {
        "state_topic": "~/status", "command_topic": "~/set",
        "brightness_state_topic": "~/brightness/status", "brightness_command_topic": "~/b/set",
        "color_temp_state_topic": "~/ct/status", "color_temp_command_topic": "~/ct/set"}, (
        E(None, supported_color_modes=["color_temp"], color_temp_kelvin=None),
        M("status", "ON"), M("brightness/status", "70"), M("ct/status", "300"),
        E("on", brightness=70, color_temp_kelvin=3333, color_mode="color_temp"),
    ), "test_controlling_color_mode_state_via_topic[mireds]"),
    Case("color_temp_kelvin", {
        "state_topic": "~/status", "command_topic": "~/set", "color_temp_kelvin": True,
        "brightness_state_topic": "~/brightness/status", "brightness_command_topic": "~/b/set",
        "color_temp_state_topic": "~/ct/status", "color_temp_command_topic": "~/ct/set"}, (
        M("status", "ON"), M("brightness/status", "70"), M("ct/status", "3333"),
        E("on", brightness=70, color_temp_kelvin=3333, color_temp=300, color_mode="color_temp"),
    ), "test_controlling_color_mode_state_via_topic[kelvin]"),
    Case("rgbx_optimistic", {
        "state_topic": "~/status", "command_topic": "~/set", "optimistic": True,
        "brightness_command_topic": "~/b/set", "color_mode_state_topic": "~/mode",
        "rgb_command_topic": "~/rgb/set", "rgb_state_topic": "~/rgb",
        "rgbw_command_topic": "~/rgbw/set", "rgbw_state_topic": "~/rgbw",
        "rgbww_command_topic": "~/rgbww/set", "rgbww_state_topic": "~/rgbww"}, (
        M("status", "ON"), M("rgb", "255,255,255"),
        E("on", brightness=255, color_mode="rgb", rgb_color=(255, 255, 255)),
        M("mode", "rgbww"), E(brightness=255, color_mode="rgbww"),
        M("rgb", "255,255,255"), E(color_mode="rgb", rgb_color=(255, 255, 255)),
        C("turn_on", {"brightness": 128}, ("b/set", "128"), ("set", "ON")),
        E("on", brightness=128, color_mode="rgb", rgb_color=(255, 255, 255)),
        M("rgb", "255,255,255"), E(brightness=255),
        M("rgb", "255,255,0"), E(brightness=255, rgb_color=(255, 255, 0)),
        M("rgbw", "255,255,255,255"), E(color_mode="rgbw", rgbw_color=(255, 255, 255, 255)),
        M("mode", "rgb"), E(color_mode="rgb"),
        M("rgbw", "255,255,255,255"), E(color_mode="rgbw"),
        C("turn_on", {"brightness": 128}, ("b/set", "128"), ("set", "ON")),
        E(brightness=128, color_mode="rgbw", rgbw_color=(255, 255, 255, 255)),
        M("rgbw", "255,255,128,255"), E(brightness=255, rgbw_color=(255, 255, 128, 255)),
        M("rgbww", "255,255,255,32,255"),
        E(brightness=255, color_mode="rgbww", rgbww_color=(255, 255, 255, 32, 255)),
        M("rgbww", "255,255,128,32,255"), E(rgbww_color=(255, 255, 128, 32, 255)),
    ), "test_received_rgbx_values_set_state_optimistic"),
    Case("invalid_state", {**ALL_TOPICS, "color_mode_state_topic": "~/color_mode/status",
                           "payload_on": 1, "payload_off": 0}, (
        M("status", "1"), M("color_mode/status", "rgb"), M("rgb/status", "255,255,255"),
        M("brightness/status", "255"), M("effect/status", "none"),
        E("on", rgb_color=(255, 255, 255), brightness=255, color_temp_kelvin=None,
          effect="none", hs_color=(0, 0), xy_color=(0.323, 0.329), color_mode="rgb"),
        M("status", ""), M("brightness/status", ""), M("color_mode/status", ""),
        M("effect/status", ""), M("rgb/status", ""), M("hs/status", ""),
        M("hs/status", "bad,bad"), M("xy/status", ""),
        E("on", brightness=255, color_mode="rgb", effect="none", rgb_color=(255, 255, 255),
          hs_color=(0, 0), xy_color=(0.323, 0.329)),
        M("rgbw/status", "255,255,255,1"), M("color_mode/status", "rgbw"),
        M("rgbw/status", ""), E(rgbw_color=(255, 255, 255, 1)),
        M("rgbww/status", "255,255,255,1,2"), M("color_mode/status", "rgbww"),
        M("rgbww/status", ""), E(rgbww_color=(255, 255, 255, 1, 2)),
        M("color_temp/status", "153"), M("color_mode/status", "color_temp"),
        E("on", rgb_color=(255, 255, 251), brightness=255, color_temp_kelvin=6535,
          effect="none", hs_color=(54.768, 1.6), xy_color=(0.325, 0.333)),
        M("color_temp/status", ""), E(color_temp_kelvin=6535),
    ), "test_invalid_state_via_topic"),
    Case("brightness_scale", {
        "state_topic": "~/status", "command_topic": "~/set", "brightness_scale": "99",
        "brightness_state_topic": "~/brightness/status", "brightness_command_topic": "~/b/set",
        "payload_on": "on", "payload_off": "off"}, (
        M("status", "on"), E("on", brightness=None),
        M("status", "off"), E("off"),
        M("status", "on"), M("brightness/status", "99"), E("on", brightness=255),
        M("brightness/status", "50"), E(brightness=129),
        C("turn_on", {"brightness": 128}, ("b/set", "50"), ("set", "on")),
    ), "test_brightness_controlling_scale"),
    Case("brightness_from_rgb", {
        "state_topic": "~/status", "command_topic": "~/set", "rgb_state_topic": "~/rgb/status",
        "rgb_command_topic": "~/rgb/set", "payload_on": "on", "payload_off": "off"}, (
        E(None, brightness=None),
        M("status", "on"), M("rgb/status", "255,0,0"), E("on", brightness=255),
        M("rgb/status", "128,64,32"), E(brightness=128, rgb_color=(255, 128, 64)),
        M("rgb/status", "0,0,0"), E(brightness=128, rgb_color=(255, 128, 64)),
        C("turn_on", {"brightness": 191}, ("rgb/set", "191,95,47"), ("set", "on")),
        M("rgb/status", "191,95,47"), E(brightness=191, rgb_color=(255, 127, 63)),
    ), "test_brightness_from_rgb_controlling_scale"),
    Case("state_templates", {
        **{k: v for k, v in ALL_TOPICS.items()},
        "state_value_template": "{{ value_json.hello }}",
        "brightness_value_template": "{{ value_json.hello }}",
        "color_temp_value_template": "{{ value_json.hello }}",
        "effect_value_template": "{{ value_json.hello }}",
        "hs_value_template": '{{ value_json.hello | join(",") }}',
        "rgb_value_template": '{{ value_json.hello | join(",") }}',
        "rgbw_value_template": '{{ value_json.hello | join(",") }}',
        "rgbww_value_template": '{{ value_json.hello | join(",") }}',
        "xy_value_template": '{{ value_json.hello | join(",") }}'}, (
        M("rgb/status", '{"hello": [1, 2, 3]}'), M("status", '{"hello": "ON"}'),
        M("brightness/status", '{"hello": "50"}'), M("effect/status", '{"hello": "rainbow"}'),
        E("on", brightness=50, rgb_color=(1, 2, 3), effect="rainbow", color_mode="rgb",
          supported_color_modes=MODES6),
        M("rgbw/status", '{"hello": [1, 2, 3, 4]}'),
        E(rgbw_color=(1, 2, 3, 4), color_mode="rgbw"),
        M("rgbww/status", '{"hello": [1, 2, 3, 4, 5]}'),
        E(rgbww_color=(1, 2, 3, 4, 5), color_mode="rgbww"),
        M("color_temp/status", '{"hello": "300"}'),
        E(color_temp_kelvin=3333, color_mode="color_temp"),
        M("hs/status", '{"hello": [100,50]}'), E(hs_color=(100, 50), color_mode="hs"),
        M("xy/status", '{"hello": [0.123,0.123]}'), E(xy_color=(0.123, 0.123), color_mode="xy"),
        M("brightness/status", '{"hello": 100}'), E(brightness=100),
        M("brightness/status", '{"hello": 50}'), E(brightness=50),
        M("brightness/status", '{"hello": 0}'), E(brightness=50),
    ), "test_controlling_state_via_topic_with_templates"),
    Case("commands_optimistic", {
        **OPTIMISTIC_ALL, "effect_list": ["colorloop", "random"], "qos": 2,
        "payload_on": "on", "payload_off": "off"}, (
        E(None, assumed_state=True, supported_features=4),
        C("turn_on", {"effect": "colorloop"}, ("effect/set", "colorloop"), ("set", "on")),
        E("on", effect="colorloop", color_mode="unknown", supported_color_modes=MODES6),
        C("turn_off", {}, ("set", "off")),
        E("off", color_mode=None),
        C("turn_on", {"brightness": 10, "rgb_color": [80, 40, 20]},
          ("rgb/set", "80,40,20"), ("brightness/set", "10"), ("set", "on")),
        E("on", brightness=10, rgb_color=(80, 40, 20), color_mode="rgb"),
        C("turn_on", {"brightness": 20, "rgbw_color": [80, 40, 20, 10]},
          ("rgbw/set", "80,40,20,10"), ("brightness/set", "20"), ("set", "on")),
        E("on", brightness=20, rgbw_color=(80, 40, 20, 10), color_mode="rgbw"),
        C("turn_on", {"brightness": 40, "rgbww_color": [80, 40, 20, 10, 8]},
          ("rgbww/set", "80,40,20,10,8"), ("brightness/set", "40"), ("set", "on")),
        E("on", brightness=40, rgbww_color=(80, 40, 20, 10, 8), color_mode="rgbww"),
        C("turn_on", {"brightness": 50, "hs_color": [359, 78]},
          ("hs/set", "359.0,78.0"), ("brightness/set", "50"), ("set", "on")),
        E("on", brightness=50, hs_color=(359.0, 78.0), color_mode="hs"),
        C("turn_on", {"brightness": 60, "xy_color": [0.2, 0.3]},
          ("xy/set", "0.2,0.3"), ("brightness/set", "60"), ("set", "on")),
        E("on", brightness=60, xy_color=(0.2, 0.3), color_mode="xy"),
        C("turn_on", {"color_temp_kelvin": 8000}, ("color_temp/set", "125"), ("set", "on")),
        E("on", brightness=60, color_temp_kelvin=8000, color_mode="color_temp"),
        C("turn_on", {"effect": "not-listed"}, ("set", "on")),
        E(effect="colorloop"),
    ), "test_sending_mqtt_commands_and_optimistic"),
    Case("rgb_command_template", {
        "command_topic": "~/set", "rgb_command_topic": "~/rgb/set",
        "rgb_command_template": '{{ "#%02x%02x%02x" | format(red, green, blue)}}',
        "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"rgb_color": [255, 128, 64]}, ("rgb/set", "#ff8040"), ("set", "on")),
        E("on", rgb_color=(255, 128, 64)),
    ), "test_sending_mqtt_rgb_command_with_template"),
    Case("rgbw_command_template", {
        "command_topic": "~/set", "rgbw_command_topic": "~/rgbw/set",
        "rgbw_command_template": '{{ "#%02x%02x%02x%02x" | format(red, green, blue, white)}}',
        "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"rgbw_color": [255, 128, 64, 32]}, ("rgbw/set", "#ff804020"),
          ("set", "on")),
        E("on", rgbw_color=(255, 128, 64, 32)),
    ), "test_sending_mqtt_rgbw_command_with_template"),
    Case("rgbww_command_template", {
        "command_topic": "~/set", "rgbww_command_topic": "~/rgbww/set",
        "rgbww_command_template": '{{ "#%02x%02x%02x%02x%02x" | '
                                  'format(red, green, blue, cold_white, warm_white)}}',
        "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"rgbww_color": [255, 128, 64, 32, 16]}, ("rgbww/set", "#ff80402010"),
          ("set", "on")),
        E("on", rgbww_color=(255, 128, 64, 32, 16)),
    ), "test_sending_mqtt_rgbww_command_with_template"),
    Case("ct_command_template_mireds", {
        "command_topic": "~/set", "color_temp_command_topic": "~/ct/set",
        "color_temp_command_template": "{{ (1000 / value) | round(0) }}",
        "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"color_temp_kelvin": 10000}, ("ct/set", "10"), ("set", "on")),
        E("on", color_temp_kelvin=10000),
    ), "test_sending_mqtt_color_temp_command_with_template[mireds]"),
    Case("ct_command_template_kelvin", {
        "command_topic": "~/set", "color_temp_command_topic": "~/ct/set",
        "color_temp_command_template": "{{ (0.5 * value) | round(0) }}",
        "color_temp_kelvin": True, "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"color_temp_kelvin": 10000}, ("ct/set", "5000"), ("set", "on")),
        E("on", color_temp_kelvin=10000),
    ), "test_sending_mqtt_color_temp_command_with_template[kelvin]"),
    Case("on_command_first", {"command_topic": "~/set", "brightness_command_topic": "~/bright",
                              "on_command_type": "first"}, (
        C("turn_on", {"brightness": 50}, ("set", "ON"), ("bright", "50")),
        C("turn_off", {}, ("set", "OFF")),
    ), "test_on_command_first"),
    Case("on_command_last", {"command_topic": "~/set", "brightness_command_topic": "~/bright"}, (
        C("turn_on", {"brightness": 50}, ("bright", "50"), ("set", "ON")),
        C("turn_off", {}, ("set", "OFF")),
    ), "test_on_command_last"),
    Case("on_command_brightness", {
        "command_topic": "~/set", "brightness_command_topic": "~/bright",
        "rgb_command_topic": "~/rgb", "on_command_type": "brightness"}, (
        C("turn_on", {}, ("bright", "255")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"brightness": 50}, ("bright", "50")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"rgb_color": [255, 128, 0]}, ("rgb", "255,128,0"), ("bright", "50")),
    ), "test_on_command_brightness"),
    Case("on_command_brightness_scaled", {
        "command_topic": "~/set", "brightness_command_topic": "~/bright",
        "brightness_scale": 100, "rgb_command_topic": "~/rgb",
        "on_command_type": "brightness"}, (
        C("turn_on", {}, ("bright", "100")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"brightness": 50}, ("bright", "20")),
        C("turn_on", {"brightness": 255}, ("bright", "100")),
        C("turn_on", {"brightness": 1}, ("bright", "1")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"rgb_color": [255, 128, 0]}, ("rgb", "255,128,0"), ("bright", "1")),
    ), "test_on_command_brightness_scaled"),
    Case("on_command_rgb", {"command_topic": "~/set", "rgb_command_topic": "~/rgb"}, (
        C("turn_on", {"brightness": 127}, ("rgb", "127,127,127"), ("set", "ON")),
        C("turn_on", {"brightness": 255}, ("rgb", "255,255,255"), ("set", "ON")),
        C("turn_on", {"brightness": 1}, ("rgb", "1,1,1"), ("set", "ON")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"rgb_color": [255, 128, 0]}, ("rgb", "1,0,0"), ("set", "ON")),
        C("turn_on", {"brightness": 255}, ("rgb", "255,128,0"), ("set", "ON")),
    ), "test_on_command_rgb"),
    Case("on_command_rgbw", {"command_topic": "~/set", "rgbw_command_topic": "~/rgbw"}, (
        C("turn_on", {"brightness": 127}, ("rgbw", "127,127,127,127"), ("set", "ON")),
        C("turn_on", {"brightness": 1}, ("rgbw", "1,1,1,1"), ("set", "ON")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"rgbw_color": [255, 128, 0, 16]}, ("rgbw", "1,0,0,0"), ("set", "ON")),
        C("turn_on", {"brightness": 255}, ("rgbw", "255,128,0,16"), ("set", "ON")),
    ), "test_on_command_rgbw"),
    Case("on_command_rgbww", {"command_topic": "~/set", "rgbww_command_topic": "~/rgbww"}, (
        C("turn_on", {"brightness": 127}, ("rgbww", "127,127,127,127,127"), ("set", "ON")),
        C("turn_on", {"brightness": 1}, ("rgbww", "1,1,1,1,1"), ("set", "ON")),
        C("turn_off", {}, ("set", "OFF")),
        C("turn_on", {"rgbww_color": [255, 128, 0, 16, 32]}, ("rgbww", "1,0,0,0,0"),
          ("set", "ON")),
        C("turn_on", {"brightness": 255}, ("rgbww", "255,128,0,16,32"), ("set", "ON")),
    ), "test_on_command_rgbww"),
    Case("on_command_rgb_template", {
        "command_topic": "~/set", "rgb_command_topic": "~/rgb",
        "rgb_command_template": "{{ red }}/{{ green }}/{{ blue }}"}, (
        C("turn_on", {"brightness": 127}, ("rgb", "127/127/127"), ("set", "ON")),
        C("turn_off", {}, ("set", "OFF")),
    ), "test_on_command_rgb_template"),
    Case("on_command_rgbww_template", {
        "command_topic": "~/set", "rgbww_command_topic": "~/rgbww",
        "rgbww_command_template": "{{ red }}/{{ green }}/{{ blue }}/{{ cold_white }}/"
                                  "{{ warm_white }}"}, (
        C("turn_on", {"brightness": 127}, ("rgbww", "127/127/127/127/127"), ("set", "ON")),
    ), "test_on_command_rgbww_template"),
    Case("tasmota_rgb_white", {  # a Tasmota RGB + white dimmer, HA's on_command_white case
        "command_topic": "~/cmnd/POWER", "state_value_template": "{{ value_json.POWER }}",
        "payload_off": "OFF", "payload_on": "ON",
        "brightness_command_topic": "~/cmnd/Dimmer", "brightness_scale": 100,
        "on_command_type": "brightness", "brightness_value_template": "{{ value_json.Dimmer }}",
        "rgb_command_topic": "~/cmnd/Color2", "white_command_topic": "~/cmnd/White",
        "white_scale": 100}, (
        E(None, supported_color_modes=["rgb", "white"], color_mode=None, brightness=None),
        C("turn_on", {"brightness": 192}, ("cmnd/Dimmer", "75")),
        C("turn_on", {"white": 255}, ("cmnd/White", "100")),
        C("turn_on", {"white": 64}, ("cmnd/White", "25")),
        C("turn_on", {}, ("cmnd/Dimmer", "25")),
        C("turn_off", {}, ("cmnd/POWER", "OFF")),
    ), "test_on_command_white"),
    Case("tasmota_dimmer", {  # the issue's Tasmota dimmer (SetOption19 discovery)
        "command_topic": "~/cmnd/POWER", "state_topic": "~/tele/STATE",
        "state_value_template": "{{ value_json.POWER }}",
        "brightness_command_topic": "~/cmnd/Dimmer", "brightness_state_topic": "~/tele/STATE",
        "brightness_scale": 100, "on_command_type": "brightness",
        "brightness_value_template": "{{ value_json.Dimmer }}"}, (
        M("tele/STATE", '{"POWER": "ON", "Dimmer": 40}'),
        E("on", brightness=102, color_mode="brightness", supported_color_modes=["brightness"]),
        C("turn_on", {"brightness": 128}, ("cmnd/Dimmer", "50")),
        C("turn_on", {"brightness_pct": 30}, ("cmnd/Dimmer", "30")),
        C("turn_off", {}, ("cmnd/POWER", "OFF")),
        M("tele/STATE", '{"POWER": "OFF", "Dimmer": 40}'), E("off", brightness=None),
        C("turn_on", {}, ("cmnd/Dimmer", "40")),
    ), "issue 17: Tasmota dimmer gets 50 on cmnd/Dimmer"),
    Case("explicit_color_mode", {**ALL_TOPICS, "color_mode_state_topic": "~/color_mode/status",
                                  "payload_on": 1, "payload_off": 0}, (
        M("status", "1"), E("on", color_mode="unknown", brightness=None),
        M("brightness/status", "100"), M("color_temp/status", "300"),
        E(color_mode="unknown", brightness=None, color_temp_kelvin=None),
        M("rgbww/status", "80,40,20,10,8"), E(color_mode="unknown"),
        M("color_mode/status", "color_temp"),
        E(color_mode="color_temp", brightness=100, color_temp_kelvin=3333),
        M("color_mode/status", "rgbww"),
        E(color_mode="rgbww", rgbww_color=(80, 40, 20, 10, 8), color_temp_kelvin=None),
        M("hs/status", "200,50"), E(color_mode="rgbww"),
        M("color_mode/status", "hs"), E(color_mode="hs", hs_color=(200, 50)),
        M("color_mode/status", "purple"), E(color_mode="hs"),
    ), "test_explicit_color_mode"),
    Case("command_templates", {
        "command_topic": "~/set", "brightness_command_topic": "~/b/set",
        "brightness_command_template": "{{ (1000 / value) | round(0) }}",
        "effect_command_topic": "~/fx/set", "effect_list": ["rainbow", "colorloop"],
        "effect_command_template": '{ "effect": "{{ value }}" }',
        "hs_command_topic": "~/hs/set",
        "hs_command_template": '{"hue": {{ hue | int }}, "sat": {{ sat | int }}}',
        "xy_command_topic": "~/xy/set", "xy_command_template": '{"x": {{ x }}, "y": {{ y }}}',
        "payload_on": "on", "payload_off": "off"}, (
        C("turn_on", {"brightness": 100}, ("b/set", "10"), ("set", "on")),
        E("on", brightness=None, color_mode="unknown"),  # HA: no brightness in mode unknown
        C("turn_on", {"effect": "colorloop"}, ("fx/set", '{ "effect": "colorloop" }'),
          ("set", "on")),
        E(effect="colorloop"),
        C("turn_on", {"hs_color": [30, 100]}, ("hs/set", '{"hue": 30, "sat": 100}'),
          ("set", "on")),
        E(color_mode="hs", hs_color=(30, 100), brightness=100),
        C("turn_on", {"xy_color": [0.151, 0.343]}, ("xy/set", '{"x": 0.151, "y": 0.343}'),
          ("set", "on")),
        E(color_mode="xy", xy_color=(0.151, 0.343)),
        C("turn_on", {"rgb_color": [255, 128, 0]},
          ("hs/set", '{"hue": 30, "sat": 100}'), ("set", "on")),
        E(color_mode="hs", hs_color=(30.118, 100.0)),
    ), "test_sending_mqtt_{brightness,effect,hs,xy}_command_with_template"),
    Case("per_attribute_optimistic", {  # a state topic, but none for brightness / colour
        "state_topic": "~/status", "command_topic": "~/set",
        "brightness_command_topic": "~/b/set", "color_temp_command_topic": "~/ct/set"}, (
        C("turn_on", {"brightness": 100, "color_temp_kelvin": 3000},
          ("b/set", "100"), ("ct/set", "333"), ("set", "ON")),
        E(None, brightness=None),  # the state waits for the device
        M("status", "ON"),
        E("on", brightness=100, color_temp_kelvin=3000, color_temp=333,
          color_mode="color_temp"),
        C("turn_off", {}, ("set", "OFF")), E("on"),
        M("status", "OFF"), E("off", brightness=None, color_mode=None),
        C("toggle", {"brightness": 20}, ("b/set", "20"), ("set", "ON")),
        M("status", "ON"), E("on", brightness=20),
        C("toggle", {}, ("set", "OFF")),
    ), "schema_basic: each attribute optimistic without its own state topic"),
    Case("value_template_ignored", {  # HA's basic schema drops value_template (not its key)
        "state_topic": "~/state", "command_topic": "~/set",
        "value_template": "{{ value_json.POWER }}"}, (
        M("state", '{"POWER": "ON"}'), E(None),
        M("state", "ON"), E("on", color_mode="onoff"),
    ), "schema_basic: MQTT_RW_SCHEMA has no value_template"),
]

JSON_MODES = ["color_temp", "hs", "rgb", "rgbw", "rgbww", "white", "xy"]
JSON_ALL = {"schema": "json", "state_topic": "~/state", "command_topic": "~/set",
            "effect": True, "supported_color_modes": JSON_MODES}
JSON_CMD = {"schema": "json", "command_topic": "~/set", "effect": True, "qos": 2,
            "supported_color_modes": JSON_MODES}
Z2M_BULB = {  # a Zigbee2MQTT colour-temperature bulb as Z2M announces it
    "schema": "json", "state_topic": "~", "command_topic": "~/set", "brightness": True,
    "brightness_scale": 254, "supported_color_modes": ["color_temp", "xy"],
    "min_mireds": 153, "max_mireds": 500, "effect": True,
    "effect_list": ["blink", "breathe", "okay", "channel_change", "finish_effect",
                    "stop_effect"]}

JSON: list[Case] = [
    Case("json_no_modes", {"schema": "json", "state_topic": "~/state",
                           "command_topic": "~/set"}, (
        E(None, supported_color_modes=["onoff"], brightness=None, rgb_color=None,
          supported_features=8 | 32, assumed_state=None),
        M("state", '{"state":"ON"}'),
        E("on", color_mode="onoff", brightness=None, rgb_color=None, hs_color=None),
        M("state", '{"state":"OFF"}'), E("off"),
        M("state", '{"state": null}'), E(None),
        M("state", '{"brightness": 10}'), E(None),  # no "state": HA drops the message
        M("state", "not json"), E(None),
        C("turn_on", {"transition": 5, "flash": "long"},
          ("set", {"state": "ON", "transition": 5, "flash": 10})),
        C("turn_off", {"transition": 2, "flash": "short"},
          ("set", {"state": "OFF", "transition": 2, "flash": 2})),
    ), "test_no_color_brightness_color_temp_if_no_topics"),
    Case("json_brightness_only", {"schema": "json", "state_topic": "~/state",
                                  "command_topic": "~/set", "brightness": True}, (
        E(None, supported_color_modes=["brightness"]),
        M("state", '{"state":"ON", "brightness": 50}'),
        E("on", brightness=50, color_mode="brightness", rgb_color=None),
        M("state", '{"state":"OFF"}'), E("off", brightness=None),
    ), "test_brightness_only"),
    Case("json_color_temp_only", {"schema": "json", "state_topic": "~/state",
                                  "command_topic": "~/set",
                                  "supported_color_modes": ["color_temp"]}, (
        M("state", '{"state":"ON", "color_mode": "color_temp", "color_temp": 250, '
                   '"brightness": 50}'),
        E("on", rgb_color=(255, 206, 166), brightness=50, color_temp_kelvin=4000,
          color_temp=250, xy_color=(0.42, 0.365), hs_color=(26.812, 34.87)),
        M("state", '{"state":"OFF"}'), E("off", color_temp_kelvin=None, color_mode=None),
    ), "test_color_temp_only"),
    Case("json_kelvin", {"schema": "json", "state_topic": "~/state", "command_topic": "~/set",
                         "color_temp_kelvin": True, "effect": True,
                         "supported_color_modes": ["color_temp", "hs"]}, (
        E(None, supported_color_modes=["color_temp", "hs"], effect_list=None,
          supported_features=4 | 8 | 32),
        M("state", '{"state":"ON","color":{"h": 44.098, "s": 2.43},"color_mode": "hs",'
                   '"brightness":255,"color_temp":155,"effect":"colorloop"}'),
        E("on", rgb_color=(255, 253, 249), brightness=255, color_temp_kelvin=None,
          effect="colorloop", xy_color=(0.328, 0.333), hs_color=(44.098, 2.43)),
        M("state", '{"state":"ON","brightness":255,"color":null,"color_mode":"color_temp",'
                   '"color_temp":6451,"effect":"colorloop"}'),
        E("on", rgb_color=(255, 253, 249), color_temp_kelvin=6451,
          xy_color=(0.328, 0.333), hs_color=(44.098, 2.43)),
        C("turn_on", {"color_temp_kelvin": 2700}, ("set", {"state": "ON", "color_temp": 2700})),
    ), "test_controlling_state_color_temp_kelvin"),
    Case("json_state_via_topic", JSON_ALL, (
        E(None, supported_color_modes=JSON_MODES, color_mode=None, effect=None),
        M("state", '{"state":"ON","color_mode":"rgbww","color":{"r":255,"g":128,"b":64, '
                   '"c": 32, "w": 16, "x": 1, "y": 1},"brightness":255,"color_temp":155,'
                   '"effect":"colorloop"}'),
        E("on", brightness=255, color_mode="rgbww", color_temp_kelvin=None,
          effect="colorloop", hs_color=(20.552, 70.98), rgb_color=(255, 136, 74),
          rgbw_color=None, rgbww_color=(255, 128, 64, 32, 16), xy_color=(0.571, 0.361)),
        M("state", '{"state":"OFF"}'), E("off"),
        M("state", '{"state":"ON", "brightness":100}'), E("on", brightness=100),
        M("state", '{"state":"ON", "brightness":0}'), E(brightness=100),
        M("state", '{"state":"ON", "color_mode":"rgb", "color":{"r":64,"g":128,"b":255}}'),
        E(color_mode="rgb", rgb_color=(64, 128, 255)),
        M("state", '{"state":"ON", "color_mode":"rgbw", '
                   '"color":{"r":64,"g":128,"b":255,"w":32}}'),
        E(color_mode="rgbw", rgbw_color=(64, 128, 255, 32)),
        M("state", '{"state":"ON", "color_mode":"xy", "color":{"x":0.135,"y":0.235}}'),
        E(color_mode="xy", xy_color=(0.135, 0.235)),
        M("state", '{"state":"ON", "color_mode":"hs", "color":{"h":180,"s":50}}'),
        E(color_mode="hs", hs_color=(180.0, 50.0)),
        M("state", '{"state":"ON", "color_mode":"color_temp", "color_temp":155}'),
        E(color_mode="color_temp", color_temp_kelvin=6451),
        M("state", '{"state":"ON", "color_mode":"white", "brightness":123}'),
        E(color_mode="white", brightness=123),
        M("state", '{"state":"ON", "effect":"other_effect"}'), E(effect="other_effect"),
        M("state", '{"state":"ON", "color_mode":"col_temp"}'), E(color_mode="white"),
        M("state", '{"state":"ON", "color_mode":"rgb"}'), E(color_mode="white"),
        M("state", '{"state":"ON", "color_mode":"rgb", "color":{"r":64,"g":128,"b":"cow"}}'),
        E(color_mode="white"),
    ), "test_controlling_state_via_topic"),
    Case("json_commands_optimistic", JSON_CMD, (
        C("turn_on", {}, ("set", {"state": "ON"})),
        E("on"),
        C("turn_on", {"color_temp_kelvin": 11111}, ("set", {"state": "ON", "color_temp": 90})),
        C("turn_off", {}, ("set", {"state": "OFF"})), E("off"),
        C("turn_on", {"brightness": 75, "hs_color": [359, 78]},
          ("set", {"state": "ON", "color": {"h": 359.0, "s": 78.0}, "brightness": 75})),
        E("on", brightness=75, color_mode="hs", hs_color=(359, 78), rgb_color=(255, 56, 59),
          xy_color=(0.654, 0.301), rgbw_color=None, rgbww_color=None),
        C("turn_on", {"rgb_color": [255, 128, 0]},
          ("set", {"state": "ON", "color": {"r": 255, "g": 128, "b": 0}})),
        E("on", brightness=75, color_mode="rgb", hs_color=(30.118, 100.0),
          rgb_color=(255, 128, 0), xy_color=(0.611, 0.375)),
        C("turn_on", {"rgbw_color": [255, 128, 0, 123]},
          ("set", {"state": "ON", "color": {"r": 255, "g": 128, "b": 0, "w": 123}})),
        E(color_mode="rgbw", rgbw_color=(255, 128, 0, 123), hs_color=(30.0, 67.451),
          rgb_color=(255, 169, 83), xy_color=(0.526, 0.393)),
        C("turn_on", {"rgbww_color": [255, 128, 0, 45, 32]},
          ("set", {"state": "ON", "color": {"r": 255, "g": 128, "b": 0, "c": 45, "w": 32}})),
        E(color_mode="rgbww", rgbww_color=(255, 128, 0, 45, 32), hs_color=(29.872, 92.157),
          rgb_color=(255, 137, 20), xy_color=(0.596, 0.382)),
        C("turn_on", {"brightness": 50, "xy_color": [0.123, 0.223]},
          ("set", {"state": "ON", "color": {"x": 0.123, "y": 0.223}, "brightness": 50})),
        E(brightness=50, color_mode="xy", hs_color=(196.471, 100.0), rgb_color=(0, 185, 255),
          xy_color=(0.123, 0.223)),
        C("turn_on", {"white": 75}, ("set", {"state": "ON", "white": 75})),
        E(brightness=75, color_mode="white", hs_color=None, rgb_color=None, xy_color=None),
        C("turn_on", {"brightness": 60, "white": 80}, ("set", {"state": "ON", "white": 60})),
        E(brightness=60, color_mode="white"),
        C("turn_on", {"brightness": 0}, ("set", {"state": "OFF"})),
        E("off"),
    ), "test_sending_mqtt_commands_and_optimistic"),
    Case("json_hs_only", {"schema": "json", "command_topic": "~/set",
                          "supported_color_modes": ["hs"]}, (
        C("turn_on", {"brightness": 50, "xy_color": [0.123, 0.123]},
          ("set", {"state": "ON", "color": {"h": 210.824, "s": 100.0}, "brightness": 50})),
        C("turn_on", {"brightness": 50, "hs_color": [359, 78]},
          ("set", {"state": "ON", "color": {"h": 359.0, "s": 78.0}, "brightness": 50})),
        C("turn_on", {"rgb_color": [255, 128, 0]},
          ("set", {"state": "ON", "color": {"h": 30.118, "s": 100.0}})),
        C("turn_on", {"color_name": "Dark Red"},
          ("set", {"state": "ON", "color": {"h": 0.0, "s": 100.0}})),
        C("turn_on", {"color_name": "no such colour"},  # HA: white, with a warning
          ("set", {"state": "ON", "color": {"h": 0.0, "s": 0.0}})),
    ), "test_sending_hs_color; color_name"),
    Case("json_rgb_no_brightness", {"schema": "json", "command_topic": "~/set",
                                    "supported_color_modes": ["rgb"]}, (
        C("turn_on", {"brightness": 50, "xy_color": [0.123, 0.123]},
          ("set", {"state": "ON", "color": {"r": 0, "g": 24, "b": 50}})),
        C("turn_on", {"brightness": 50, "hs_color": [359, 78]},
          ("set", {"state": "ON", "color": {"r": 50, "g": 11, "b": 12}})),
        C("turn_on", {"rgb_color": [255, 128, 0], "brightness": 255},
          ("set", {"state": "ON", "color": {"r": 255, "g": 128, "b": 0}})),
    ), "test_sending_rgb_color_no_brightness"),
    Case("z2m_bulb", Z2M_BULB, (  # the issue's Zigbee2MQTT bulb
        E(None, supported_color_modes=["color_temp", "xy"], min_mireds=153, max_mireds=500,
          min_color_temp_kelvin=2000, max_color_temp_kelvin=6535),
        M("", '{"state":"ON","brightness":254,"color_mode":"color_temp","color_temp":370,'
              '"linkquality":120}'),
        E("on", brightness=255, color_temp=370, color_temp_kelvin=2702,
          color_mode="color_temp", effect=None),
        C("turn_on", {"brightness": 128}, ("set", {"state": "ON", "brightness": 127})),
        C("turn_on", {"color_temp_kelvin": 2700}, ("set", {"state": "ON", "color_temp": 370})),
        C("turn_on", {"color_temp": 250}, ("set", {"state": "ON", "color_temp": 250})),
        C("turn_on", {"xy_color": [0.3, 0.4], "transition": 3},
          ("set", {"state": "ON", "color": {"x": 0.3, "y": 0.4}, "transition": 3})),
        C("turn_on", {"effect": "breathe"}, ("set", {"state": "ON", "effect": "breathe"})),
        C("turn_on", {"rgbw_color": [255, 0, 0, 0]},
          ("set", {"state": "ON", "color": {"x": 0.701, "y": 0.299}})),
        C("turn_on", {"brightness_pct": 50}, ("set", {"state": "ON", "brightness": 127})),
        C("turn_on", {"brightness_step_pct": -10},
          ("set", {"state": "ON", "brightness": 229})),
        C("turn_on", {"brightness_step": -55}, ("set", {"state": "ON", "brightness": 199})),
        C("turn_off", {"transition": 1}, ("set", {"state": "OFF", "transition": 1})),
        M("", '{"state":"ON","brightness":128,"color_mode":"xy","color":{"x":0.3,"y":0.4}}'),
        E("on", brightness=129, color_mode="xy", xy_color=(0.3, 0.4), color_temp=None),
    ), "issue 17: Z2M bulb (128 -> 127, 2700 K -> 370, effect, xy, rgbw, transition)"),
]

TEMPLATE_CFG = {
    "schema": "template", "command_topic": "~/set", "state_topic": "~/state",
    "command_on_template": "on,{{ brightness|d }},{{ color_temp|d }},{{ red|d }}-"
                           "{{ green|d }}-{{ blue|d }},{{ effect|d }},{{ flash|d }},"
                           "{{ transition|d }}",
    "command_off_template": "off,{{ transition|d }}",
    "state_template": '{{ value.split(",")[0] }}',
    "brightness_template": '{{ value.split(",")[1] }}',
    "color_temp_template": '{{ value.split(",")[2] }}',
    "effect_template": '{{ value.split(",")[3] }}',
    "red_template": '{{ value.split(",")[4].split("-")[0] }}',
    "green_template": '{{ value.split(",")[4].split("-")[1] }}',
    "blue_template": '{{ value.split(",")[4].split("-")[2] }}',
    "effect_list": ["rainbow", "colorloop"],
}

TEMPLATE: list[Case] = [
    Case("template_state_change", {
        "schema": "template", "effect_list": ["rainbow", "colorloop"],
        "state_topic": "~/state", "command_topic": "~/set",
        "command_on_template": "on,{{ brightness|d }},{{ color_temp|d }},{{ red|d }}-"
                               "{{ green|d }}-{{ blue|d }},{{ effect|d }}",
        "command_off_template": "off",
        "state_template": '{{ value.split(",")[0] }}',
        "brightness_template": '{{ value.split(",")[1] }}',
        "color_temp_template": '{{ value.split(",")[2] }}',
        "red_template": '{{ value.split(",")[3].split("-")[0] }}',
        "green_template": '{{ value.split(",")[3].split("-")[1] }}',
        "blue_template": '{{ value.split(",")[3].split("-")[2] }}',
        "effect_template": '{{ value.split(",")[4] }}'}, (
        E(None, rgb_color=None, brightness=None, effect=None, color_temp=None),
        M("state", "on,255,145,255-128-64,"),
        E("on", rgb_color=(255, 128, 64), brightness=255, color_temp_kelvin=None, effect=None),
        M("state", "on,255,145,None-None-None,"),
        E("on", rgb_color=(246, 244, 255), brightness=255, color_temp=145, effect=None,
          xy_color=(0.317, 0.317), hs_color=(251.249, 4.253)),
        M("state", "None"), E(None),
        M("state", "off"), E("off"),
        M("state", "on,100"), E("on", brightness=100),
        M("state", "on,0"), E(brightness=100),
        M("state", "on,,195"), E(color_temp_kelvin=5128, color_temp=195),
        M("state", "on,,,41-42-43"), E(rgb_color=(243, 249, 255)),
        M("state", "on,,,41-42-43,rainbow"), E(effect="rainbow"),
    ), "test_state_brightness_color_effect_temp_change_via_topic"),
    Case("template_commands_optimistic", {
        "schema": "template", "command_topic": "~/set",
        "command_on_template": "on,{{ brightness|d }},{{ color_temp|d }},{{ red|d }}-"
                               "{{ green|d }}-{{ blue|d }},{{ hue|d }}-{{ sat|d }}",
        "command_off_template": "off", "effect_list": ["colorloop", "random"],
        "optimistic": True, "state_template": '{{ value.split(",")[0] }}',
        "color_temp_template": '{{ value.split(",")[2] }}',
        "red_template": '{{ value.split(",")[3].split("-")[0] }}',
        "green_template": '{{ value.split(",")[3].split("-")[1] }}',
        "blue_template": '{{ value.split(",")[3].split("-")[2] }}',
        "effect_template": '{{ value.split(",")[4] }}', "qos": 2}, (
        C("turn_off", {}, ("set", "off")), E("off"),
        C("turn_on", {}, ("set", "on,,,--,-")), E("on"),
        C("turn_on", {"color_temp": 70}, ("set", "on,,70,--,-")), E("on", color_temp=70),
        C("turn_on", {"brightness": 255}, ("set", "on,255,,--,-")),
        C("turn_on", {"rgb_color": [255, 128, 0]}, ("set", "on,,,255-128-0,30.118-100.0")),
        E("on", rgb_color=(255, 128, 0)),
        C("turn_on", {"rgb_color": [128, 64, 0]}, ("set", "on,,,255-128-0,30.0-100.0")),
        E("on", rgb_color=(255, 128, 0)),  # (HA before 2024 truncated: 255-127-0)
        C("turn_on", {"brightness": 128}, ("set", "on,128,,--,-")),
        C("turn_on", {"rgb_color": [0, 255, 128]}, ("set", "on,,,0-128-64,150.118-100.0")),
        E("on", rgb_color=(0, 255, 128)),
        C("turn_on", {"rgb_color": [0, 32, 16]}, ("set", "on,,,0-128-64,150.0-100.0")),
        E("on", rgb_color=(0, 255, 128)),  # (HA before 2024 truncated: 0, 255, 127)
    ), "test_sending_mqtt_commands_and_optimistic"),
    Case("template_state", TEMPLATE_CFG, (
        E(None, supported_color_modes=["color_temp", "hs"], effect_list=["rainbow",
                                                                          "colorloop"]),
        M("state", "on,255,145,rainbow,255-128-64"),
        E("on", brightness=255, color_temp_kelvin=None, color_mode="hs", effect="rainbow",
          hs_color=(20.105, 74.902), rgb_color=(255, 128, 64)),
        M("state", "on,100,145,colorloop,None-None-None"),
        E("on", brightness=100, color_mode="color_temp", color_temp=145,
          color_temp_kelvin=6896, effect="colorloop", hs_color=(251.249, 4.253)),
        M("state", "on,0,145,disco,None-None-None"), E(brightness=100, effect="colorloop"),
        M("state", "off,0,145,rainbow,1-2-3"), E("off", brightness=None, color_mode=None),
        M("state", "None,1,145,rainbow,1-2-3"), E(None),
        M("state", "maybe,1,145,rainbow,1-2-3"), E(None),
    ), "test_state_change_via_topic / test_state_brightness_color_effect_temp_change"),
    Case("template_commands", TEMPLATE_CFG, (
        C("turn_on", {}, ("set", "on,,,--,,,")),
        C("turn_on", {"brightness": 50}, ("set", "on,50,,--,,,")),
        C("turn_on", {"color_temp_kelvin": 5000}, ("set", "on,,200,--,,,")),
        C("turn_on", {"rgb_color": [255, 128, 0]},
          ("set", "on,,,255-128-0,,,")),
        C("turn_on", {"hs_color": [359, 78], "brightness": 10},
          ("set", "on,10,,255-56-59,,,")),
        C("turn_on", {"effect": "colorloop", "flash": "short", "transition": 10},
          ("set", "on,,,--,colorloop,short,10.0")),
        C("turn_off", {"transition": 4}, ("set", "off,4.0")),
        C("turn_off", {}, ("set", "off,")),
        E(ANY, supported_color_modes=["color_temp", "hs"]),
    ), "test_sending_mqtt_commands_non_optimistic_brightness_template"),
    Case("template_optimistic", {
        "schema": "template", "command_topic": "~/set",
        "command_on_template": "on,{{ brightness|d }},{{ red|d }}-{{ green|d }}-{{ blue|d }}",
        "command_off_template": "off", "red_template": "{{ 1 }}",
        "green_template": "{{ 1 }}", "blue_template": "{{ 1 }}"}, (
        E(None, supported_color_modes=["hs"], supported_features=8 | 32, assumed_state=True),
        C("turn_on", {}, ("set", "on,,--")),
        E("on", color_mode="hs", hs_color=None),
        C("turn_on", {"hs_color": [359, 78], "brightness": 128},
          ("set", "on,128,128-28-30")),
        E("on", brightness=128, hs_color=(359, 78), rgb_color=(255, 56, 59)),
        C("turn_on", {"rgb_color": [255, 128, 0]}, ("set", "on,,128-64-0")),
        E("on", hs_color=(30.118, 100.0)),
        C("turn_off", {}, ("set", "off")), E("off", hs_color=None, brightness=None),
    ), "test_sending_mqtt_commands_and_optimistic"),
]

CASES: list[Case] = [*BASIC, *JSON, *TEMPLATE]
