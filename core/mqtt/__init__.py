"""The MQTT link shared by hub, nodes and bridges: paho-mqtt driven by the asyncio loop."""

from spark.core.mqtt.client import LinkState, Message, MqttClient, Will

__all__ = ["LinkState", "Message", "MqttClient", "Will"]
