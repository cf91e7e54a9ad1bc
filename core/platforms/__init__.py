"""Home Assistant platforms, one module each (``switch.py``, ``sensor.py``, ``lock.py`` ...).

Each module holds everything about its platform: the discovery schema, how a state message
becomes state and attributes, its services and the command payload each publishes, the panel's
control (as data) and the words voice uses (as data). Shared families are in ``base.py`` (like
Home Assistant's ``components/mqtt/entity.py`` mixins); ``catalogue.py`` finds the modules, so
adding a platform is adding a module (and its tests).

Why in ``core``: every layer needs a part of it. Discovery parsing (``core.discovery``, used by
the hub and the bridge's ingest) needs the schemas, the hub needs state and services, the voice
node (``nodes`` may import only ``core``) needs the words and services, the panel (``ui``) needs
the control. The widgets themselves stay in ``ui/controls.py``, keyed by ``Control.kind``: core
describes the control, ui draws it.
"""

from __future__ import annotations

from spark.core.platforms.base import (
    IGNORE,
    Control,
    ControlKind,
    Entity,
    Fired,
    OnOff,
    OnOffState,
    Order,
    Platform,
    Publish,
    Words,
)
from spark.core.platforms.catalogue import (
    catalogue,
    platform_for,
    schema_for,
    service_names,
    with_words,
)

__all__ = [
    "IGNORE",
    "Control",
    "ControlKind",
    "Entity",
    "Fired",
    "OnOff",
    "OnOffState",
    "Order",
    "Platform",
    "Publish",
    "Words",
    "catalogue",
    "platform_for",
    "schema_for",
    "service_names",
    "with_words",
]
