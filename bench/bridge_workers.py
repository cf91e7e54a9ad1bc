"""Child processes of the bridge bench (spawned; each signals "ready" on its pipe, then runs until
the orchestrator terminates it).

* :func:`naive_pg`: the deliberately naive pipeline: one paho-mqtt subscriber (QoS 1, auto
  acknowledgement on receipt, no durability) -> ``json.loads`` -> list -> psycopg text COPY of
  every 5,000 rows into an index-free table.
* :func:`naive_kafka`: the same into Kafka: a confluent-kafka producer (acks=all, linger 5 ms),
  flushed every 5,000 messages.
* :func:`bridge`: the real :class:`bridges.runtime.Bridge` (ingest, pumps or both) with the
  sinks of its config.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import HOST

BATCH = 5000
TOPIC = "spark/+/telemetry"


def _subscriber(port: int, login: tuple[str, str], client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                         protocol=paho.MQTTv311)
    client.username_pw_set(*login)
    client.max_inflight_messages_set(1000)
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(TOPIC, 1)
    return client


def _rows(payload: bytes | bytearray) -> list[tuple[Any, ...]]:
    body = json.loads(payload)
    when = datetime.fromisoformat(body["time"])
    return [(when, dev, name, float(value)) for dev, metrics in body["metrics"].items()
            for name, value in metrics.items()]


def _consume(client: paho.Client, port: int, pipe: Connection, flush: Any) -> None:
    """Run paho's own loop; ``flush(rows)`` every BATCH rows and after 0.2 s of quiet."""
    pending: list[tuple[Any, ...]] = []
    last = [time.monotonic()]

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        pending.extend(_rows(msg.payload))
        last[0] = time.monotonic()
        if len(pending) >= BATCH:
            flush(pending)
            pending.clear()

    client.on_message = on_message
    client.connect(HOST, port, 60)
    while not client.is_connected():
        client.loop(0.1)
    for _ in range(5):  # let the SUBACK in
        client.loop(0.05)
    pipe.send("ready")
    while True:
        client.loop(0.1)
        if pending and time.monotonic() - last[0] > 0.2:
            flush(pending)
            pending.clear()


def naive_pg(port: int, login: tuple[str, str], url: str, table: str, client_id: str,
             pipe: Connection) -> None:
    import psycopg

    conn = psycopg.connect(url)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (time timestamptz NOT NULL, "
                 "device_id text NOT NULL, metric_name text NOT NULL, value float8 NOT NULL)")
    conn.commit()

    def flush(rows: list[tuple[Any, ...]]) -> None:
        with conn.cursor() as cur, cur.copy(
                f"COPY {table} (time, device_id, metric_name, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()

    _consume(_subscriber(port, login, client_id), port, pipe, flush)


def naive_kafka(port: int, login: tuple[str, str], bootstrap: str, topic: str, client_id: str,
                pipe: Connection) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "enable.idempotence": True, "compression.type": "lz4"})

    def flush(rows: list[tuple[Any, ...]]) -> None:
        for when, dev, name, value in rows:
            body = json.dumps({"time": when.isoformat(), "device_id": dev,
                               "metric_name": name, "value": value})
            while True:
                try:
                    producer.produce(topic, body.encode(), dev.encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(60)

    _consume(_subscriber(port, login, client_id), port, pipe, flush)


def bridge(cfg_json: str, password: str, pumps: list[str] | None, ingest: bool,
           pipe: Connection) -> None:
    from spark.app.config.models import SparkConfig
    from spark.bridges.runtime import Bridge

    logging.basicConfig(level=logging.WARNING, format="bench-bridge %(levelname)s %(message)s")
    cfg = SparkConfig.model_validate_json(cfg_json).bridge_settings()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(Bridge(cfg, password=password, pumps=pumps, ingest=ingest,
                                          status=False).run(ready))
        await ready.wait()
        pipe.send("ready")
        await task

    asyncio.run(main())
