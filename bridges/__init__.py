"""Cloud bridges: the durable outbox and the sinks (TimescaleDB, Kafka) that drain it."""
