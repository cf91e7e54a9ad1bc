"""Running an external program from async code: its stdin given, its stdout and the end of its
stderr back; timed out, cancelled or too talkative, it is killed, its whole process group with
it, and reaped before :func:`run_process` returns or raises.

Why not ``asyncio.create_subprocess_exec`` + ``communicate``: its ``Process.wait()`` returns only
when the process has exited *and* every pipe to it has reached its end. So it can wait forever
on a process long reaped:

* a cancelled (or timed-out) ``communicate()`` leaves stdout unread, and asyncio's stream flow
  control pauses a pipe holding over 128 KiB (twice the reader's 64 KiB limit) that nobody reads,
  so the pipe's end is never seen (the voice node's synthesiser: a reply's audio is 130-190 KB;
  the node's stop waited on it for over 60 s in a CI run, its transport saying ``returncode=-9
  ... stdout=<_UnixReadPipeTransport ... idle>``);
* killing the process alone leaves what it started (a wrapper script's pipeline, a tool's
  background helper) holding the pipes, and their end comes only when those end;
* a start cancelled is cleaned up by asyncio itself, which kills the process only and then waits
  for its pipes' end with no bound.

Here the output is collected as it comes (no flow control, capped); the program runs in a
process group of its own; ending it kills the whole group and closes our ends of its pipes, so
the transport ends as soon as the process is reaped. A start cancelled is let finish, then the
program is ended here. The reap is bounded (:data:`REAP_S`) as a safety net, logged if reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from spark.core.errors import ProcessError

log = logging.getLogger(__name__)

REAP_S = 10.0  # safety net: seconds a killed program is waited for (logged if ever reached)
ERR_KEEP = 4096  # the last bytes of stderr kept, by default


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """A program that ran to its end: its exit status (negative: the signal that ended it), all
    it wrote to stdout, and the last bytes it wrote to stderr."""

    returncode: int
    stdout: bytes
    stderr_tail: bytes


class _Run(asyncio.SubprocessProtocol):
    """One run: stdout and the end of stderr kept as they come; ``ended`` once the process is
    reaped and its pipes closed."""

    def __init__(self, max_output: int, err_keep: int) -> None:
        self.max_output = max_output
        self.err_keep = err_keep
        self.out = bytearray()
        self.err = bytearray()
        self.too_long = False
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 2:
            self.err += data
            if len(self.err) > self.err_keep:
                del self.err[:len(self.err) - self.err_keep]
        elif len(self.out) + len(data) > self.max_output:
            self.too_long = True
            if self.transport is not None:
                _end(self.transport)
        elif not self.too_long:
            self.out += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


def _end(transport: asyncio.SubprocessTransport) -> None:
    """Kill the program's process group and close our ends of its pipes: the transport then
    ends as soon as the process is reaped (nothing left to wait for on the pipes)."""
    # the group, even when the program itself has exited: what it started may hold a pipe
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(transport.get_pid(), signal.SIGKILL)
    for fd in (0, 1, 2):
        pipe = transport.get_pipe_transport(fd)
        if isinstance(pipe, asyncio.WriteTransport):
            if not pipe.is_closing() or pipe.get_write_buffer_size():
                pipe.abort()  # input still buffered for a dead reader: dropped
        elif pipe is not None:
            pipe.close()


async def _ended(transport: asyncio.SubprocessTransport, run: _Run, name: str) -> None:
    """End the program if it still runs, wait (at most REAP_S, not cancellable) for it to be
    reaped, and close the transport (after the reap: its close would poll the process, racing
    the child watcher)."""
    try:
        if not run.ended.done():
            _end(transport)
            try:
                await asyncio.wait_for(asyncio.shield(run.ended), REAP_S)
            except TimeoutError:
                log.warning("%s (pid %s) not reaped %g s after it was killed; left to the "
                            "child watcher", name, transport.get_pid(), REAP_S)
    finally:
        transport.close()


async def _start(argv: Sequence[str], stdin: int, max_output: int, err_keep: int,
                 cwd: str | os.PathLike[str] | None,
                 ) -> tuple[asyncio.SubprocessTransport, _Run]:
    """Start the program. Cancelled meanwhile, the start is let finish (asyncio's own clean-up
    of a cancelled start kills only the process, then waits for its pipes' end with no bound),
    and the program is ended and reaped here."""
    loop = asyncio.get_running_loop()
    pipe = subprocess.PIPE
    start = asyncio.ensure_future(loop.subprocess_exec(
        lambda: _Run(max_output, err_keep), *argv, stdin=stdin, stdout=pipe, stderr=pipe,
        cwd=cwd, process_group=0))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        start.add_done_callback(_end_started)  # ends it even if this wait is cancelled too
        await asyncio.wait([start], timeout=REAP_S)
        if start.done() and not start.cancelled() and start.exception() is None:
            await _ended(*start.result(), argv[0])
        raise


def _end_started(start: asyncio.Future[tuple[asyncio.SubprocessTransport, _Run]]) -> None:
    if not start.cancelled() and start.exception() is None:
        _end(start.result()[0])


async def run_process(argv: Sequence[str], *, stdin: bytes | None, timeout: float,
                      max_output: int, err_keep: int = ERR_KEEP,
                      cwd: str | os.PathLike[str] | None = None) -> ProcessResult:
    """Run ``argv`` (never a shell) with ``stdin`` on its standard input (None: /dev/null) until
    it exits and its pipes reach their end, at most ``timeout`` seconds; what it wrote.

    Raises :class:`ProcessError`: ``start`` (not started; the ``OSError`` is the cause),
    ``timeout``, ``output`` (over ``max_output`` bytes on stdout). Timed out, cancelled or over
    the cap, the program (its whole process group) is killed and reaped before this returns.
    """
    name = argv[0]
    try:
        transport, run = await _start(
            argv, subprocess.DEVNULL if stdin is None else subprocess.PIPE, max_output,
            err_keep, cwd)
    except OSError as exc:
        raise ProcessError(f"cannot run {name}: {exc}", "start", argv) from exc
    try:
        if stdin is not None:
            pipe = transport.get_pipe_transport(0)
            assert isinstance(pipe, asyncio.WriteTransport)
            pipe.write(stdin)
            pipe.close()
        async with asyncio.timeout(timeout):
            await asyncio.shield(run.ended)
    except TimeoutError:
        raise ProcessError(f"{name} took longer than {timeout:g} s", "timeout", argv) from None
    finally:
        # cancelled or timed out: killed and reaped before we go
        await _ended(transport, run, name)
    if run.too_long:
        raise ProcessError(f"{name} wrote over {max_output} bytes", "output", argv)
    code = transport.get_returncode()
    assert code is not None  # the transport ends only once the process is reaped
    return ProcessResult(code, bytes(run.out), bytes(run.err))
