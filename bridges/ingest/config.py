"""The bridge's MQTT ingest: what it subscribes as and how often it commits to the outbox."""
from __future__ import annotations

from pydantic import Field

from spark.core.config.base import StrictModel


class IngestConfig(StrictModel):
    client_id: str | None = Field(
        None, description="Stable MQTT client id of the bridge (default <client_id_prefix>-"
        "bridge-<hub id>); with a persistent session the broker keeps what the bridge has not "
        "acknowledged across its restarts. Two bridges must not share one.")
    commit_messages: int = Field(
        2000, ge=1, le=16384, description="Commit to the outbox (then acknowledge to the broker) "
        "after at most this many messages. Keep the receive window above it.")
    commit_ms: float = Field(
        20.0, gt=0, description="Commit a partial batch after at most this many milliseconds "
        "(it is committed sooner when the broker has nothing more to send).")
    receive_maximum: int = Field(
        4096, ge=1, le=16384, description="With mqtt.protocol 5: how many unacknowledged QoS 1 "
        "messages the broker may send the bridge at once (MQTT 5 Receive Maximum; absent, it "
        "would be 65535). At most 16384: duplicate detection remembers the last 32768 packet "
        "ids. With 3.1.1 the broker's max_inflight_messages is the window.")
