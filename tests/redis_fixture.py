"""A throwaway Redis for the cache tests: ``redis-server`` on a free port, no persistence,
started per test (the Redis-down test stops it) and stopped in ``finally``.

Where no ``redis-server`` binary is installed the tests that need it are skipped with the reason
(the machine's own Redis on 6379 is never used: CI must not depend on it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
MISSING = "redis-server is not installed (apt-get install redis-server); the Redis cache tests " \
          "need a throwaway one"


@dataclass
class RunningRedis:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: Path, port: int | None = None) -> RunningRedis:
    """A redis-server on ``port`` (default: a free one), answering PING when this returns."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(MISSING)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    log = workdir / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--protected-mode", "yes"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    running = RunningRedis(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        # Polling a subprocess from a sync fixture: the interval is a poll, not a wait for time.
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.02)
    except BaseException:
        running.stop()
        raise
    return running


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RunningRedis]:
    running = start_redis(tmp_path / "redis")
    try:
        yield running
    finally:
        running.stop()
