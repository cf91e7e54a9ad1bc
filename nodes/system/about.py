"""What ``spark node system --help`` says about the system node (text only: imports nothing)."""

SUMMARY = "this machine's health: CPU, load, memory, disks, network, temperatures, throttling, VPN"

DESCRIPTION = """\
The system node publishes this machine's health as diagnostic entities: CPU and memory use,
load, network rates, disk use per mount, the CPU temperature, the Raspberry Pi's throttling
flags (vcgencmd), the Hailo-8's health and temperature when present, and the WireGuard VPN
peers' connectivity and handshake age.
"""
