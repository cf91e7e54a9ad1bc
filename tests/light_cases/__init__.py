"""Light cases after Home Assistant's ``tests/components/mqtt/test_light.py``,
``test_light_json.py`` and ``test_light_template.py`` (HA 2025.x), as data: a config, then steps
(a message on a topic, a service call with the messages HA publishes for it, an expected state
and attributes). Topics are relative to the case's own base ``zigbee2mqtt/<case id>`` (the
config's ``~``). Read by tests/test_platform_light.py, which runs every case in-process and all
of them through a real hub and Mosquitto.

One module per light schema, as HA's ``mqtt/light/``: ``schema_basic`` (``BASIC``),
``schema_json`` (``JSON``), ``schema_template`` (``TEMPLATE``); the steps they are written in
(``Case``, ``M``, ``C``, ``E``, ``ANY``) in ``steps``.
"""

from __future__ import annotations

from light_cases.schema_basic import BASIC
from light_cases.schema_json import JSON
from light_cases.schema_template import TEMPLATE
from light_cases.steps import Case

CASES: list[Case] = [*BASIC, *JSON, *TEMPLATE]
