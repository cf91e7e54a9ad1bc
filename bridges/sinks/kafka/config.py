from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.config.base import StrictModel


class KafkaSinkConfig(StrictModel):
    type: Literal["kafka"] = "kafka"
    bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port].")
    client_id: str = Field("prime-spark-edge", description="Kafka client id.")
