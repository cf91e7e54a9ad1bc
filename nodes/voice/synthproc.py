"""A synthesiser run as a subprocess (espeak-ng, piper): the text to its stdin, its stdout (the
WAV) back; when the reply is cancelled or times out, the synthesiser is killed and reaped at once.

The running is ``core/procs.py``'s (why not ``create_subprocess_exec`` + ``communicate``: a
killed synthesiser whose audio came unread was never reaped; see there): output collected as it
comes, the synthesiser in a process group of its own (a wrapper script's pipeline is killed
too), the reap bounded. Here: the voice's cap on a reply's audio and its errors.
"""

from __future__ import annotations

from spark.core.errors import ProcessError
from spark.core.procs import REAP_S, run_process
from spark.nodes.voice.errors import SpeechError

__all__ = ["MAX_OUTPUT", "REAP_S", "run_synthesiser"]

MAX_OUTPUT = 32 * 1024 * 1024  # bytes of audio a reply may have (~12 min of 22 kHz speech)


async def run_synthesiser(argv: list[str], text: str, timeout: float = 20.0) -> bytes:
    """Run ``argv`` with ``text`` on its stdin; its stdout. Cancelled or timed out, the
    synthesiser (its whole process group) is killed and reaped before this returns."""
    try:
        result = await run_process(argv, stdin=text.encode(), timeout=timeout,
                                   max_output=MAX_OUTPUT)
    except ProcessError as exc:
        if exc.reason == "start":
            raise SpeechError(f"cannot run {argv[0]}: {exc.__cause__}") from exc.__cause__
        if exc.reason == "timeout":
            raise SpeechError(f"{argv[0]} took longer than {timeout}s") from None
        raise SpeechError(f"{argv[0]} wrote over {MAX_OUTPUT} bytes") from None
    code, out = result.returncode, result.stdout
    if code != 0 or not out:
        err = result.stderr_tail.decode(errors="replace")[-200:]
        raise SpeechError(f"{argv[0]} failed ({code}): {err}")
    return out
