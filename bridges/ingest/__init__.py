"""MQTT -> outbox: the bridge's subscriber and the topic -> record mapping."""
