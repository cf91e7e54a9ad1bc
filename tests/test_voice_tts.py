"""A reply interrupted while its synthesiser runs (mute, a new command, the node stopping): the
synthesiser process is killed and reaped, not left running with an unclosed transport (issue 13:
test_voice_e2e::test_mute_stops_listening failed on "unclosed transport" under load)."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from pathlib import Path

from helpers import wait_for

from spark.nodes.voice.tts import EspeakTts, EspeakTtsConfig


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cancelled_reply_kills_and_reaps_the_synthesiser(tmp_path: Path) -> None:
    # a synthesiser that never finishes (a stand-in program, as espeak-ng stuck on a device)
    pid_file = tmp_path / "pid"
    slow = tmp_path / "slow-tts"
    slow.write_text(f"#!/bin/sh\ncat >/dev/null\necho $$ > {pid_file}.new\n"
                    f"mv {pid_file}.new {pid_file}\nexec sleep 600\n")
    slow.chmod(0o755)
    tts = EspeakTts(EspeakTtsConfig(binary=str(slow)))
    reply = asyncio.create_task(tts.synthesize("the lamp is on"))
    await wait_for(pid_file.is_file, 30,
                   what="the synthesiser started")
    pid = int(pid_file.read_text())
    cmdline = Path(f"/proc/{pid}/cmdline")
    await wait_for(lambda: cmdline.read_bytes().startswith(b"sleep"), 30,
                   what="the synthesiser running")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        reply.cancel()
        (outcome,) = await asyncio.gather(reply, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError)
        assert not _alive(pid)  # killed, and reaped (a zombie would still answer signal 0)
        gc.collect()
    # a transport dropped unclosed kills its process too, but says so (the flaky failure)
    assert not [str(w.message) for w in said if issubclass(w.category, ResourceWarning)]
