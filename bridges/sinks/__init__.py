"""Cloud sinks: each drains outbox batches into one external system."""
