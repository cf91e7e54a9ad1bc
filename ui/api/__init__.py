"""The REST API (FastAPI, ``ui.api.app.build_api``) and the auth it shares with the panel
(``ui.api.auth``). Importing this package loads nothing else (the config imports it)."""
