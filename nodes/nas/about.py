"""What ``spark node nas --help`` says about the NAS node (text only: imports nothing)."""

SUMMARY = "NAS: mounts, SMART disk health, NFS/SMB reachability, snapshot backups"

DESCRIPTION = """\
The NAS node watches its mounts (used, free, mounted, read-only), reads SMART from its disks
(health, temperature, power-on hours, reallocated sectors; sleeping disks are left asleep),
checks that NFS / SMB exports answer, and runs snapshot backups (a button, a schedule, a result
event and the last backup time).

Backends (backend: {type: ...}): local (this machine: /proc/mounts and smartctl) or simulated
(four SATA disks; the "simulate disk failure" switch fails one).
"""
