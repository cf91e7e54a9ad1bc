"""What ``spark node power --help`` says about the power node (text only: imports nothing)."""

SUMMARY = "battery / UPS / grid: readings, power mode, routing strategy, low-battery event"

DESCRIPTION = """\
The power node reads a battery, UPS or power monitor every state_interval and publishes its
readings (battery %, voltage, current, load, charging, source, time to empty), the power mode
select (auto, on-grid, off-grid), the routing strategy it derives, a low-battery event and the
retained power-state message on <base>/<node>/power that the hub and other nodes follow.

Backends (backend: {type: ...}): sysfs (/sys/class/power_supply), ina219 / ina226 (I2C power
monitors), nut (a Network UPS Tools server), simulated (the default without hardware: a
battery with a grid switch).

A power mode chosen at run time is kept in <data_dir>/<id>.json and restored on restart,
until the config's mode is changed.
"""
