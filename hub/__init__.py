"""Prime Spark hub: registry, state, services and the shared MQTT core used by nodes and bridges."""

__version__ = "0.1.0"
