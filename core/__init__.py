"""Shared by every process: topics, the MQTT client, RPC, events, errors, config base,
the node-agent toolkit and the message formats."""


__version__ = "0.1.0"
