"""Node agents: one process per kind, each announcing itself via Home Assistant discovery."""
