"""TimescaleDB / PostgreSQL sink."""
