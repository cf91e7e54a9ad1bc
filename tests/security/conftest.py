"""Attack tests (issue 15): each performs an attack against the real components.

The fixtures (``broker``, ``fresh_broker``: a real Mosquitto configured by our own generated
files) come from ``tests/conftest.py``, which pytest applies to this folder too; helpers are
imported as the other tests do (``from helpers import ...``, ``from lab import ...``,
``from e2e.harness import ...``: pytest puts ``tests/`` on ``sys.path``).
"""
