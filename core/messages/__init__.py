"""Message formats read by more than one process (telemetry, inference, outbox records, voice)."""
