"""NAS node (Argon EON, 4 disks): mounts, SMART health, export reachability, snapshot backups."""
