"""System telemetry node: CPU, load, memory, disks, temperatures, Pi throttling, Hailo, VPN."""
