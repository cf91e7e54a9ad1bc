"""The discovery bench's corpus: retained discovery configs in the shapes real publishers send.

Each device kind below follows what the publisher puts on the wire (field names, abbreviations,
topic layout, templates, block sizes), after Zigbee2MQTT 2.1, Tasmota 14 (``SetOption19 1``),
ESPHome 2024.x and OpenMQTTGateway 1.7, and Home Assistant's device-based discovery
(``components``, HA >= 2024.11). Two mixes, both averaging five configs per device:

- ``mixed`` (the mix the registry was tuned on): per-entity configs from all four publishers,
  Zigbee2MQTT lights, sensors, covers, thermostats and remotes (with device triggers), Tasmota
  plugs and sensors, ESPHome nodes, OpenMQTTGateway BLE sensors on ``+/+/BTtoMQTT/<mac>``;
- ``device`` (held out: measured only at the end): device-based discovery only, one
  ``homeassistant/device/<id>/config`` per device with five components each, in other
  proportions (multi-sensors, thermostats, relays, bulbs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

Msg = tuple[str, bytes, bool]
Z2M = "zigbee2mqtt"
Z2M_ORIGIN = {"name": "Zigbee2MQTT", "sw": "2.1.3", "url": "https://www.zigbee2mqtt.io"}
Z2M_BRIDGE = "zigbee2mqtt_bridge_0x00124b0029113e8f"
OMG_GATEWAY = "OMG_ESP32_BLE"
LIGHT_EFFECTS = ["blink", "breathe", "okay", "channel_change", "finish_effect", "stop_effect",
                 "colorloop", "stop_colorloop"]


def _dumps(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def _cfg(platform: str, node: str, key: str, payload: dict[str, Any]) -> Msg:
    return (f"homeassistant/{platform}/{node}/{key}/config", _dumps(payload), True)


# ---- Zigbee2MQTT (per-entity discovery, long templates) ------------------------------------
def _z2m_common(i: int, model: tuple[str, str, str]) -> tuple[str, str, str, dict[str, Any]]:
    ieee = f"0x00158d0{i:09x}"
    name = f"Room {i % 64} {model[2]} {i}"
    base = f"{Z2M}/{name}"
    common = {
        "availability": [{"topic": f"{Z2M}/bridge/state",
                          "value_template": "{{ value_json.state }}"},
                         {"topic": f"{base}/availability",
                          "value_template": "{{ value_json.state }}"}],
        "availability_mode": "all",
        "device": {"identifiers": [f"zigbee2mqtt_{ieee}"], "manufacturer": model[0],
                   "model": model[1], "name": name, "sw_version": f"{i % 7}.{i % 13}.0",
                   "via_device": Z2M_BRIDGE},
        "origin": Z2M_ORIGIN, "state_topic": base,
    }
    return ieee, name, base, common


def _z2m_entity(common: dict[str, Any], ieee: str, key: str, extra: dict[str, Any]) -> Msg:
    platform = extra.pop("_platform", "sensor")
    payload = {**common, "name": None if key == platform else key.replace("_", " ").title(),
               "object_id": f"{common['device']['name'].lower().replace(' ', '_')}_{key}",
               "unique_id": f"{ieee}_{key}_{Z2M}", **extra}
    return _cfg(platform, ieee, key, payload)


def _z2m_sensor(key: str, unit: str | None = None, dc: str | None = None,
                diag: bool = False, enabled: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"state_class": "measurement",
                           "value_template": f"{{{{ value_json.{key} }}}}"}
    if unit:
        out["unit_of_measurement"] = unit
    if dc:
        out["device_class"] = dc
    if diag:
        out["entity_category"] = "diagnostic"
    if not enabled:
        out["enabled_by_default"] = False
    return out


def _linkquality() -> dict[str, Any]:
    return {**_z2m_sensor("linkquality", "lqi", diag=True, enabled=False),
            "icon": "mdi:signal"}


def _z2m_update(ieee: str, base: str) -> dict[str, Any]:
    return {"_platform": "update", "device_class": "firmware", "entity_category": "config",
            "command_topic": f"{Z2M}/bridge/request/device/ota_update/update",
            "payload_install": f'{{"id": "{ieee}"}}',
            "entity_picture": "https://github.com/Koenkk/zigbee2mqtt/raw/master/images/logo.png",
            "latest_version_topic": base,
            "latest_version_template": "{{ value_json['update']['latest_version'] }}",
            "json_attributes_topic": base,
            "json_attributes_template": "{\"in_progress\": {{ iif(value_json['update']['state']"
                                        " == 'updating', 'true', 'false') }} }",
            "value_template": "{{ value_json['update']['installed_version'] }}"}


def z2m_light(i: int) -> list[Msg]:
    ieee, _, base, common = _z2m_common(i, ("Philips", "Hue White and color ambiance E27 "
                                                       "(9290022166)", "Bulb"))
    return [
        _z2m_entity(common, ieee, "light", {
            "_platform": "light", "schema": "json", "command_topic": f"{base}/set",
            "brightness": True, "brightness_scale": 254, "effect": True,
            "effect_list": LIGHT_EFFECTS, "max_mireds": 500, "min_mireds": 153,
            "supported_color_modes": ["xy", "color_temp"]}),
        _z2m_entity(common, ieee, "effect", {
            "_platform": "select", "command_topic": f"{base}/set/effect",
            "entity_category": "config", "icon": "mdi:palette", "options": LIGHT_EFFECTS,
            "value_template": "{{ value_json.effect }}"}),
        _z2m_entity(common, ieee, "power_on_behavior", {
            "_platform": "select", "command_topic": f"{base}/set/power_on_behavior",
            "entity_category": "config", "icon": "mdi:power-settings",
            "options": ["off", "on", "toggle", "previous"],
            "value_template": "{{ value_json.power_on_behavior }}"}),
        _z2m_entity(common, ieee, "linkquality", _linkquality()),
        _z2m_entity(common, ieee, "update", _z2m_update(ieee, base)),
    ]


def z2m_sensor(i: int) -> list[Msg]:
    ieee, _, _, common = _z2m_common(i, ("Aqara", "RTCGQ11LM", "Motion"))
    return [
        _z2m_entity(common, ieee, "occupancy", {
            "_platform": "binary_sensor", "device_class": "occupancy", "payload_on": True,
            "payload_off": False, "value_template": "{{ value_json.occupancy }}"}),
        _z2m_entity(common, ieee, "battery", _z2m_sensor("battery", "%", "battery", diag=True)),
        _z2m_entity(common, ieee, "illuminance", _z2m_sensor("illuminance", "lx",
                                                             "illuminance")),
        _z2m_entity(common, ieee, "voltage", _z2m_sensor("voltage", "mV", "voltage", True,
                                                         enabled=False)),
        _z2m_entity(common, ieee, "device_temperature", _z2m_sensor(
            "device_temperature", "°C", "temperature", diag=True)),
        _z2m_entity(common, ieee, "linkquality", _linkquality()),
    ]


def z2m_cover(i: int) -> list[Msg]:
    ieee, _, base, common = _z2m_common(i, ("IKEA", "E1757", "Blind"))
    return [
        _z2m_entity(common, ieee, "cover", {
            "_platform": "cover", "command_topic": f"{base}/set",
            "position_topic": base, "position_template": "{{ value_json.position }}",
            "set_position_topic": f"{base}/set",
            "set_position_template": "{ \"position\": {{ position }} }",
            "state_open": "OPEN", "state_closed": "CLOSE", "state_closing": "CLOSING",
            "state_opening": "OPENING", "state_stopped": "STOPPED",
            "value_template": "{% if 'moving' in value_json and value_json.moving %} "
                              "{{ value_json.moving }} {% else %} {{ value_json.state }} "
                              "{% endif %}"}),
        _z2m_entity(common, ieee, "battery", _z2m_sensor("battery", "%", "battery", diag=True)),
        _z2m_entity(common, ieee, "linkquality", _linkquality()),
        _z2m_entity(common, ieee, "update", _z2m_update(ieee, base)),
    ]


def z2m_climate(i: int) -> list[Msg]:
    ieee, _, base, common = _z2m_common(i, ("Danfoss", "014G2461", "Radiator"))
    return [
        _z2m_entity(common, ieee, "climate", {
            "_platform": "climate",
            "action_template": "{% set values = {None:None,'idle':'idle','heat':'heating',"
                               "'cool':'cooling','fan_only':'fan'} %}"
                               "{{ values[value_json.running_state] }}",
            "action_topic": base, "current_temperature_topic": base,
            "current_temperature_template": "{{ value_json.local_temperature }}",
            "max_temp": "35", "min_temp": "5", "modes": ["heat"],
            "mode_state_topic": base,
            "mode_state_template": "{{ value_json.system_mode }}",
            "temperature_command_topic": f"{base}/set/occupied_heating_setpoint",
            "temperature_state_topic": base,
            "temperature_state_template": "{{ value_json.occupied_heating_setpoint }}",
            "temperature_unit": "C", "temp_step": 0.5}),
        _z2m_entity(common, ieee, "battery", _z2m_sensor("battery", "%", "battery", diag=True)),
        _z2m_entity(common, ieee, "child_lock", {
            "_platform": "lock", "command_topic": f"{base}/set/child_lock",
            "entity_category": "config", "payload_lock": "LOCK", "payload_unlock": "UNLOCK",
            "state_locked": "LOCK", "state_unlocked": "UNLOCK",
            "value_template": "{{ value_json.child_lock }}"}),
        _z2m_entity(common, ieee, "local_temperature_calibration", {
            "_platform": "number", "command_topic":
                f"{base}/set/local_temperature_calibration",
            "entity_category": "config", "icon": "mdi:math-compass", "max": 12.8,
            "min": -12.8, "step": 0.1, "unit_of_measurement": "°C",
            "value_template": "{{ value_json.local_temperature_calibration }}"}),
        _z2m_entity(common, ieee, "window_open", {
            "_platform": "binary_sensor", "device_class": "window", "payload_on": True,
            "payload_off": False, "value_template": "{{ value_json.window_open }}"}),
        _z2m_entity(common, ieee, "linkquality", _linkquality()),
    ]


def z2m_remote(i: int) -> list[Msg]:
    """A remote: battery and action sensors and (not entities) three device triggers."""
    ieee, _, base, common = _z2m_common(i, ("IKEA", "E1743", "Remote"))
    out = [_z2m_entity(common, ieee, "battery", _z2m_sensor("battery", "%", "battery",
                                                              diag=True)),
           _z2m_entity(common, ieee, "action", {
               "icon": "mdi:gesture-double-tap", "enabled_by_default": False,
               "value_template": "{{ value_json.action }}"})]
    for action in ("on", "off", "brightness_move_up"):
        payload = {"automation_type": "trigger", "device": common["device"],
                   "origin": Z2M_ORIGIN, "payload": action, "subtype": action,
                   "topic": f"{base}/action", "type": "action"}
        out.append((f"homeassistant/device_automation/{ieee}/action_{action}/config",
                    _dumps(payload), True))
    return out


# ---- Tasmota (SetOption19: abbreviated keys, device by connection) --------------------------
def _tasmota_dev(mac: str, name: str, model: str) -> dict[str, Any]:
    return {"cns": [["mac", mac]], "name": name, "mdl": model, "sw": "14.3.0(release-tasmota)",
            "mf": "Tasmota"}


def tasmota_plug(i: int) -> list[Msg]:
    mac = f"A4CF12{i:06X}"
    topic = f"tasmota_{mac[-6:]}"
    dev = _tasmota_dev(mac, f"Plug {i}", "Sonoff POW R2")
    avail = {"avty_t": f"tele/{topic}/LWT", "pl_avail": "Online", "pl_not_avail": "Offline"}
    out = [_cfg("switch", mac, "RL_1", {
        "name": f"Plug {i}", "stat_t": f"tele/{topic}/STATE", "cmd_t": f"cmnd/{topic}/POWER",
        "val_tpl": "{{value_json.POWER}}", "pl_off": "OFF", "pl_on": "ON",
        "uniq_id": f"{mac}_RL_1", "dev": dev, **avail})]
    for key, unit, dc in (("Power", "W", "power"), ("Voltage", "V", "voltage"),
                          ("Current", "A", "current"), ("Today", "kWh", "energy")):
        out.append(_cfg("sensor", mac, f"ENERGY_{key}", {
            "name": f"Plug {i} ENERGY {key}", "stat_t": f"tele/{topic}/SENSOR",
            "val_tpl": f"{{{{value_json['ENERGY']['{key}']}}}}", "unit_of_meas": unit,
            "dev_cla": dc, "uniq_id": f"{mac}_ENERGY_{key}", "dev": dev, **avail}))
    out.append(_cfg("sensor", mac, "status", {
        "name": f"Plug {i} status", "stat_t": f"tele/{topic}/HASS_STATE",
        "json_attr_t": f"tele/{topic}/HASS_STATE", "unit_of_meas": "%",
        "val_tpl": "{{value_json['RSSI']}}", "ic": "mdi:information-outline",
        "entity_category": "diagnostic", "uniq_id": f"{mac}_status", "dev": dev, **avail}))
    return out


def tasmota_sensor(i: int) -> list[Msg]:
    mac = f"84F3EB{i:06X}"
    topic = f"tasmota_{mac[-6:]}"
    dev = _tasmota_dev(mac, f"Climate {i}", "Generic ESP8266 + SHT3X")
    avail = {"avty_t": f"tele/{topic}/LWT", "pl_avail": "Online", "pl_not_avail": "Offline"}
    return [_cfg("sensor", mac, f"SHT3X_{key}", {
        "name": f"Climate {i} SHT3X {key}", "stat_t": f"tele/{topic}/SENSOR",
        "val_tpl": f"{{{{value_json['SHT3X']['{key}']}}}}", "unit_of_meas": unit,
        "dev_cla": dc, "uniq_id": f"{mac}_SHT3X_{key}", "dev": dev, **avail})
        for key, unit, dc in (("Temperature", "°C", "temperature"),
                              ("Humidity", "%", "humidity"), ("DewPoint", "°C", "temperature"))]


# ---- ESPHome (abbreviated keys, one topic per entity) ---------------------------------------
def esphome_node(i: int) -> list[Msg]:
    node = f"esp-node-{i}"
    dev = {"ids": f"a0b765{i:06x}", "name": node, "sw": "esphome v2024.12.4 Jan 10 2025",
           "mdl": "esp32dev", "mf": "espressif", "cns": [["mac", f"a0b765{i:06x}"]]}
    avail = {"avty_t": f"{node}/status"}
    out = []
    for obj, extra in (
        ("temperature", {"dev_cla": "temperature", "unit_of_meas": "°C",
                         "stat_cla": "measurement"}),
        ("humidity", {"dev_cla": "humidity", "unit_of_meas": "%", "stat_cla": "measurement"}),
        ("wifi_signal", {"dev_cla": "signal_strength", "unit_of_meas": "dBm",
                         "stat_cla": "measurement", "ent_cat": "diagnostic"}),
        ("uptime", {"dev_cla": "duration", "unit_of_meas": "s", "stat_cla": "total_increasing",
                    "ent_cat": "diagnostic", "ic": "mdi:timer-outline"}),
    ):
        out.append(_cfg("sensor", node, obj, {
            **extra, "name": obj.replace("_", " ").title(),
            "stat_t": f"{node}/sensor/{obj}/state", "uniq_id": f"ESPsensor{obj}{i}",
            "dev": dev, **avail}))
    out.append(_cfg("switch", node, "relay", {
        "name": "Relay", "stat_t": f"{node}/switch/relay/state",
        "cmd_t": f"{node}/switch/relay/command", "uniq_id": f"ESPswitchrelay{i}",
        "dev": dev, **avail}))
    out.append(_cfg("button", node, "restart", {
        "dev_cla": "restart", "ent_cat": "config", "name": "Restart",
        "cmd_t": f"{node}/button/restart/command", "uniq_id": f"ESPbuttonrestart{i}",
        "dev": dev, **avail}))
    return out


# ---- OpenMQTTGateway BLE (wildcard state topics) --------------------------------------------
def omg_ble(i: int) -> list[Msg]:
    mac = f"A4C138{i:06X}"
    dev = {"ids": [mac], "cns": [["mac", mac]], "mf": "Xiaomi", "mdl": "LYWSD03MMC",
           "name": f"LYWSD03MMC-{mac[-6:]}", "via_device": OMG_GATEWAY}
    out = []
    for key, unit, dc in (("tempc", "°C", "temperature"), ("hum", "%", "humidity"),
                          ("batt", "%", "battery"), ("volt", "V", "voltage")):
        out.append(_cfg("sensor", mac, f"{mac}-{key}", {
            "stat_t": f"+/+/BTtoMQTT/{mac}", "dev_cla": dc, "unit_of_meas": unit,
            "name": key, "uniq_id": f"{mac}-{key}", "stat_cla": "measurement",
            "val_tpl": f"{{{{ value_json.{key} | is_defined }}}}", "exp_aft": 1800,
            "frc_upd": True, "dev": dev}))
    return out


# ---- device-based discovery (components) ----------------------------------------------------
def _device_based(i: int, kind: str, cmps: dict[str, dict[str, Any]]) -> list[Msg]:
    ident = f"{kind}_{i:06x}"
    base = f"devices/{ident}"
    payload = {
        "dev": {"ids": [ident], "name": f"{kind.title()} {i}", "mf": "Shelly",
                "mdl": f"{kind} gen3", "sw": "1.4.4", "hw": "gen3"},
        "o": {"name": "devicebridge", "sw": "0.9.1", "url": "https://example.org/devicebridge"},
        "avty": [{"t": f"{base}/online", "pl_avail": "true", "pl_not_avail": "false"}],
        "stat_t": f"{base}/state", "qos": 1,
        "cmps": {key: {**body, "uniq_id": f"{ident}_{key}"} for key, body in cmps.items()},
    }
    return [(f"homeassistant/device/{ident}/config", _dumps(payload), True)]


def _dsensor(key: str, unit: str, dc: str) -> dict[str, Any]:
    return {"p": "sensor", "dev_cla": dc, "unit_of_meas": unit, "stat_cla": "measurement",
            "val_tpl": f"{{{{ value_json.{key} }}}}", "name": key.title()}


def db_multisensor(i: int) -> list[Msg]:
    return _device_based(i, "multisensor", {
        k: _dsensor(k, u, d) for k, u, d in (
            ("temperature", "°C", "temperature"), ("humidity", "%", "humidity"),
            ("pressure", "hPa", "pressure"), ("illuminance", "lx", "illuminance"),
            ("battery", "%", "battery"))})


def db_thermostat(i: int) -> list[Msg]:
    base = f"devices/thermostat_{i:06x}"
    return _device_based(i, "thermostat", {
        "climate": {"p": "climate", "name": None, "modes": ["off", "heat", "auto"],
                    "mode_cmd_t": f"{base}/set/mode", "mode_stat_tpl": "{{ value_json.mode }}",
                    "mode_stat_t": f"{base}/state", "temp_cmd_t": f"{base}/set/target",
                    "temp_stat_t": f"{base}/state",
                    "temp_stat_tpl": "{{ value_json.target }}",
                    "curr_temp_t": f"{base}/state",
                    "curr_temp_tpl": "{{ value_json.current }}", "min_temp": 5, "max_temp": 30},
        "battery": _dsensor("battery", "%", "battery"),
        "valve": _dsensor("valve", "%", "power_factor"),
        "window": {"p": "binary_sensor", "dev_cla": "window", "name": "Window",
                   "val_tpl": "{{ 'ON' if value_json.window else 'OFF' }}"},
        "boost": {"p": "switch", "name": "Boost", "cmd_t": f"{base}/set/boost",
                  "val_tpl": "{{ value_json.boost }}"}})


def db_relay(i: int) -> list[Msg]:
    base = f"devices/relay_{i:06x}"
    cmps: dict[str, dict[str, Any]] = {
        f"switch_{n}": {"p": "switch", "name": f"Channel {n}", "cmd_t": f"{base}/set/{n}",
                        "val_tpl": f"{{{{ value_json.switch{n} }}}}"} for n in range(3)}
    cmps["power"] = _dsensor("power", "W", "power")
    cmps["temperature"] = {**_dsensor("temperature", "°C", "temperature"), "ent_cat":
                           "diagnostic"}
    return _device_based(i, "relay", cmps)


def db_bulb(i: int) -> list[Msg]:
    base = f"devices/bulb_{i:06x}"
    return _device_based(i, "bulb", {
        "light": {"p": "light", "schema": "json", "name": None, "cmd_t": f"{base}/set",
                  "brightness": True, "supported_color_modes": ["color_temp", "hs"],
                  "effect": True, "effect_list": LIGHT_EFFECTS},
        "effect": {"p": "select", "name": "Effect", "cmd_t": f"{base}/set/effect",
                   "options": LIGHT_EFFECTS, "val_tpl": "{{ value_json.effect }}"},
        "rssi": {**_dsensor("rssi", "dBm", "signal_strength"), "ent_cat": "diagnostic"},
        "power": _dsensor("power", "W", "power"),
        "update": {"p": "update", "name": "Firmware", "cmd_t": f"{base}/update",
                   "val_tpl": "{{ value_json.fw }}", "l_ver_t": f"{base}/state",
                   "l_ver_tpl": "{{ value_json.fw_latest }}"}})


# ---- states ---------------------------------------------------------------------------------
Z2M_STATE = {"battery": 91, "linkquality": 120, "occupancy": True, "illuminance": 212,
             "voltage": 2995, "device_temperature": 24, "state": "ON", "brightness": 120,
             "color_mode": "color_temp", "color_temp": 370, "effect": None,
             "power_on_behavior": "previous", "position": 40, "local_temperature": 20.5,
             "occupied_heating_setpoint": 21, "system_mode": "heat", "running_state": "heat",
             "child_lock": "UNLOCK", "local_temperature_calibration": 0, "window_open": False,
             "action": "", "update": {"installed_version": 16783890, "latest_version": 16783890,
                                      "state": "idle"}}


def _state_of(topic: str) -> bytes:
    """A retained value as the publisher sends it on ``topic``."""
    if topic.startswith(f"{Z2M}/"):
        return orjson.dumps({**Z2M_STATE, "state": "OPEN"} if " Blind " in topic else Z2M_STATE)
    if topic.startswith("tele/"):
        kind = topic.rsplit("/", 1)[1]
        return orjson.dumps({"STATE": {"Time": "2025-01-10T10:00:00", "POWER": "ON",
                                       "Wifi": {"RSSI": 70}},
                             "SENSOR": {"ENERGY": {"Power": 12, "Voltage": 230, "Current": 0.1,
                                                   "Today": 1.2},
                                        "SHT3X": {"Temperature": 21.4, "Humidity": 45,
                                                  "DewPoint": 9}},
                             "HASS_STATE": {"RSSI": 70, "IPAddress": "10.0.0.20",
                                            "Uptime": "1T02:03:04"}}.get(kind, {}))
    if "/BTtoMQTT/" in topic:
        return orjson.dumps({"id": topic.rsplit("/", 1)[1], "model": "LYWSD03MMC",
                             "tempc": 21.2, "hum": 44, "batt": 88, "volt": 2.9, "rssi": -70})
    if topic.startswith("devices/"):
        return orjson.dumps({"mode": "heat", "target": 21, "current": 20.1, "battery": 80,
                             "valve": 30, "window": False, "boost": "OFF", "temperature": 20.3,
                             "humidity": 41, "pressure": 1012, "illuminance": 300, "switch0":
                             "ON", "switch1": "OFF", "switch2": "OFF", "power": 40, "rssi": -60,
                             "effect": "blink", "fw": "1.4.4", "fw_latest": "1.4.5",
                             "state": "ON", "brightness": 200, "color_mode": "color_temp",
                             "color_temp": 300})
    # ESPHome: one plain value per entity
    return b"ON" if "/switch/" in topic else b"21.5"


def _states(messages: list[Msg]) -> list[Msg]:
    """One retained value on every state topic the configs name (wildcard filters: one topic
    matching them)."""
    topics: dict[str, None] = {}
    for _, payload, _ in messages:
        body = orjson.loads(payload)
        for cfg in (body, *body.get("cmps", {}).values()):
            for key in ("state_topic", "stat_t"):
                if isinstance(cfg.get(key), str):
                    topics[cfg[key].replace("+/+", f"home/{OMG_GATEWAY}")] = None
    return [(t, _state_of(t), True) for t in topics]


Kind = Callable[[int], list[Msg]]
SHAPES: dict[str, list[Kind]] = {
    # per 9 devices: 5+6+4+6+5+6+3+6+4 = 45 configs (5 per device; a remote's 3 device
    # triggers are configs, not entities)
    "mixed": [z2m_light, z2m_sensor, z2m_cover, z2m_climate, z2m_remote, tasmota_plug,
              tasmota_sensor, esphome_node, omg_ble],
    # held out: device-based only, 5 components each, other proportions
    "device": [db_multisensor, db_multisensor, db_relay, db_thermostat, db_bulb],
}


def _devices(shape: str, devices: int) -> Iterator[list[Msg]]:
    kinds = SHAPES[shape]
    for i in range(devices):
        yield kinds[i % len(kinds)](i)


def corpus(shape: str, devices: int, with_state: bool = True) -> tuple[list[Msg], int]:
    """(retained messages, configs that become entities) for ``devices`` devices of ``shape``;
    the Zigbee2MQTT bridge's state and every device's availability are included."""
    configs: list[Msg] = []
    for msgs in _devices(shape, devices):
        configs.extend(msgs)
    out: list[Msg] = [(f"{Z2M}/bridge/state", b'{"state":"online"}', True)]
    avail: dict[str, bytes] = {}
    entities = 0
    for _, payload, _ in configs:
        body = orjson.loads(payload)
        parts = body.get("cmps") or {"": body}
        entities += len(parts)
        for cfg in (body, *parts.values()):
            for item in [*cfg.get("availability", ()), *cfg.get("avty", ())]:
                t = item.get("topic") or item.get("t")
                avail.setdefault(t, b'{"state":"online"}' if t.startswith(Z2M) else b"true")
            if "avty_t" in cfg:
                avail[cfg["avty_t"]] = b"Online" if cfg.get("pl_avail") == "Online" else b"online"
    out.extend(configs)
    out.extend((t, p, True) for t, p in avail.items() if t != f"{Z2M}/bridge/state")
    if with_state:
        out.extend(_states(configs))
    return out, entities


def sizes(messages: list[Msg]) -> dict[str, float]:
    """Config payload sizes: mean and max bytes."""
    lens = [len(p) for t, p, _ in messages if t.startswith("homeassistant/")]
    return {"config_bytes_mean": sum(lens) / max(1, len(lens)), "config_bytes_max": max(lens),
            "config_messages": len(lens)}
