"""The router's exceptions: one base, :class:`LlmError`; library errors are translated at the
backend boundary (``raise ... from``)."""

from __future__ import annotations

from spark.core.errors import SparkError


class LlmError(SparkError):
    """Base of the router's errors."""


class BackendFailed(LlmError):
    """One backend failed. ``opens_breaker``: a connection error, a 5xx or a timeout (the
    backend is unwell); a 4xx (e.g. no such model there) only moves on to the next backend."""

    def __init__(self, backend: str, reason: str, *, opens_breaker: bool = True,
                 status: int | None = None) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend, self.reason = backend, reason
        self.opens_breaker, self.status = opens_breaker, status


class NoBackend(LlmError):
    """Every backend on the route failed or was skipped; the message lists each and why."""

    def __init__(self, message: str, attempts: list[str], note: str | None = None) -> None:
        super().__init__(message if note is None else f"{message} ({note})")
        self.attempts, self.note = attempts, note


class StreamBroken(LlmError):
    """The backend failed after tokens reached the caller: no failover, the error is reported
    with what was streamed so far."""

    def __init__(self, backend: str, reason: str, partial: str) -> None:
        super().__init__(f"{backend} failed mid-stream after {len(partial)} characters: {reason}")
        self.backend, self.reason, self.partial = backend, reason, partial
