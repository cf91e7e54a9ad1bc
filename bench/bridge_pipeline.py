"""Bridge bench (issue 4): MQTT -> outbox -> TimescaleDB / Kafka against the naive pipeline, and
the drain of a 10-minute outage backlog. One command: ``python -m bench bridge``.

In one run, on a throwaway Mosquitto from our generated config, PostgreSQL (a fresh database per
phase on ``--url``, default the machine's 127.0.0.1:5432: TimescaleDB or plain PostgreSQL) and an
in-memory Tansu per Kafka phase. Readings carry current times (the last ``n`` ms before their
phase), so a TimescaleDB's own retention and compression policies leave them alone:

(a) **Naive** (``bench/bridge_workers.py``): paho subscriber (QoS 1, acknowledged on receipt, no
    durability) -> ``json.loads`` -> list -> psycopg COPY every 5,000 rows; likewise into Kafka.
(b) **Bridge**: the real ``Bridge`` process as ``spark bridge run`` starts it (ingest
    acknowledging after the fsynced outbox commit; the TimescaleDB or Kafka pump in its child
    process) at QoS 1; ``--split`` runs ``spark bridge ingest`` + ``spark bridge <sink>``.
    CPU per reading: user + system time of all the consumer's processes over the phase.
    Each consumer is connected with a persistent session before the orchestrator publishes N
    telemetry readings (~110-byte JSON, one reading per message) at QoS 1; the rate is N over the
    time from the first publish to the N-th row committed in PostgreSQL (``count(*)`` polled
    every 50 ms) or the N-th message on Kafka (high watermarks). Zero loss: counts must be
    exactly N (distinct idempotency keys in PostgreSQL).
(c) **Outage drain**: 600,000 readings time-stamped 1 ms apart (the last 10 minutes at 1,000/s) go
    through the real ingest (faster than real time: as fast as it takes them) while no sink
    runs; then one pump process per sink (``spark bridge timescale`` / ``kafka``) drains the
    outbox: records/s from the process being up (sink not yet opened) to the last row / message
    (polled every 100 ms), and exact counts (no loss, no duplicate keys).

Figures drift ~10% and more while other work runs on the 2 cores: compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg

from bench.bridge_workers import bridge, naive_kafka, naive_pg
from bench.common import RESULTS, BenchError, Broker, publish, throwaway_broker
from spark.app.config.models import SparkConfig
from spark.bridges.outbox import Outbox
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.tansu import TansuProcess

NODE = "bench"
MACHINE_PG = "postgresql://postgres@127.0.0.1:5432/test"
ACCEPT_RATIO = 0.75
ACCEPT_DRAIN = 20_000.0
CTX = mp.get_context("spawn")


def readings(n: int, now: datetime | None = None) -> list[tuple[str, bytes, bool]]:
    """``n`` telemetry messages of one reading each, 1 ms apart, the last at ``now`` (default:
    the current time; each phase has its own database or Kafka, so phases never share keys)."""
    base = (now or datetime.now(UTC)) - timedelta(milliseconds=n)
    return [(f"spark/{NODE}/telemetry", orjson.dumps({
        "v": 1, "node": NODE, "time": (base + timedelta(milliseconds=i)).isoformat(),
        "metrics": {f"{NODE}_{i % 100}": {"power": (i * 7919 % 400000) / 100}}}), False)
        for i in range(n)]


@contextlib.contextmanager
def database(base_url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(base_url, dbname=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def tansu(tmp: Path) -> Iterator[TansuProcess]:
    proc = TansuProcess(tmp / f"tansu-{uuid.uuid4().hex[:6]}.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def pg_count(url: str, table: str, distinct: bool = False) -> int:
    what = "count(DISTINCT record_key)" if distinct else "count(*)"
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return int(conn.execute(f"SELECT {what} FROM {table}").fetchone()[0])  # type: ignore[index]
    except psycopg.errors.UndefinedTable:
        return 0


class KafkaCounter:
    """Counts the messages of a topic by reading it (Tansu's offsets count record batches, not
    records, so high watermarks cannot be summed), on a thread, from the beginning."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.count = 0
        self.keys: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-kafka-count", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-count",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 20})
        try:
            while not self._stop.is_set():
                meta = consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
                if meta is not None and meta.error is None and meta.partitions:
                    break
                self._stop.wait(0.05)
            consumer.assign([TopicPartition(self.topic, p, 0) for p in meta.partitions])
            while not self._stop.is_set():
                for msg in consumer.consume(5000, 0.05):
                    if msg.error() is None:
                        self.count += 1
                        key = dict(msg.headers() or []).get("idempotency-key")
                        if isinstance(key, bytes):
                            self.keys.add(key)
        finally:
            consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def start(target: Callable[..., None], *args: Any) -> mp.process.BaseProcess:
    parent, child = CTX.Pipe()
    # Not a daemon: the bridge starts its own pump process (daemons may not have children);
    # every process is terminated at the end of its phase.
    proc = CTX.Process(target=target, args=(*args, child), daemon=False)
    proc.start()
    if not parent.poll(60):
        proc.terminate()
        raise BenchError(f"{target.__name__} did not get ready")
    parent.recv()
    return proc


def until(count: Callable[[], int], n: int, timeout: float, what: str,
          every: float = 0.05) -> float:
    """Poll ``count`` every ``every`` s until it reaches ``n``; returns the perf_counter then."""
    deadline = time.monotonic() + timeout
    while (got := count()) < n:
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {got} of {n} after {timeout:.0f}s")
        time.sleep(every)
    if got != n:
        raise BenchError(f"{what}: {got} rows for {n} readings (duplicates?)")
    return time.perf_counter()


def bridge_config(broker: Broker, tmp: Path, sinks: list[dict[str, Any]], fsync: str
                  ) -> tuple[SparkConfig, str]:
    """The bridge's config, and its JSON for the child (secrets in clear, unlike the model's
    own dump)."""
    data = {"mqtt": {"host": broker.config.mqtt.host, "port": broker.port, "username": "hub"},
            "hub": {"id": "hub"}, "log_level": "WARNING",
            "bridges": {"outbox": {"path": str(tmp / f"outbox-{uuid.uuid4().hex[:6]}"),
                                   "fsync": fsync},
                        "ingest": {"client_id": f"bench-bridge-{uuid.uuid4().hex[:6]}"},
                        "sinks": sinks}}
    return SparkConfig.model_validate(data), json.dumps(data)


def cpu_seconds(procs: list[mp.process.BaseProcess]) -> float:
    """User + system CPU of ``procs`` and their children (the bridge's pump process)."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            top = psutil.Process(proc.pid)
            for each in [top, *top.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    total += times.user + times.system
    return total


def timed(broker: Broker, procs: list[mp.process.BaseProcess], messages: list[Any],
          count: Callable[[], int], what: str) -> Phase:
    """Publish, wait for every reading to be committed at the far end: readings/s and the
    consumer processes' CPU per reading over that time."""
    try:
        cpu0 = cpu_seconds(procs)
        t0 = time.perf_counter()
        publish(broker.port, broker.login(NODE), messages, qos=1)
        t1 = until(count, len(messages), 600, what)
        cpu = cpu_seconds(procs) - cpu0
        return Phase(len(messages) / (t1 - t0), cpu / len(messages) * 1e6)
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)


@dataclass(frozen=True)
class Phase:
    per_s: float
    cpu_us: float  # consumer CPU (user + system, all its processes) per reading


def start_bridge(raw: str, password: str, sink: str, split: bool) -> list[mp.process.BaseProcess]:
    """``spark bridge run`` (one process), or ``spark bridge ingest`` + ``spark bridge <sink>``."""
    if not split:
        return [start(bridge, raw, password, None, True)]
    return [start(bridge, raw, password, [], True), start(bridge, raw, password, [sink], False)]


def phase_pg(broker: Broker, tmp: Path, pg: str, n: int, naive: bool, fsync: str,
             split: bool) -> Phase:
    msgs = readings(n)
    with database(pg) as url:
        if naive:
            proc = start(naive_pg, broker.port, broker.login("hub"), url, "naive_metrics",
                         f"bench-naive-{uuid.uuid4().hex[:6]}")
            return timed(broker, [proc], msgs, lambda: pg_count(url, "naive_metrics"),
                         "naive PG")
        _cfg, raw = bridge_config(broker, tmp, [{"type": "timescale", "url": url}], fsync)
        procs = start_bridge(raw, broker.passwords["hub"], "timescale", split)
        rate = timed(broker, procs, msgs, lambda: pg_count(url, "device_metrics"), "bridge PG")
        if pg_count(url, "device_metrics", distinct=True) != n:
            raise BenchError("bridge PG: duplicate keys")
        return rate


def phase_kafka(broker: Broker, tmp: Path, n: int, naive: bool, fsync: str,
                split: bool) -> Phase:
    msgs = readings(n)
    with tansu(tmp) as kafka:
        if naive:
            from confluent_kafka.admin import AdminClient, NewTopic

            admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
            partitions = KafkaSinkConfig().partitions["edge.telemetry"]  # as the sink does
            for fut in admin.create_topics([NewTopic("naive.telemetry", partitions, 1)]).values():
                fut.result(10)
            proc = start(naive_kafka, broker.port, broker.login("hub"), kafka.bootstrap,
                         "naive.telemetry", f"bench-naive-{uuid.uuid4().hex[:6]}")
            counter = KafkaCounter(kafka.bootstrap, "naive.telemetry")
            try:
                return timed(broker, [proc], msgs, lambda: counter.count, "naive Kafka")
            finally:
                counter.close()
        _cfg, raw = bridge_config(broker, tmp, [{"type": "kafka",
                                                 "bootstrap_servers": kafka.bootstrap}], fsync)
        procs = start_bridge(raw, broker.passwords["hub"], "kafka", split)
        counter = KafkaCounter(kafka.bootstrap, "edge.telemetry")
        try:
            rate = timed(broker, procs, msgs, lambda: counter.count, "bridge Kafka")
        finally:
            counter.close()
        if len(counter.keys) != n:
            raise BenchError(f"bridge Kafka: {len(counter.keys)} distinct keys for {n} readings")
        return rate


def phase_outage(broker: Broker, tmp: Path, pg: str, n: int, fsync: str) -> dict[str, float]:
    msgs = readings(n)
    with database(pg) as url, tansu(tmp) as kafka:
        cfg, raw = bridge_config(broker, tmp, [
            {"type": "timescale", "url": url},
            {"type": "kafka", "bootstrap_servers": kafka.bootstrap}], fsync)
        outbox = Outbox(cfg.bridges.outbox, cfg.bridges.sink_names()).open()
        try:
            ingest = start(bridge, raw, broker.passwords["hub"], [], True)
            t0 = time.perf_counter()
            publish(broker.port, broker.login(NODE), msgs, qos=1)
            t1 = until(lambda: outbox.backlog("kafka").count, n, 900, "outage ingest")
            ingest.terminate()
            ingest.join(10)
            out = {"outage_ingest_per_s": n / (t1 - t0),
                   "outbox_mb": outbox.used_bytes() / 1e6}
            counter = KafkaCounter(kafka.bootstrap, "edge.telemetry")
            try:
                for sink, count in (("timescale", lambda: pg_count(url, "device_metrics")),
                                    ("kafka", lambda: counter.count)):
                    pump = start(bridge, raw, broker.passwords["hub"], [sink], False)
                    t0 = time.perf_counter()  # the process is up; its sink is not open yet
                    t1 = until(count, n, 900, f"drain {sink}", every=0.1)
                    pump.terminate()
                    pump.join(10)
                    out[f"drain_{sink}_per_s"] = n / (t1 - t0)
            finally:
                counter.close()
            if pg_count(url, "device_metrics", distinct=True) != n or len(counter.keys) != n:
                raise BenchError("drain: duplicate or missing keys")
            return out
        finally:
            outbox.close()


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench bridge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="readings per phase")
    parser.add_argument("--outage", type=int, default=600_000, help="readings in the backlog")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of (a)/(b), median")
    parser.add_argument("--url", "--pg", dest="pg", default=MACHINE_PG,
                        help="PostgreSQL or TimescaleDB server to create the phases' databases "
                        "on (a user allowed to CREATE DATABASE)")
    parser.add_argument("--fsync", default="batch", choices=["always", "batch", "interval",
                                                              "never"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["pg", "kafka", "outage"])
    parser.add_argument("--split", action="store_true",
                        help="run the bridge as `spark bridge ingest` + one process per sink")
    args = parser.parse_args(argv)
    res: dict[str, Any] = {"messages": args.messages, "outage": args.outage, "fsync": args.fsync,
                           "layout": "spark bridge ingest + spark bridge <sink>" if args.split
                           else "spark bridge run (ingest; pumps in its child process)"}
    with throwaway_broker(node_accounts=[NODE]) as broker, \
            tempfile.TemporaryDirectory(prefix="spark-bridge-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for sink in ("pg", "kafka"):
            if sink in args.skip:
                continue
            naive: list[Phase] = []
            ours: list[Phase] = []
            for _ in range(args.reps):
                for is_naive, into in ((True, naive), (False, ours)):
                    into.append(phase_pg(broker, tmp, args.pg, args.messages, is_naive,
                                         args.fsync, args.split) if sink == "pg" else
                                phase_kafka(broker, tmp, args.messages, is_naive, args.fsync,
                                            args.split))
                    print(f"  {sink:<5} {'naive' if is_naive else 'bridge':<6} "
                          f"{into[-1].per_s:>10,.0f} readings/s, "
                          f"{into[-1].cpu_us:5.1f} us CPU per reading", flush=True)
            for name, runs in (("naive", naive), ("bridge", ours)):
                res[f"{sink}_{name}_per_s"] = statistics.median(r.per_s for r in runs)
                res[f"{sink}_{name}_cpu_us"] = statistics.median(r.cpu_us for r in runs)
            res[f"{sink}_ratio"] = res[f"{sink}_bridge_per_s"] / res[f"{sink}_naive_per_s"]
            pairs = zip(naive, ours, strict=True)
            res[f"{sink}_pair_ratios"] = [round(b.per_s / a.per_s, 3) for a, b in pairs]
        if "outage" not in args.skip:
            res |= phase_outage(broker, tmp, args.pg, args.outage, args.fsync)
    report(res)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bridge.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def report(res: dict[str, Any]) -> None:
    print(f"\nbridge bench, {res['messages']:,} readings per phase, outbox fsync={res['fsync']}")
    for sink in ("pg", "kafka"):
        if f"{sink}_ratio" in res:
            ok = "OK" if res[f"{sink}_ratio"] >= ACCEPT_RATIO else "BELOW"
            print(f"  MQTT -> {sink:<5}: naive {res[f'{sink}_naive_per_s']:>9,.0f}/s, bridge "
                  f"{res[f'{sink}_bridge_per_s']:>9,.0f}/s, ratio {res[f'{sink}_ratio']:.2f} "
                  f"(>= {ACCEPT_RATIO}: {ok})")
    if "drain_timescale_per_s" in res:
        print(f"  outage: {res['outage']:,} readings ingested at {res['outage_ingest_per_s']:,.0f}"
              f"/s ({res['outbox_mb']:.0f} MB of outbox)")
        for sink in ("timescale", "kafka"):
            rate = res[f"drain_{sink}_per_s"]
            ok = "OK" if rate >= ACCEPT_DRAIN else "BELOW"
            print(f"  drain -> {sink:<9}: {rate:>9,.0f} records/s (>= {ACCEPT_DRAIN:,.0f}: {ok}), "
                  "exact count, no duplicate keys")
