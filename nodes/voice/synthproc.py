"""A synthesiser run as a subprocess (espeak-ng, piper): the text to its stdin, its stdout (the
WAV) back; when the reply is cancelled or times out, the synthesiser is killed and reaped at once.

Why not ``asyncio.create_subprocess_exec`` + ``communicate``: its ``Process.wait()`` returns only
when the process has exited *and* every pipe to it has reached its end. A cancelled
``communicate()`` leaves stdout unread, and asyncio's stream flow control pauses a pipe holding
over 128 KiB (twice the reader's 64 KiB limit) nobody reads, so the pipe's end was never seen
and the wait never returned, though the killed process had long been reaped (its transport said
``returncode=-9 ... stdout=<_UnixReadPipeTransport ... idle>``). A reply's audio is 130-190 KB,
so it took only a cancel landing while espeak-ng wrote: likely under CPU load, when the event
loop's passes are long (the voice node's stop waited on it for over 60 s in a CI run).

Here the output is collected as it comes (no flow control); the synthesiser runs in a process
group of its own, and ending it kills the whole group (a wrapper script's pipeline too) and
closes our ends of its pipes, so the transport ends as soon as the process is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess

from spark.nodes.voice.errors import SpeechError

log = logging.getLogger(__name__)

REAP_S = 10.0  # safety net: seconds a killed synthesiser is waited for (logged if ever reached)
MAX_OUTPUT = 32 * 1024 * 1024  # bytes of audio a reply may have (~12 min of 22 kHz speech)
ERR_KEEP = 4096  # the last bytes of stderr kept for the error message


class _Synthesis(asyncio.SubprocessProtocol):
    """One run: stdout and the end of stderr kept as they come; ``ended`` once the process is
    reaped and its pipes closed."""

    def __init__(self) -> None:
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
            self.err = (self.err + data)[-ERR_KEEP:]
        elif len(self.out) + len(data) > MAX_OUTPUT:
            self.too_long = True
            if self.transport is not None:
                _end(self.transport)
        elif not self.too_long:
            self.out += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


def _end(transport: asyncio.SubprocessTransport) -> None:
    """Kill the synthesiser's process group and close our ends of its pipes: the transport
    then ends as soon as the process is reaped (nothing left to wait for on the pipes)."""
    # the group, even when the synthesiser itself has exited: what it started may hold a pipe
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(transport.get_pid(), signal.SIGKILL)
    for fd in (0, 1, 2):
        pipe = transport.get_pipe_transport(fd)
        if isinstance(pipe, asyncio.WriteTransport):
            if not pipe.is_closing() or pipe.get_write_buffer_size():
                pipe.abort()  # text still buffered for a dead reader: dropped
        elif pipe is not None:
            pipe.close()


async def _ended(transport: asyncio.SubprocessTransport, synth: _Synthesis, name: str) -> None:
    """End the synthesiser if it still runs, wait (at most REAP_S, not cancellable) for it to
    be reaped, and close the transport (after the reap: its close would poll the process,
    racing the child watcher)."""
    try:
        if not synth.ended.done():
            _end(transport)
            try:
                await asyncio.wait_for(asyncio.shield(synth.ended), REAP_S)
            except TimeoutError:
                log.warning("%s (pid %s) not reaped %g s after it was killed; left to the "
                            "child watcher", name, transport.get_pid(), REAP_S)
    finally:
        transport.close()


async def _start(argv: list[str]) -> tuple[asyncio.SubprocessTransport, _Synthesis]:
    """Start the synthesiser. Cancelled meanwhile, the start is let finish (asyncio's own
    clean-up of a cancelled start kills only the process, then waits for its pipes' end with no
    bound), and the synthesiser is ended and reaped here."""
    loop = asyncio.get_running_loop()
    pipe = subprocess.PIPE
    start = asyncio.ensure_future(loop.subprocess_exec(
        _Synthesis, *argv, stdin=pipe, stdout=pipe, stderr=pipe, process_group=0))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        start.add_done_callback(_end_started)  # ends it even if this wait is cancelled too
        await asyncio.wait([start], timeout=REAP_S)
        if start.done() and not start.cancelled() and start.exception() is None:
            await _ended(*start.result(), argv[0])
        raise


def _end_started(start: asyncio.Future[tuple[asyncio.SubprocessTransport, _Synthesis]]) -> None:
    if not start.cancelled() and start.exception() is None:
        _end(start.result()[0])


async def run_synthesiser(argv: list[str], text: str, timeout: float = 20.0) -> bytes:
    """Run ``argv`` with ``text`` on its stdin; its stdout. Cancelled or timed out, the
    synthesiser (its whole process group) is killed and reaped before this returns."""
    try:
        transport, synth = await _start(argv)
    except OSError as exc:
        raise SpeechError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(text.encode())
        stdin.close()
        async with asyncio.timeout(timeout):
            await asyncio.shield(synth.ended)
    except TimeoutError:
        raise SpeechError(f"{argv[0]} took longer than {timeout}s") from None
    finally:
        # cancelled (the reply was interrupted) or timed out: killed and reaped before we go
        await _ended(transport, synth, argv[0])
    code = transport.get_returncode()
    if synth.too_long:
        raise SpeechError(f"{argv[0]} wrote over {MAX_OUTPUT} bytes")
    if code != 0 or not synth.out:
        raise SpeechError(f"{argv[0]} failed ({code}): {synth.err.decode(errors='replace')[-200:]}")
    return bytes(synth.out)
