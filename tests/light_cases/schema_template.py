"""HA's template schema light cases (``tests/components/mqtt/test_light_template.py``)."""

from __future__ import annotations

from light_cases.steps import ANY, C, Case, E, M

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
