"""Security tests: each performs an attack against the real components (Mosquitto with our
generated files, the hub, the panel in headless Chromium) and checks it fails.

The fixtures of tests/conftest.py (``broker``, ``fresh_broker``, ``postgres``, ``kafka``...) apply
here too, and tests/ is on ``sys.path`` (``from broker_fixture import ...``, ``from helpers
import ...``). One file per area: ``test_<area>.py``.
"""
