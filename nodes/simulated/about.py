"""What ``spark node simulated --help`` says (text only: imports nothing)."""

SUMMARY = "a simulated device with one entity of every platform (demos and tests)"

DESCRIPTION = """\
The simulated node needs no hardware: a lamp switch, a temperature sensor, a motion sensor, a
mode select, a setpoint number, an identify button, a doorbell event and a snapshot image,
plus extra_sensors power sensors. Commands change its state as a real device would.
"""
