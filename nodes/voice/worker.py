"""The recognisers in a supervised worker process, so that a native crash cannot take the node
down (pocketsphinx has segfaulted inside ``process_raw`` on TV-noise audio).

:func:`build_pipeline` makes the whole :class:`~nodes.voice.pipeline.Pipeline` (noise
suppression, speech detection, wake word, speech-to-text) from the node's config. With
``isolate: true`` (the default) it runs in a worker process started with ``spawn`` (a fresh
interpreter: none of the node's threads, sockets or locks), and :class:`PipelineProcess` stands
in for it in the node with the same methods: each call is one message on a pipe and its answer.

When the worker dies (a signal, an exit, a broken pipe) or hangs, the call raises
:class:`WorkerDied` (a hung worker is killed first). Hung means no answer within ``timeout_s``
*and* less than ``MIN_PROGRESS`` of a CPU used meanwhile: a worker that is computing on a
starved machine (load 19 on 2 cores made a decode take over 60 s in the benchmarks) gets more
time, up to ``BUSY_FACTOR`` times ``timeout_s``. The node
reports the utterance as failed, waits its backoff (``core/backoff.py``) and calls
:meth:`PipelineProcess.start` again; the new worker gets the last vocabulary and mute state.
The worker ends with its parent: its pipe closes when the node's process ends, even after a
``kill -9``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark.nodes.voice.errors import VoiceError

if TYPE_CHECKING:
    from spark.nodes.voice.config import VoiceNodeConfig
    from spark.nodes.voice.pipeline import Pipeline, Signal
    from spark.nodes.voice.vocab import Vocabulary

log = logging.getLogger(__name__)
MIN_PROGRESS = 0.02  # share of a CPU used over a timeout window that shows it is not hung
BUSY_FACTOR = 5  # a busy worker's longest wait, in timeouts
SLOW_CALLS = frozenset({"build_vocabulary", "set_vocabulary"})


class WorkerDied(VoiceError):
    """The recognisers' worker process ended (or hung and was killed)."""

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @property
    def signal_name(self) -> str | None:
        if self.exit_code is None or self.exit_code >= 0:
            return None
        with contextlib.suppress(ValueError):
            return signal.Signals(-self.exit_code).name
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` has used, from /proc (None: unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def build_pipeline(cfg: VoiceNodeConfig, audio: bool = True,
                   is_complete: Callable[[str], bool] | None = None) -> Pipeline:
    """The pipeline of ``cfg`` in this process (models load in :meth:`Pipeline.open`).
    ``is_complete``: judges whether a text is a whole command; default: the pipeline's own
    vocabulary."""
    from spark.nodes.voice.denoise import make_denoiser
    from spark.nodes.voice.intents import COMPLETE, recognize
    from spark.nodes.voice.pipeline import Pipeline, Timeouts
    from spark.nodes.voice.stt import make_stt
    from spark.nodes.voice.vad import make_endpointer
    from spark.nodes.voice.wake import make_wake

    wake = make_wake(cfg.wake)
    stt = make_stt(cfg.stt, wake.phrases)
    endpointer = make_endpointer(cfg.vad, cfg.end_silence_s, cfg.max_speech_s, cfg.end_drop_db)
    timeouts = Timeouts(listen_s=cfg.listen_timeout_s, follow_up_s=cfg.follow_up_s,
                        early_end_s=cfg.early_end_s)
    pipeline = Pipeline(wake, endpointer, stt, timeouts,
                        denoise=make_denoiser(cfg.denoise) if audio else None)
    if is_complete is None:
        def is_complete(text: str) -> bool:
            return bool(text) and recognize(text, pipeline.vocabulary).name in COMPLETE
    pipeline._is_complete = is_complete
    return pipeline


def _serve(conn: Connection, cfg: VoiceNodeConfig) -> None:
    """The worker's main: build and open the pipeline, then answer calls until the pipe
    closes. An exception in a call is sent back (the call raises it in the node)."""
    logging.basicConfig(level=logging.WARNING, format="voice worker %(levelname)s %(message)s")
    faulthandler.enable()  # a native crash prints the Python stack that led to it (stderr)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the node's; we end with its pipe
    try:
        pipeline = build_pipeline(cfg)
        pipeline.open()
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    calls: dict[str, Callable[..., Any]] = {
        "feed": pipeline.feed, "listen": pipeline.listen, "idle": pipeline.idle,
        "mute": pipeline.mute, "build_vocabulary": pipeline.build_vocabulary,
        "set_vocabulary": pipeline.set_vocabulary, "ping": lambda: None,
    }
    while True:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):  # the node is gone
            return
        try:
            answer: tuple[str, Any] = ("ok", (calls[name](*args), pipeline.state.value,
                                              pipeline.frames))
        except Exception as exc:
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:  # the node is gone
            return


class PipelineProcess:
    """The pipeline's stand-in in the node: the same calls, run by the worker process."""

    def __init__(self, cfg: VoiceNodeConfig, timeout_s: float = 60.0,
                 start_timeout_s: float = 300.0) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.state = "idle"  # the worker's pipeline state after the latest call
        self.frames = 0  # frames the current worker has heard
        self.starts = 0
        self.vocabulary: Vocabulary | None = None  # given again to a new worker
        self._muted = False
        self._conn: Connection | None = None
        self._process: Any = None
        self._lock = threading.Lock()  # one call at a time on the pipe (feed, refresh)
        self._loaded = False  # the current worker said it is ready
        self.vocabulary_pending = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def listening(self) -> bool:
        return self.state in ("listening", "speech")

    # ---- lifecycle ----------------------------------------------------------------------
    def open(self) -> None:
        """Start the worker; its models load meanwhile (the first call waits for them), so
        the node is online at once."""
        with self._lock:
            self._launch()

    def start(self) -> None:
        """Start a worker (ending one still there), load the models, give it the current
        vocabulary and mute state. Raises :class:`WorkerDied` when it cannot start."""
        with self._lock:  # no call may read the new worker's answers meanwhile
            self._launch()
            self._ready()

    def _launch(self) -> None:
        self.close()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.cfg), daemon=True,
                              name="spark-voice-recognisers")
        process.start()
        child.close()
        self._conn, self._process = parent, process
        self.starts += 1
        self.frames = 0
        self._loaded = False

    def _ready(self) -> None:
        """Wait for the launched worker's models, then give it the vocabulary and mute."""
        if self._loaded:
            return
        kind, value = self._answer(self.start_timeout_s, "starting")
        if kind != "ready":
            self.close()
            raise WorkerDied(f"the recognisers could not start: {value}", None)
        self._loaded = True
        if self.vocabulary is not None:
            self._call_locked("set_vocabulary", self.vocabulary)
        if self._muted:
            self._call_locked("mute", True)
        self.state = "muted" if self._muted else "idle"

    def close(self) -> None:
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            conn.close()  # the worker sees the pipe close and returns
        if process is not None:
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)
            process.close()

    # ---- calls ----------------------------------------------------------------------------
    def _answer(self, timeout: float, what: str) -> tuple[str, Any]:
        conn, process = self._conn, self._process
        if conn is None or process is None:
            raise WorkerDied("the recognisers' worker is not running", None)
        try:
            cpu, waited = cpu_seconds(process.pid), 0.0
            while not conn.poll(timeout):
                waited += timeout
                now = cpu_seconds(process.pid)
                if cpu is None or now is None or now - cpu < MIN_PROGRESS * timeout or (
                        waited >= timeout * BUSY_FACTOR):
                    process.kill()
                    process.join(2.0)
                    raise WorkerDied(f"the recognisers did not answer {what} within {waited:g} "
                                     f"s (killed)", process.exitcode)
                log.warning("voice worker: %s still running after %g s (%.1f s of CPU in the "
                            "last %g s): a busy machine, waiting", what, waited, now - cpu,
                            timeout)
                cpu = now
            answer: tuple[str, Any] = conn.recv()
            return answer
        except (EOFError, OSError, BrokenPipeError) as exc:
            process.join(2.0)
            code = process.exitcode
            raise WorkerDied(f"the recognisers' worker ended while {what} (exit code {code})",
                             code) from exc

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            return self._call_locked(name, *args)

    def _control(self, name: str, *args: Any) -> None:
        """A state change: with no worker it waits for the next one (:meth:`start` gives it
        the vocabulary and mute state); the next :meth:`feed` reports the death."""
        try:
            self._call(name, *args)
        except WorkerDied as exc:
            log.debug("voice worker: %s not sent: %s", name, exc)

    def _call_locked(self, name: str, *args: Any) -> Any:
        self._ready()
        conn = self._conn
        if conn is None:
            raise WorkerDied("the recognisers' worker is not running", None)
        try:
            conn.send((name, args))
        except (OSError, BrokenPipeError) as exc:
            assert self._process is not None
            self._process.join(2.0)
            raise WorkerDied(f"the recognisers' worker ended (exit code "
                             f"{self._process.exitcode})", self._process.exitcode) from exc
        # Loading models and building grammars (a new vocabulary, also applied by a feed
        # between utterances) take far longer on a busy machine than a decoding step.
        slow = name in SLOW_CALLS or (name == "feed" and self.vocabulary_pending)
        kind, value = self._answer(self.start_timeout_s if slow else self.timeout_s, name)
        if name == "feed":
            self.vocabulary_pending = False
        if kind == "error":
            raise VoiceError(f"voice worker: {name}: {value}")
        result, self.state, self.frames = value
        return result

    def feed(self, frame: bytes, at: float | None = None) -> list[Signal]:
        signals: list[Signal] = self._call("feed", frame, time.monotonic() if at is None
                                           else at)
        return signals

    def listen(self, seconds: float) -> None:
        self._control("listen", seconds)

    def idle(self) -> None:
        self._control("idle")

    def mute(self, on: bool) -> None:
        self._muted = on
        self._control("mute", on)

    def build_vocabulary(self, entities: list[dict[str, Any]],
                         devices: dict[str, dict[str, Any]] | None = None) -> Vocabulary:
        vocab: Vocabulary = self._call("build_vocabulary", entities, devices)
        return vocab

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        self.vocabulary = vocab
        self.vocabulary_pending = True  # applied now, or by the next feed when idle
        self._control("set_vocabulary", vocab)
