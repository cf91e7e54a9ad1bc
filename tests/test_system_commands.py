"""The system node's tool runner (``CommandRunner.run``, on ``core/procs.py``) ends promptly
however the tool ends: timed out, cancelled (the node stopping) wherever the cancel lands, or
leaving a background helper behind. Each case ends within PROMPT_S (well inside the reap's
safety bound), every process of the tool killed and reaped, no transport left unclosed.

Each case waited far longer on the runner it replaced (``communicate()`` under a timeout, then
``kill(); await wait()``): asyncio's ``Process.wait()`` waits for every pipe's end as well as the
exit, so a tool's output come unread (its pipe paused by flow control) or a helper it started
holding the pipes kept it waiting; and a start cancelled was cleaned up by asyncio itself, which
waits for the pipes' end with no bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from spark.core.procs import REAP_S
from spark.nodes.system.sources import CommandError, CommandResult, CommandRunner

PROMPT_S = REAP_S / 2  # a killed tool is reaped within this, however loaded the machine
TIMEOUT_S = 0.5  # the runner's timeout in these tests


def _program(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _strays(marks: tuple[bytes, ...]) -> list[int]:
    """Pids of live processes whose command line is one of ``marks``."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() in marks:
                found.append(int(proc.name))
    return found


@contextlib.contextmanager
def _killed_at_the_end(marks: tuple[bytes, ...]) -> Iterator[None]:
    """Whatever the test leaves running (only when it fails) is killed."""
    try:
        yield
    finally:
        for pid in _strays(marks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _no_resource_warnings() -> Iterator[None]:
    """No transport (or pipe) of ours left unclosed. Earlier tests' garbage is collected first,
    so that it is not blamed on this one."""
    gc.collect()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert not [str(w.message) for w in said if issubclass(w.category, ResourceWarning)]


async def _ended(run: asyncio.Task[CommandResult], what: str) -> BaseException | CommandResult:
    """``run``'s outcome, which must come within PROMPT_S."""
    try:
        async with asyncio.timeout(PROMPT_S):
            (outcome,) = await asyncio.gather(run, return_exceptions=True)
    except TimeoutError:
        raise AssertionError(f"the command did not end within {PROMPT_S:g} s{what}") from None
    return outcome


def _sleepers(tag: str) -> tuple[tuple[bytes, ...], str]:
    """Two ``sleep`` processes no other test runs (their command lines are the marks): a
    background helper holding stdout and stderr, and the tool itself."""
    marks = (f"sleep\0{tag}1\0".encode(), f"sleep\0{tag}2\0".encode())
    return marks, f"#!/bin/sh\nsleep {tag}1 &\nexec sleep {tag}2\n"


async def test_a_timeout_with_the_output_come_unread_ends_at_once(tmp_path: Path) -> None:
    """The tool wrote 384 KiB just before the runner's deadline, unread when the deadline
    passed: asyncio's stream flow control paused that pipe (over 128 KiB nobody reads), so its
    end was never seen and ``Process.wait()`` never returned after the kill. The loop is held
    from before the write to past the deadline, so that the timeout lands there every time."""
    report_path = tmp_path / "report"
    # the stand-in: says its pid, writes 384 KiB when told (SIGUSR1) into a pipe made big
    # enough to take it all, is slow to say so (past the runner's deadline), then never ends
    tool = _program(tmp_path / "burst-tool", f"""#!{sys.executable}
import fcntl, os, signal, socket, time
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})
fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ
report = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
report.sendto(str(os.getpid()).encode(), {str(report_path)!r})
signal.sigwait({{signal.SIGUSR1}})
os.write(1, bytes(384 * 1024))
time.sleep({2 * TIMEOUT_S})
report.sendto(b"written", {str(report_path)!r})
signal.sigwait({{signal.SIGUSR1}})
""")
    runner = CommandRunner(timeout=TIMEOUT_S)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as reports:
        reports.bind(str(report_path))
        reports.setblocking(False)
        run = asyncio.create_task(runner.run([str(tool)]))
        async with asyncio.timeout(30):
            pid = int(await asyncio.get_running_loop().sock_recv(reports, 64))
        try:
            with _no_resource_warnings():
                # the loop is held from here to past the runner's deadline: nothing is read
                os.kill(pid, signal.SIGUSR1)
                reports.settimeout(30)
                assert reports.recv(64) == b"written"
                outcome = await _ended(run, " (timed out with 384 KiB unread)")
                assert isinstance(outcome, CommandError), outcome
                assert f"no answer within {TIMEOUT_S:g} s" in str(outcome)
                assert not _alive(pid)  # killed, and reaped (a zombie answers signal 0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("tool_exits", [False, True], ids=["tool-runs", "tool-exited"])
async def test_a_timeout_with_a_helper_holding_the_pipes_ends_at_once(
        tmp_path: Path, tool_exits: bool) -> None:
    """The tool started a helper in the background that holds its stdout and stderr (and never
    ends); the tool itself still runs, or has exited. Killing the tool alone left the helper
    holding the pipes, and ``Process.wait()`` waited for their end as long as it lived."""
    marks, script = _sleepers(f"7{os.getpid():07d}{int(tool_exits)}")
    if tool_exits:
        script = script.replace("exec sleep", "echo") + "exit 0\n"
        marks = marks[:1]
    tool = _program(tmp_path / "helper-tool", script)
    runner = CommandRunner(timeout=TIMEOUT_S)
    with _killed_at_the_end(marks), _no_resource_warnings():
        run = asyncio.create_task(runner.run([str(tool)]))
        await wait_for(lambda: len(_strays(marks)) == len(marks), 30, what="the tool running")
        outcome = await _ended(run, "")
        assert isinstance(outcome, CommandError), outcome
        assert f"no answer within {TIMEOUT_S:g} s" in str(outcome)
        await wait_for(lambda: not _strays(marks), 10, what="every process of the tool killed")


async def test_a_cancelled_command_is_reaped_wherever_the_cancel_lands(tmp_path: Path) -> None:
    """The node stops while a tool runs: cancelled after each number of event-loop passes, from
    before the start to its running, the run ends promptly with every process of the tool (its
    background helper too) killed and reaped. A start cancelled was cleaned up by asyncio, which
    killed the tool alone and then waited, with no bound, for the pipes the helper held; a run
    cancelled later was killed but never reaped (its transport left unclosed)."""
    marks, script = _sleepers(f"7{os.getpid():07d}2")
    tool = _program(tmp_path / "helper-tool", script)
    runner = CommandRunner(timeout=60)
    with _killed_at_the_end(marks), _no_resource_warnings():
        for passes in [*range(40), -1]:
            run = asyncio.create_task(runner.run([str(tool)]))
            if passes < 0:  # running: the helper started, the tool waiting
                await wait_for(lambda: len(_strays(marks)) == 2, 30, what="the tool running")
            for _ in range(passes):
                await asyncio.sleep(0)  # one pass of the event loop
            run.cancel()
            outcome = await _ended(run, f" (cancelled after {passes} passes)")
            assert isinstance(outcome, asyncio.CancelledError), outcome
            await wait_for(lambda: not _strays(marks), 10,
                           what=f"every process of the tool killed ({passes} passes)")


async def test_a_command_that_writes_too_much_is_ended(tmp_path: Path) -> None:
    """A tool that never stops writing (a runaway ``yes``) is killed at the cap, not read until
    the timeout into memory."""
    runner = CommandRunner(timeout=60)
    with pytest.raises(CommandError, match=r"yes: wrote over \d+ bytes"):
        async with asyncio.timeout(30):
            await runner.run(["yes"])
