"""Kafka sink (edge -> cloud) and source (cloud.commands, models.updates -> MQTT)."""
