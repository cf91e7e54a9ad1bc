"""The REST API (FastAPI, ``hub.api.app.build_api``) and the auth it shares with the panel
(``hub.api.auth``). Importing this package loads nothing else (the config imports it)."""
