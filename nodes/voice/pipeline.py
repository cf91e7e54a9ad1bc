"""The audio state machine: idle (wake word) -> listening -> speech -> utterance, with
timeouts counted in audio time so a stuck stream can never keep it listening.

:meth:`Pipeline.feed` takes one 30 ms frame and returns :class:`Signal` s for the node
(``wake``, ``speech-start``, ``speech-end``, ``utterance``, ``timeout``). It is synchronous
(the node runs it in a worker thread); after an utterance the node handles it, then calls
:meth:`Pipeline.listen` for the follow-up window or :meth:`Pipeline.idle`. Registry changes
(:meth:`set_vocabulary`) apply between utterances.

Every frame first goes through the noise suppressor (``denoise.py``). A segment wake word that
is certain mid-speech (:meth:`WakeWord.settled`) hands the rest of the stretch to speech-to-text
as it streams, so at the end of speech only the recogniser's last step is left; a command the
grammar already has whole ends after ``early_end_s`` of silence instead of ``end_silence_s``;
the first silent frame after speech lets the recogniser prepare its end (``stt.settle``) while
that silence is still being waited for. A burst too short to be a command is dropped with
``stt.cancel`` so it cannot colour how the next command is heard.

Timing is audio time: each frame comes with the time its audio ended (``at``, the source's
capture time), and ``speech-end`` carries the capture time of the last voiced frame (its
``wall``) and its place in the stream (``audio_end_s``), not the time the decoders finished;
so end of speech -> command includes the silence waited, wake word and speech-to-text.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from spark.nodes.voice.denoise import Denoiser, NoDenoise, NoDenoiseConfig
from spark.nodes.voice.pcm import FRAME_BYTES, FRAME_S
from spark.nodes.voice.stt.base import SpeechToText, Transcript, elapsed_ms
from spark.nodes.voice.vad import Endpointer
from spark.nodes.voice.vocab import Vocabulary, build_vocabulary
from spark.nodes.voice.wake.base import WakeHit, WakeWord

SignalKind = Literal["wake", "speech-start", "speech-end", "utterance", "timeout"]


STAMPS = 400  # frames (12 s) of capture times kept: more than any wait after speech


class State(enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    SPEECH = "speech"
    BUSY = "busy"  # the node is handling an utterance
    MUTED = "muted"


@dataclass(slots=True)
class Signal:
    kind: SignalKind
    data: dict[str, Any] = field(default_factory=dict)
    transcript: Transcript | None = None
    wall: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class Timeouts:
    listen_s: float = 5.0  # after the wake word, waiting for speech
    follow_up_s: float = 4.0  # after a reply, listening without the wake word
    pre_roll_s: float = 0.3  # audio before speech start that is kept
    min_speech_s: float = 0.25  # shorter bursts are noise, not commands
    early_end_s: float = 0.15  # silence after a complete command that ends it (0: off)


class Pipeline:
    def __init__(self, wake: WakeWord, endpointer: Endpointer, stt: SpeechToText,
                 timeouts: Timeouts = Timeouts(),
                 is_complete: Callable[[str], bool] | None = None,
                 denoise: Denoiser | None = None) -> None:
        self.wake = wake
        self.denoise = denoise or NoDenoise(NoDenoiseConfig())
        self.ep = endpointer
        self.stt = stt
        self.timeouts = timeouts
        self.state = State.IDLE
        self._pre: collections.deque[bytes] = collections.deque(
            maxlen=max(1, round(timeouts.pre_roll_s / FRAME_S)))
        # capture times of the latest frames: where speech ended, in audio time
        self._stamps: collections.deque[float] = collections.deque(maxlen=STAMPS)
        self._deadline = 0  # frames left while listening
        self._segment = False  # a wake segment is open
        self._pending: Vocabulary | None = None
        self._lock = threading.Lock()
        self.frames = 0
        self._rng: Any = None  # numpy's, for the room noise put before a command
        self._speech = 0  # frames of the current utterance
        # Early end: a command the grammar already has whole ends after ``early_end_s`` of
        # silence instead of the endpointer's longer wait (``is_complete`` judges the text).
        self._is_complete = is_complete
        self._early_frames = round(timeouts.early_end_s / FRAME_S)
        self._seg_frames = 0  # frames of the current wake segment
        self.vocabulary = Vocabulary()

    # ---- control (from the node) --------------------------------------------------------
    def build_vocabulary(self, entities: list[dict[str, Any]],
                         devices: dict[str, dict[str, Any]] | None = None) -> Vocabulary:
        """The vocabulary for these registry entries, spelled for the recogniser."""
        with self._lock:
            return build_vocabulary(entities, devices, self.stt.lexicon())

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        with self._lock:  # never mid-utterance: a decoder cannot switch searches then
            self._pending = vocab
            if self.state in (State.IDLE, State.MUTED, State.BUSY) and not self._segment:
                self._apply_vocabulary()

    def _apply_vocabulary(self) -> None:
        vocab, self._pending = self._pending, None
        if vocab is not None:
            self.stt.set_vocabulary(vocab)
            self.wake.set_vocabulary(vocab)
            self.vocabulary = vocab

    def mute(self, on: bool) -> None:
        with self._lock:
            self._close_segment()
            self.ep.reset()
            self.state = State.MUTED if on else State.IDLE

    def listen(self, seconds: float) -> None:
        """Listen without the wake word for ``seconds`` (after wake, or a reply)."""
        with self._lock:
            if self.state is State.MUTED:
                return
            self.state = State.LISTENING
            self._deadline = max(1, round(seconds / FRAME_S))
            self.ep.reset()

    def idle(self) -> None:
        with self._lock:
            if self.state is not State.MUTED:
                self.state = State.IDLE
                self.ep.reset()

    @property
    def listening(self) -> bool:
        return self.state in (State.LISTENING, State.SPEECH)

    # ---- audio ----------------------------------------------------------------------------
    def open(self) -> None:
        """Load the recognisers' models."""
        self.stt.open()
        self.wake.open()

    def close(self) -> None:
        self.stt.close()
        self.wake.close()

    def feed(self, frame: bytes, at: float | None = None) -> list[Signal]:
        """One frame; ``at``: when its audio ended (``time.monotonic``; default now)."""
        with self._lock:
            if len(frame) != FRAME_BYTES or self.state in (State.MUTED, State.BUSY):
                return []
            frame = self.denoise.process(frame)
            self.frames += 1
            self._stamps.append(time.monotonic() if at is None else at)
            if self._pending is not None and self.state is State.IDLE and not self._segment:
                self._apply_vocabulary()
            if self.state is State.IDLE:
                return self._idle(frame)
            return self._listening(frame)

    def _close_segment(self) -> None:
        if self._segment:
            self._segment = False
            self.wake.end()

    def _lead(self) -> bytes:
        """A little room noise: recognisers start poorly in the middle of speech."""
        import numpy as np

        from spark.nodes.voice.audio import dither, silence

        self._rng = self._rng or np.random.default_rng(0)
        return bytes(dither(silence(0.3), self._rng).tobytes())

    def _ended(self, silent: int, data: dict[str, Any]) -> Signal:
        """``speech-end`` for speech that stopped ``silent`` frames before this one: its
        ``wall`` is the capture time of the last voiced frame (not now, after decoding)."""
        k = max(0, min(silent, len(self._stamps) - 1))
        at = self._stamps[-1 - k] if self._stamps else time.monotonic()
        data = {**data, "audio_end_s": round((self.frames - silent) * FRAME_S, 3),
                "ended": round(time.time() - (time.monotonic() - at), 3),
                "silence_s": round(silent * FRAME_S, 2)}
        return Signal("speech-end", data, wall=at)

    def _can_end(self) -> bool:
        """Enough silence after what already is a whole command?"""
        run = self.ep.silent
        if self._is_complete is None or not self._early_frames or run < self._early_frames:
            return False
        return self._is_complete(self.stt.partial())

    def _idle(self, frame: bytes) -> list[Signal]:
        edge = self.ep.update(frame)
        self._pre.append(frame)
        if self.wake.streaming:
            hit = self.wake.feed(frame)
            return self._woke(hit, 0.0) if hit is not None else []
        if edge == "start":
            self._segment = True
            self.wake.begin()
            for f in self._pre:
                self.wake.feed(f)
            self._seg_frames = len(self._pre)
        elif self._segment:
            self.wake.feed(frame)
            self._seg_frames += 1
            if edge != "end":
                if self._seg_frames % 5:
                    return []
                t0 = time.perf_counter()
                hit = self.wake.settled()
                return [] if hit is None else self._woke_early(hit, elapsed_ms(t0))
            t0 = time.perf_counter()
            self._segment = False
            hit = self.wake.end()
            if hit is not None:
                return self._woke(hit, elapsed_ms(t0), self.ep.trailing)
        return []

    def _woke_early(self, hit: WakeHit, wake_ms: float) -> list[Signal]:
        """The phrase is certain mid-speech: the rest of this stretch is the command, streamed
        into the recogniser as it comes, so only its last step is left at the end."""
        self._segment = False
        self._pre.clear()
        self.state = State.SPEECH
        self._deadline = max(1, round(self.timeouts.listen_s / FRAME_S))
        self.stt.start()
        self.stt.feed(self._lead() + hit.after)
        self._speech = len(hit.after) // FRAME_BYTES
        return [Signal("wake", {"phrase": hit.phrase, "wake_ms": wake_ms}),
                Signal("speech-start")]

    def _woke(self, hit: WakeHit, wake_ms: float, silent: int = 0) -> list[Signal]:
        signals = [Signal("wake", {"phrase": hit.phrase, "wake_ms": wake_ms})]
        self._pre.clear()
        if hit.complete and self._has_speech(hit.after):
            # "hey spark turn on the lamp" in one breath, decided only at its end: the rest
            # is the command. (Decoding the whole stretch alongside the wake word would save
            # this second pass, but measured less accurate: the grammar then also has to place
            # the wake phrase.)
            t0 = time.perf_counter()
            transcript = self.stt.decode(self._lead() + hit.after)
            stt_ms = elapsed_ms(t0)
            self.state = State.BUSY
            end = self._ended(silent, {})
            return [*signals, Signal("speech-start"), end,
                    Signal("utterance", {"stt_ms": stt_ms}, transcript)]
        self.state = State.LISTENING
        self._deadline = max(1, round(self.timeouts.listen_s / FRAME_S))
        self.ep.reset()
        for i in range(0, len(hit.after) - FRAME_BYTES + 1, FRAME_BYTES):
            signals += self._listening(hit.after[i:i + FRAME_BYTES])
        return signals

    def _has_speech(self, pcm: bytes) -> bool:
        ep = Endpointer(self.ep.vad.spare(), start_s=self.ep.start_frames * FRAME_S)
        return any(ep.update(pcm[i:i + FRAME_BYTES]) == "start"
                   for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES))

    def _listening(self, frame: bytes) -> list[Signal]:
        edge = self.ep.update(frame)
        if self.state is State.LISTENING:
            self._pre.append(frame)
            if edge == "start":
                self.state = State.SPEECH
                self.stt.start()
                for f in self._pre:
                    self.stt.feed(f)
                self._speech = len(self._pre)
                self._pre.clear()
                return [Signal("speech-start")]
            self._deadline -= 1
            if self._deadline <= 0:
                self.state = State.IDLE
                self.ep.reset()
                return [Signal("timeout")]
            return []
        self.stt.feed(frame)  # SPEECH
        self._speech += 1
        if self.ep.run == 1:  # a pause: the recogniser may prepare for the end
            self.stt.settle()
        silent = self.ep.trailing
        if edge is None and self._can_end():
            silent = self.ep.silent
            self.ep.reset()
        elif edge != "end":
            return []
        voiced = self._speech - silent
        if voiced < self.timeouts.min_speech_s / FRAME_S:  # a click, not a command
            self.stt.cancel()
            self.state = State.LISTENING
            return []
        end = self._ended(silent, {"speech_s": round(self._speech * FRAME_S, 2)})
        t0 = time.perf_counter()
        transcript = self.stt.finish()
        self.state = State.BUSY
        return [end, Signal("utterance", {"stt_ms": elapsed_ms(t0)}, transcript)]
