"""Run a Mosquitto process: start, wait until it accepts connections, stop, kill, restart, reload.

Plain ``subprocess.Popen`` rather than asyncio subprocesses, so one process object can be driven
from any event loop (pytest fixtures run in one loop, tests in another) or none (``*_blocking``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from spark.core.errors import BrokerError
from spark.core.link import tcp_reachable

POLL = 0.02  # seconds between readiness checks (a condition wait, bounded by the deadline)


def find_mosquitto() -> str | None:
    """The mosquitto executable: on PATH, or in /usr/sbin (often not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def send_reload(pid: int) -> None:
    """SIGHUP: Mosquitto re-reads its password and ACL files (connected clients stay)."""
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise BrokerError(f"no Mosquitto process {pid} to reload") from exc


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class MosquittoProcess:
    """``async with MosquittoProcess(conf, host, port):`` runs ``mosquitto -c conf``.

    Reusable (start again after stop), not re-entrant. ``log_file`` is Mosquitto's own log (from
    the config); stdout/stderr go to ``console_file`` (early errors such as a bad config line).
    """

    def __init__(
        self,
        conf: Path,
        host: str,
        port: int,
        *,
        log_file: Path | None = None,
        console_file: Path | None = None,
        executable: str | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.conf = Path(conf)
        self.host = host
        self.port = port
        self.log_file = log_file
        self.console_file = console_file or self.conf.with_name("mosquitto.console.log")
        self.executable = executable
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- state --------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        parts = [t for t in (tail(self.log_file, lines), tail(self.console_file, lines)) if t]
        return "\n".join(parts) or "(no output)"

    # ---- start ------------------------------------------------------------------------
    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.running:
            raise BrokerError(f"mosquitto already running (pid {self.pid})")
        exe = self.executable or find_mosquitto()
        if exe is None:
            raise BrokerError("mosquitto is not installed (apt install mosquitto)")
        if port_open(self.host, self.port, timeout=0.2):
            raise BrokerError(
                f"cannot start mosquitto: {self.host}:{self.port} is already in use; "
                "stop what listens there or choose another mqtt.port"
            )
        self.console_file.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: the directory may belong to the broker's unprivileged user.
        fd = os.open(self.console_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                     0o600)
        with os.fdopen(fd, "wb") as console:
            # From the config's directory, named relative to it: a Mosquitto that switched from
            # root to its own user re-reads it on SIGHUP without rights on the directories above.
            self._proc = subprocess.Popen(
                [exe, "-c", self.conf.name],
                cwd=self.conf.parent,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
            )
        return self._proc

    def _failed(self, proc: subprocess.Popen[bytes], why: str) -> BrokerError:
        return BrokerError(
            f"mosquitto -c {self.conf} {why} (exit code {proc.returncode}). Its log:\n"
            + self.log_tail()
        )

    def _exited(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            raise self._failed(proc, "exited during start-up")

    def _ready(self, proc: subprocess.Popen[bytes]) -> bool:
        self._exited(proc)
        return port_open(self.host, self.port, timeout=0.2) and proc.poll() is None

    async def start(self) -> None:
        proc = self._spawn()
        try:
            async with asyncio.timeout(self.start_timeout):
                # A listening port has no event to await: poll it, bounded by the deadline.
                while True:
                    self._exited(proc)
                    if await tcp_reachable(self.host, self.port, 0.5) and proc.poll() is None:
                        break
                    await asyncio.sleep(POLL)
        except TimeoutError:
            self._reap(proc)
            raise self._failed(
                proc, f"did not accept connections on {self.host}:{self.port} "
                f"within {self.start_timeout:.0f}s"
            ) from None
        except BaseException:
            self._reap(proc)
            raise

    def start_blocking(self) -> None:
        """:meth:`start` for code without an event loop (session fixtures, the CLI)."""
        proc = self._spawn()
        deadline = time.monotonic() + self.start_timeout
        try:
            while not self._ready(proc):
                if time.monotonic() > deadline:
                    raise self._failed(proc, f"did not accept connections on {self.port} in time")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(POLL)  # returns early if it exits; _ready reports that
        except BaseException:
            self._reap(proc)
            raise

    # ---- stop -------------------------------------------------------------------------
    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def stop_blocking(self, grace: float = 5.0) -> int | None:
        """SIGTERM (Mosquitto saves its persistence file), then SIGKILL after ``grace`` s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    async def stop(self, grace: float = 5.0) -> int | None:
        return await asyncio.to_thread(self.stop_blocking, grace)

    def kill(self) -> None:
        """SIGKILL, like a crash or power cut: nothing saved since the last autosave."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._reap(proc)

    async def restart(self, grace: float = 5.0) -> None:
        await self.stop(grace)
        await self.start()

    def reload(self) -> None:
        """SIGHUP: re-read password and ACL files."""
        if self._proc is None or not self.running:
            raise BrokerError("mosquitto is not running")
        send_reload(self._proc.pid)

    # ---- context manager --------------------------------------------------------------
    async def __aenter__(self) -> MosquittoProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> MosquittoProcess:
        self.start_blocking()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_blocking()
