"""Local history: every state change and event into SQLite (WAL) or PostgreSQL."""
