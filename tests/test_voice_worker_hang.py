"""The recognisers' worker: hung is "no answer and no CPU used", not "slow" (issue 18: at load
19 on two cores a decode took over a minute and the busy worker was killed as hung)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers import wait_for

from spark.nodes.voice.audio import frames, silence
from spark.nodes.voice.config import VoiceNodeConfig
from spark.nodes.voice.worker import PipelineProcess, WorkerDied, cpu_seconds


def spin() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


async def test_cpu_seconds_tell_a_busy_process_from_a_stopped_one() -> None:
    busy, stopped = spin(), spin()
    try:
        os.kill(stopped.pid, signal.SIGSTOP)
        await wait_for(lambda: cpu_seconds(stopped.pid) is not None, 10, what="stopped")
        frozen = cpu_seconds(stopped.pid)
        start = cpu_seconds(busy.pid)
        assert start is not None
        await wait_for(lambda: (cpu_seconds(busy.pid) or 0.0) > start + 0.2, 60,
                       what="the busy process using CPU")
        assert cpu_seconds(stopped.pid) == frozen
    finally:
        for p in (busy, stopped):
            p.kill()
            p.wait()
    assert cpu_seconds(busy.pid) is None  # gone


def test_a_worker_that_uses_no_cpu_is_killed_as_hung() -> None:
    cfg = VoiceNodeConfig.model_validate({"id": "voice", "array": {"type": "none"}})
    worker = PipelineProcess(cfg, timeout_s=2.0)
    worker.start()
    try:
        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # hung: alive, answering nothing, using no CPU
        t0 = time.monotonic()
        died: WorkerDied | None = None
        try:
            for frame in frames(silence(0.3)):
                worker.feed(frame)
        except WorkerDied as exc:
            died = exc
        assert died is not None and "killed" in str(died)
        assert died.exit_code == -signal.SIGKILL
        assert time.monotonic() - t0 < 2.0 * 3  # one timeout window, not the busy cap
    finally:
        worker.close()

