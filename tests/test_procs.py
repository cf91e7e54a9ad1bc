"""``core/procs.py``'s ``run_process``: what a program that ends is given and gives back, and the
errors it raises. Its ending of programs that do not end (timed out, cancelled, too talkative,
leaving helpers behind) is tested through its users: ``test_system_commands.py`` (the system
node's tools) and ``test_voice_tts.py`` (the voice's synthesiser)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spark.core.errors import ProcessError
from spark.core.procs import ProcessResult, run_process


async def test_stdin_in_stdout_and_the_end_of_stderr_out() -> None:
    script = ("import sys; data = sys.stdin.buffer.read(); sys.stdout.buffer.write(data[::-1]);"
              " sys.stderr.write('x' * 5000 + 'the end'); sys.exit(3)")
    result = await run_process([sys.executable, "-c", script], stdin=b"abc" * 100_000,
                               timeout=30, max_output=1 << 20, err_keep=10)
    assert result == ProcessResult(3, b"cba" * 100_000, b"xxxthe end")


async def test_no_stdin_is_devnull_and_a_signal_is_a_negative_status() -> None:
    script = "import os, sys; assert sys.stdin.read() == ''; os.kill(os.getpid(), 9)"
    result = await run_process([sys.executable, "-c", script], stdin=None, timeout=30,
                               max_output=10)
    assert result == ProcessResult(-9, b"", b"")


async def test_the_errors_say_why(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="cannot run /nonexistent/tool") as start:
        await run_process(["/nonexistent/tool"], stdin=None, timeout=30, max_output=10)
    assert start.value.reason == "start" and isinstance(start.value.__cause__, OSError)
    assert start.value.argv == ["/nonexistent/tool"]
    with pytest.raises(ProcessError, match=r"took longer than 0\.2 s") as slow:
        await run_process(["sleep", "30"], stdin=None, timeout=0.2, max_output=10)
    assert slow.value.reason == "timeout"
    with pytest.raises(ProcessError, match="head wrote over 1000 bytes") as talkative:
        await run_process(["head", "-c", "1001", "/dev/zero"], stdin=None, timeout=30,
                          max_output=1000)
    assert talkative.value.reason == "output"
    # exactly at the cap is fine, and a working directory can be given
    (tmp_path / "f").write_bytes(bytes(1000))
    done = await run_process(["cat", "f"], stdin=None, timeout=30, max_output=1000, cwd=tmp_path)
    assert done.stdout == bytes(1000)
