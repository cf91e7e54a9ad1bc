"""Config building blocks: the strict model base, the broker connection."""
