"""What ``spark node simulated --help`` says (text only: imports nothing)."""

SUMMARY = "a simulated device with one entity of every platform (demos and tests)"

DESCRIPTION = """\
The simulated node needs no hardware: a lamp switch, a temperature sensor, a motion sensor, a
mode select, a setpoint number, an identify button, a doorbell event and a snapshot image,
plus extra_sensors power sensors; and the devices a home lab has (devices.enabled): a colour
light (JSON schema), a blind that travels, a thermostat whose room warms or cools, a fan with
presets and a front-door lock that takes a moment. Commands change its state as a real device
would; state_file keeps what the real devices keep across a power cut.

Commands on spark/<id>/<entity>/set, as Home Assistant's templates render them:
  blind        OPEN, CLOSE, STOP or {"position": 0-100}
  thermostat   {"mode": "off|heat|cool|auto"} or {"temperature": 22.0}
  fan          {"state": "ON|OFF"}, {"percentage": 0-100} or {"preset_mode": "sleep"}
  ceiling_light  HA's JSON light: {"state": "ON", "brightness": 128, "color_temp": 370}
  front_door   LOCK or UNLOCK
"""
