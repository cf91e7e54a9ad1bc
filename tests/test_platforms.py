"""The platform modules (core/platforms/) as one contract: every platform found by the package
scan is consistent (its control and voice words only use services it has, its schema is a
discovery schema), and the parts that are the same for every platform behave the same."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms import (
    IGNORE,
    Platform,
    catalogue,
    platform_for,
    service_names,
    with_words,
)
from spark.core.topics import DiscoveryTopic
from spark.hub.entity import EntityRecord

EXISTING = {"alarm_control_panel", "binary_sensor", "button", "camera", "climate",
            "device_automation", "event", "fan", "humidifier", "image", "lawn_mower", "light",
            "notify", "number", "scene", "select", "sensor", "siren", "switch", "tag", "text",
            "update", "vacuum", "water_heater"}


def record(component: str, config: dict[str, Any]) -> EntityRecord:
    topic = DiscoveryTopic(component, "dev", "obj")
    config = {"unique_id": f"{component}-1", **config}
    (spec,) = parse_discovery(topic, orjson.dumps(config))
    assert isinstance(spec, DiscoveredEntity)
    return EntityRecord(f"{component}.obj", spec.key, spec, None)


def test_the_scan_finds_every_platform_module():
    names = set(catalogue())
    assert EXISTING <= names
    for name, platform in catalogue().items():
        assert platform.name == name and platform_for(name) is platform
        assert issubclass(platform.Schema, DiscoveredEntity)


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_control_and_words_use_the_platforms_own_services(name: str):
    platform = platform_for(name)
    control = platform.control
    if control is not None:
        assert control.services() <= set(platform.services), name
        assert platform.words.listed, f"{name} has a panel control but voice cannot name it"
    words = platform.words
    if words.switchable:
        assert {words.on_service, words.off_service, "toggle"} <= set(platform.services)
    if words.on_verbs:
        assert words.on_service in platform.services
    if words.off_verbs:
        assert words.off_service in platform.services
    if words.pressable:
        assert words.press_service in platform.services
    if words.setter == "number":  # a number's set_value, or what its level sets
        level = words.level
        assert (level.service if level else "set_value") in platform.services
    if words.setter == "option":
        assert "select_option" in platform.services


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_a_service_of_another_platform_does_not_apply(name: str):
    platform = platform_for(name)
    entity = record("sensor", {"state_topic": "s/t"})  # any entity: the refusal is generic
    for service in set(service_names()) - set(platform.services):
        with pytest.raises(ServiceError, match="does not apply"):
            platform.command(entity, service, {})


def test_services_and_words_come_from_the_modules():
    assert {"turn_on", "turn_off", "toggle", "select_option", "set_value", "press"} <= set(
        service_names())
    assert {"switch", "light", "fan", "siren", "humidifier"} <= with_words("switchable")
    assert with_words("pressable") == {"button", "scene"}
    assert {"cover", "valve", "lock", "vacuum"} <= with_words("on_verbs")
    assert {"cover", "climate", "fan", "light"} <= with_words("level")
    assert {"light", "fan"} <= with_words("area_noun")


def test_a_platform_without_a_module_passes_the_payload_through():
    platform = Platform()  # what platform_for gives a platform that has no module
    assert not platform.services and platform.control is None
    entity = record("sensor", {"state_topic": "v/s"})
    assert platform.state(entity, b"docked") == "docked"
    assert platform.state(entity, b"None") is None


def test_on_off_family_shares_state_and_commands():
    for name in ("switch",):  # fan / humidifier / light / siren: their own tests
        entity = record(name, {"state_topic": "x/s", "command_topic": "x/c",
                               "state_on": "1", "payload_on": "go"})
        platform = platform_for(name)
        assert platform.state(entity, b"1") == "on"
        assert platform.state(entity, b"OFF") == "off"
        assert platform.state(entity, b"") is IGNORE  # HA: an empty payload is ignored
        with pytest.raises(PayloadError, match="neither"):
            platform.state(entity, b"maybe")
        assert platform.command(entity, "turn_on", {}).payload == "go"
        assert platform.command(entity, "toggle", {}).expect == "on"  # state unknown: on


def test_json_light_and_image_keep_more_than_a_state():
    light = record("light", {"schema": "json", "state_topic": "l/s", "command_topic": "l/c",
                             "brightness": True})
    assert platform_for("light").state(light, b'{"state": "ON", "brightness": 9}') == "on"
    assert light.attributes == {"brightness": 9, "color_mode": "brightness",
                                "supported_color_modes": ("brightness",),
                                "supported_features": 40}  # FLASH | TRANSITION
    order = platform_for("light").command(light, "turn_on", {"brightness": 30})
    assert order.payload == '{"state":"ON","brightness":30}'
    image = record("image", {"image_topic": "i/raw"})
    assert platform_for("image").state(image, b"\x89PNG") != IGNORE and image.image == b"\x89PNG"


def test_the_cloud_allow_list_knows_the_new_platforms_services():
    from spark.bridges.sinks.kafka.config import CloudSourceConfig

    new = ["alarm_arm_away", "alarm_disarm", "alarm_trigger", "send_message", "install",
           "start_mowing", "dock", "return_to_base", "set_fan_speed", "send_command", "locate",
           "clean_spot", "start", "pause", "stop"]
    assert CloudSourceConfig(allow_services=new).allow_services == new
    with pytest.raises(ValueError, match="unknown service"):
        CloudSourceConfig(allow_services=["alarm_self_destruct"])


def test_the_cloud_allow_list_knows_the_multi_value_platforms_services():
    from spark.bridges.sinks.kafka.config import KafkaSinkConfig

    wanted = ["open_cover", "close_cover", "stop_cover", "set_cover_position",
              "set_cover_tilt_position", "set_hvac_mode", "set_temperature", "set_fan_mode",
              "set_swing_mode", "set_swing_horizontal_mode", "set_preset_mode", "set_humidity",
              "set_percentage", "oscillate", "set_direction", "open_valve", "set_valve_position",
              "set_mode", "set_operation_mode"]
    assert KafkaSinkConfig(source={"allow_services": wanted}).source.allow_services == wanted
