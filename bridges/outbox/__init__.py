"""The durable, ordered outbox between the hub and each cloud sink."""
