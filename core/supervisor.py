"""Components of one process, each restarted when it dies.

A *component* is a long-running coroutine (the hub's housekeeping, a cloud command source, the
recorder, the web server). :meth:`Supervisor.run` runs one under its name until it is
cancelled: when it raises, the traceback is logged at once, the component is marked ``failed``
(``/health`` answers 503 naming it), and after a :class:`~core.backoff.Backoff` wait it is
started again through its factory (a fresh coroutine each time). A run that lasted
``stable_after`` seconds resets the backoff: a component failing once a day restarts at once.
A component that returns is ``stopped`` unless it is ``persistent`` (meant to run for the
process's life): then returning is a death like raising.

Untrusted input must never get here: every component drops bad messages itself. This is the
net for the bugs that are left, so that a dead part is loud, visible and temporary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from spark.core.backoff import Backoff

log = logging.getLogger(__name__)
State = Literal["starting", "running", "failed", "stopped"]
Factory = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class ComponentStatus:
    name: str
    state: State = "starting"
    restarts: int = 0
    error: str | None = None  # the latest death, ``Type: message``
    since: float = 0.0  # wall time of the latest state change
    retry_in: float = 0.0  # while failed: the backoff delay before the next start

    @property
    def healthy(self) -> bool:
        return self.state in ("starting", "running", "stopped")


class ComponentDied(RuntimeError):
    """A persistent component returned while nothing asked it to stop."""


class Supervisor:
    """The process's components by name. ``backoff`` builds each component's backoff."""

    def __init__(self, *, stable_after: float = 60.0,
                 backoff: Callable[[], Backoff] = lambda: Backoff(0.5, 30.0)) -> None:
        self.stable_after = stable_after
        self._backoff = backoff
        self.components: dict[str, ComponentStatus] = {}
        self._stopping = asyncio.Event()

    def statuses(self) -> list[ComponentStatus]:
        return list(self.components.values())

    def failed(self) -> list[ComponentStatus]:
        return [c for c in self.components.values() if not c.healthy]

    def stop(self) -> None:
        """A returning component is stopped, not dead, from now on; backoff waits end."""
        self._stopping.set()

    async def run(self, name: str, factory: Factory, *, persistent: bool = True,
                  restart: bool = True) -> None:
        """Run ``factory()`` as component ``name`` until it stops or this is cancelled. With
        ``restart=False`` (a part that can run once) a death is logged and stays ``failed``:
        the process is unhealthy until it is restarted as a whole."""
        status = self.components[name] = ComponentStatus(name, since=time.time())
        backoff = self._backoff()
        while True:
            started = time.monotonic()
            self._set(status, "running")
            try:
                await factory()
                if not persistent or self._stopping.is_set():
                    self._set(status, "stopped")
                    return
                raise ComponentDied(f"{name} returned while the process runs")
            except asyncio.CancelledError:
                self._set(status, "stopped")
                raise
            except Exception as exc:
                if time.monotonic() - started >= self.stable_after:
                    backoff.reset()
                status.error = f"{type(exc).__name__}: {exc}"[:500]
                status.retry_in = backoff.delay
                self._set(status, "failed")
                if not restart:
                    log.error("component %s died (%s); it cannot restart: restart the process",
                              name, status.error, exc_info=exc)
                    return
                log.error("component %s died (%s); restarting in %.1f s", name, status.error,
                          backoff.delay, exc_info=exc)
            if not self._stopping.is_set():
                await backoff.wait(until=self._stopping)
            if self._stopping.is_set():
                self._set(status, "stopped")
                return
            status.restarts += 1
            log.warning("component %s: restart %d", name, status.restarts)

    @staticmethod
    def _set(status: ComponentStatus, state: State) -> None:
        status.state = state
        status.since = time.time()
