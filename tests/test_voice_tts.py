"""A reply interrupted while its synthesiser runs (mute, a new command, the node stopping): the
synthesiser process is killed and reaped, not left running with an unclosed transport (issue 13:
test_voice_e2e::test_mute_stops_listening failed on "unclosed transport" under load).

And the reap is prompt, well inside its safety bound (``synthproc.REAP_S``), wherever the cancel
lands: with the synthesiser's audio come but unread (asyncio paused that pipe, so its end was
never seen and the reap never came: the voice node's stop waited on it for over 60 s in a CI run
under load), and with a synthesiser that is a pipeline of processes.
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

from helpers import wait_for

from spark.nodes.voice.synthproc import REAP_S
from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig

PROMPT_S = REAP_S / 2  # a killed synthesiser is reaped within this, however loaded the machine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _program(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def _no_resource_warnings() -> Iterator[None]:
    """No transport (or pipe) of ours left unclosed. Earlier tests' garbage is collected first,
    so that it is not blamed on this one."""
    gc.collect()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        yield
        gc.collect()
    # a transport dropped unclosed kills its process too, but says so (the flaky failure)
    assert not [str(w.message) for w in said if issubclass(w.category, ResourceWarning)]


async def _cancelled(reply: asyncio.Task[object], what: str = "") -> None:
    """Cancel ``reply``; it must end (cancelled) with its synthesiser reaped within PROMPT_S."""
    reply.cancel()
    try:
        async with asyncio.timeout(PROMPT_S):
            (outcome,) = await asyncio.gather(reply, return_exceptions=True)
    except TimeoutError:
        raise AssertionError(f"the cancelled reply did not end within {PROMPT_S:g} s"
                             f"{what}") from None
    assert isinstance(outcome, asyncio.CancelledError)


async def test_a_cancelled_reply_kills_and_reaps_the_synthesiser(tmp_path: Path) -> None:
    # a synthesiser that never finishes (a stand-in program, as espeak-ng stuck on a device)
    pid_file = tmp_path / "pid"
    slow = _program(tmp_path / "slow-tts", f"#!/bin/sh\ncat >/dev/null\necho $$ > {pid_file}.new"
                    f"\nmv {pid_file}.new {pid_file}\nexec sleep 600\n")
    tts = EspeakTts(EspeakTtsConfig(binary=str(slow)))
    reply = asyncio.create_task(tts.synthesize("the lamp is on"))
    await wait_for(pid_file.is_file, 30,
                   what="the synthesiser started")
    pid = int(pid_file.read_text())
    cmdline = Path(f"/proc/{pid}/cmdline")
    await wait_for(lambda: cmdline.read_bytes().startswith(b"sleep"), 30,
                   what="the synthesiser running")
    with _no_resource_warnings():
        await _cancelled(reply)
        assert not _alive(pid)  # killed, and reaped (a zombie would still answer signal 0)


async def test_the_reap_is_prompt_when_the_audio_came_unread(tmp_path: Path) -> None:
    """The synthesiser wrote a reply's audio (256 KiB) just before the cancel, and it was not
    read yet. asyncio's ``communicate`` paused a pipe holding over 128 KiB that nobody reads:
    the pipe's end was never seen, and ``Process.wait()`` (which waits for every pipe's end as
    well as the exit) never returned, though the process had long been reaped. The loop is
    held while the audio is written, so that the cancel lands there every time."""
    report_path = tmp_path / "report"
    # the stand-in: reads the text, says its pid, writes 256 KiB of audio when told (SIGUSR1)
    # into a pipe made big enough to take it all, says so, then never ends
    synth = _program(tmp_path / "burst-tts", f"""#!{sys.executable}
import fcntl, os, signal, socket, sys
sys.stdin.buffer.read()
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})
fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ
report = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
report.sendto(str(os.getpid()).encode(), {str(report_path)!r})
signal.sigwait({{signal.SIGUSR1}})
os.write(1, bytes(256 * 1024))
report.sendto(b"written", {str(report_path)!r})
signal.sigwait({{signal.SIGUSR1}})
""")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as reports:
        reports.bind(str(report_path))
        reports.setblocking(False)
        tts = EspeakTts(EspeakTtsConfig(binary=str(synth)))
        reply = asyncio.create_task(tts.synthesize("the lamp is on"))
        async with asyncio.timeout(30):
            pid = int(await asyncio.get_running_loop().sock_recv(reports, 64))
        with _no_resource_warnings():
            # the loop is held from here to the cancel: the reply cannot read the audio
            os.kill(pid, signal.SIGUSR1)
            reports.settimeout(30)
            assert reports.recv(64) == b"written"
            await _cancelled(reply)
            assert not _alive(pid)


def _strays(marks: tuple[bytes, ...]) -> list[int]:
    """Pids of live processes whose command line is one of ``marks``."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() in marks:
                found.append(int(proc.name))
    return found


async def test_a_pipeline_synthesiser_is_reaped_wherever_the_cancel_lands(
        tmp_path: Path) -> None:
    """A synthesiser that is a pipeline (a wrapper script: synthesiser | converter): killing
    the script alone left the others holding the pipes, so their end never came (in asyncio's
    own clean-up of a start cancelled, with no bound at all). Cancelled after each number of
    event-loop passes, from before the start to its running, every process of it is killed
    and the reply ends promptly."""
    tag = f"7{os.getpid():07d}"
    marks = (f"sleep\0{tag}1\0".encode(), f"sleep\0{tag}2\0".encode())
    # a converter that holds stdout and stderr (and never ends), the synthesiser reading stdin
    synth = _program(tmp_path / "pipeline-tts",
                     f"#!/bin/sh\nsleep {tag}1 &\ncat >/dev/null\nexec sleep {tag}2\n")
    tts = EspeakTts(EspeakTtsConfig(binary=str(synth)))
    try:
        with _no_resource_warnings():
            for passes in [*range(40), -1]:
                reply = asyncio.create_task(tts.synthesize("the lamp is on"))
                if passes < 0:  # running: the converter started, the synthesiser waiting
                    await wait_for(lambda: len(_strays(marks)) == 2, 30,
                                   what="the synthesiser running")
                for _ in range(passes):
                    await asyncio.sleep(0)  # one pass of the event loop
                await _cancelled(reply, f" (cancelled after {passes} passes)")
                await wait_for(lambda: not _strays(marks), 10,
                               what=f"every process of the synthesiser killed ({passes} passes)")
    finally:
        for pid in _strays(marks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
