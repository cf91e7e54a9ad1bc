"""The pocketsphinx wake words. ``pocketsphinx`` ("hey spark") spots the phrase in each stretch
of speech with a small language model of commands and everyday words (``lm.py``): a wake phrase
counts only when that model prefers it to everyday words; the spotter, at a strict threshold,
is its last look when noise hides the phrase from the models. ``pocketsphinx-kws`` is
pocketsphinx's streaming keyphrase spotter (single uncommon words spot best, e.g. "bumblebee" at
1e-40).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.grammar import jsgf, sentences
from spark.nodes.voice.lm import EVERYDAY, build_arpa
from spark.nodes.voice.stt.base import StageConfig
from spark.nodes.voice.stt.sphinx_decoder import SphinxLexicon, new_decoder, stream
from spark.nodes.voice.vocab import Vocabulary
from spark.nodes.voice.wake.base import WakeHit, WakeWord

log = logging.getLogger("spark.nodes.voice.wake")  # its log lines keep the name they had
SAMPLES_PER_SPHINX_FRAME = 160  # pocketsphinx: 100 frames per second


class SphinxWakeConfig(StageConfig):
    type: Literal["pocketsphinx"] = "pocketsphinx"
    phrases: list[str] = Field(default_factory=lambda: ["hey spark"], min_length=1,
                               description="Wake phrases (dictionary words).")
    grammar_check: bool = Field(True, description="When the free model misses the phrase, "
                                "look once more with the command grammar (noise).")
    spot_threshold: float | None = Field(
        1e-50, gt=0, lt=1, description="When every other look missed the phrase, a last one "
        "with pocketsphinx's keyphrase spotter at this threshold (lower: more detections and "
        "more false wakes; null: off). Measured on the benchmark: see bench/results/voice.json.")


class SphinxKwsWakeConfig(StageConfig):
    type: Literal["pocketsphinx-kws"] = "pocketsphinx-kws"
    phrase: str = Field("bumblebee", description="Keyphrase (dictionary words).")
    threshold: float = Field(1e-40, gt=0, lt=1, description="Lower: more detections.")


class SphinxWake(WakeWord):
    """Segment wake word in up to four looks, each only when the one before heard nothing:

    1. streaming, with the language model: mid-speech, once the phrase is settled (0.2 s of
       speech after it) the part heard so far gets the final pass at once, so the wake is
       decided while the user still speaks (:meth:`settled`) and the command streams into
       speech-to-text; else at the end of the stretch (:meth:`end`);
    2. the stretch again in one piece: its own cepstral mean, so the decision does not hang on
       what the decoder heard before (the first words after start, noise that just began);
    3. the command grammar with the phrase optional: noise turns "hey spark" into "thanks
       power" for the free model, but the grammar only says the phrase where it fits better
       than leaving it out (none of the benchmark's everyday sentences);
    4. pocketsphinx's keyphrase spotter (``spot_threshold``): the phrase against any sequence
       of sounds rather than against words, which is what still stands out when other people
       talk over it (babble turns "hey spark" into "get the think five" for both models).
    """

    type = "pocketsphinx"
    streaming = False
    SETTLE_FRAMES = 20  # sphinx frames (10 ms) heard after the phrase before it counts
    BACK_BYTES = 0  # the command's audio starts this much before the phrase's end

    def __init__(self, config: SphinxWakeConfig) -> None:
        super().__init__(config)
        self._decoder: Any = None
        self._audio: list[bytes] = []
        self._generation = 0
        self._grammar: str | None = None  # the command grammar's search, for a last look
        self._tries = 0  # mid-speech confirmations tried in this stretch
        self._decided = False  # the phrase was confirmed mid-speech

    @property
    def phrases(self) -> list[str]:
        return list(self.config.phrases)

    def open(self) -> None:
        if self._decoder is None:
            self._decoder = self._new_decoder()
            self.set_vocabulary(Vocabulary())

    def _new_decoder(self) -> Any:
        decoder = new_decoder(lm=None)
        if self.config.spot_threshold is not None:
            with tempfile.TemporaryDirectory(prefix="spark-wake-") as tmp:
                path = Path(tmp) / "phrases.kws"
                path.write_text("".join(f"{p} /{self.config.spot_threshold:g}/\n"
                                        for p in self.phrases))
                decoder.add_kws("spot", str(path))
        return decoder

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        if self._decoder is None:
            self._decoder = self._new_decoder()
        lexicon = SphinxLexicon(self._decoder)
        for phrase in self.phrases:
            missing = [w for w in phrase.split() if not lexicon.known(w)]
            if missing:
                raise BackendUnavailable(f"wake phrase {phrase!r}: unknown words {missing}")
        text = sentences(vocab, self.phrases)
        known = {w for s in text for w in s.split()} | {w for w in EVERYDAY if lexicon.known(w)}
        self._generation += 1
        name = f"wake{self._generation}"
        with tempfile.TemporaryDirectory(prefix="spark-wake-") as tmp:
            path = Path(tmp) / "wake.arpa"
            path.write_text(build_arpa(text, known))
            self._decoder.add_lm_file(name, str(path))
        self._grammar = None
        if self.config.grammar_check:
            try:
                self._decoder.add_jsgf_string(f"cmd{name}", jsgf(vocab, self.phrases))
                self._grammar = f"cmd{name}"
            except (RuntimeError, ValueError) as exc:  # words the dictionary lacks
                log.warning("wake word: no grammar check for this vocabulary: %s", exc)
        self._decoder.activate_search(name)
        if self._generation > 1:
            self._decoder.remove_search(f"wake{self._generation - 1}")
            with contextlib.suppress(KeyError, RuntimeError, ValueError):
                self._decoder.remove_search(f"cmdwake{self._generation - 1}")

    def begin(self) -> None:
        self.open()
        self._audio = []
        self._tries = 0
        self._decided = False
        self._decoder.start_utt()

    def feed(self, frame: bytes) -> WakeHit | None:
        self._audio.append(frame)
        if not self._decided:
            self._decoder.process_raw(frame, False, False)
        return None

    def _heard(self) -> int:
        return sum(len(f) for f in self._audio) // 2 // SAMPLES_PER_SPHINX_FRAME

    def _find(self, follow_frames: int = 0) -> tuple[str, int] | None:
        """The first wake phrase in the current hypothesis and its end (bytes), if at least
        ``follow_frames`` frames were heard after it."""
        if self._decoder.hyp() is None:
            return None
        words = [(s.word.split("(")[0], s.end_frame) for s in self._decoder.seg()
                 if not s.word.startswith(("<", "["))]
        spoken = [w for w, _ in words]
        heard = self._heard()
        for phrase in self.phrases:
            n = len(phrase.split())
            for i in range(len(spoken) - n + 1):
                last = words[i + n - 1][1]
                if spoken[i:i + n] == phrase.split() and last + follow_frames <= heard:
                    return phrase, (last + 1) * SAMPLES_PER_SPHINX_FRAME * 2
        return None

    def audio_from(self, offset: int) -> bytes:
        return b"".join(self._audio)[offset:]

    def settled(self) -> WakeHit | None:
        if self._decided or self._tries >= 2 or self._find(self.SETTLE_FRAMES) is None:
            return None
        self._tries += 1
        self._decoder.end_utt()  # the final pass over what was heard so far
        found = self._find(self.SETTLE_FRAMES // 2)
        if found is None:  # not confirmed: carry on listening to the stretch
            self._decoder.start_utt()
            stream(self._decoder, b"".join(self._audio))  # not one call: see stream()
            return None
        self._decided = True
        phrase, offset = found
        offset = max(0, offset - self.BACK_BYTES)
        return WakeHit(phrase, self.audio_from(offset), offset=offset)

    def _again(self, search: str | None) -> tuple[str, int] | None:
        """Decode the whole stretch once more, in one piece (``search``: another search)."""
        current = self._decoder.current_search()
        if search is not None:
            self._decoder.activate_search(search)
        try:
            self._decoder.start_utt()
            self._decoder.process_raw(b"".join(self._audio), False, True)
            self._decoder.end_utt()
            found = self._find()
            if found is None or search is None:
                return found
            # The grammar: only a phrase that opens the command counts.
            first = [s.word.split("(")[0] for s in self._decoder.seg()
                     if not s.word.startswith(("<", "["))]
            return found if " ".join(first[:len(found[0].split())]) == found[0] else None
        finally:
            if search is not None:
                self._decoder.activate_search(current)

    def spot(self) -> tuple[str, int] | None:
        """The keyphrase spotter over the whole stretch: the phrase scored against every other
        sequence of sounds, not against words, so noise that turns it into other words for the
        language models can still leave it standing out."""
        current = self._decoder.current_search()
        self._decoder.activate_search("spot")
        try:
            self._decoder.start_utt()
            self._decoder.process_raw(b"".join(self._audio), False, True)
            self._decoder.end_utt()
            if self._decoder.hyp() is None:
                return None
            hits = [s for s in self._decoder.seg() if s.word.strip() in self.phrases]
            if not hits:
                return None
            return hits[0].word.strip(), (hits[0].end_frame + 1) * SAMPLES_PER_SPHINX_FRAME * 2
        finally:
            self._decoder.activate_search(current)

    def end(self) -> WakeHit | None:
        if self._decided:
            return None
        self._decoder.end_utt()
        found = self._find()
        if found is None and self._heard() > self.SETTLE_FRAMES:
            found = self._again(None)
            if found is None and self._grammar is not None:
                found = self._again(self._grammar)
            if found is None and self.config.spot_threshold is not None:
                found = self.spot()
        if found is None:
            return None
        phrase, offset = found
        return WakeHit(phrase, self.audio_from(offset), complete=True, offset=offset)


class SphinxKwsWake(WakeWord):
    type = "pocketsphinx-kws"

    def __init__(self, config: SphinxKwsWakeConfig) -> None:
        super().__init__(config)
        self._decoder: Any = None
        self._recent: collections.deque[bytes] = collections.deque(maxlen=100)  # 3 s
        self._frames = 0  # pocketsphinx frames since the utterance started

    @property
    def phrases(self) -> list[str]:
        return [self.config.phrase]

    def open(self) -> None:
        if self._decoder is None:
            self._decoder = new_decoder(lm=None, keyphrase=self.config.phrase,
                                        kws_threshold=self.config.threshold)
            self._decoder.start_utt()

    def feed(self, frame: bytes) -> WakeHit | None:
        self.open()
        self._recent.append(frame)
        self._frames += len(frame) // 2 // SAMPLES_PER_SPHINX_FRAME
        self._decoder.process_raw(frame, False, False)
        if self._decoder.hyp() is None:
            return None
        seg = list(self._decoder.seg())
        end_frame = seg[-1].end_frame + 1 if seg else self._frames
        after_samples = max(0, (self._frames - end_frame) * SAMPLES_PER_SPHINX_FRAME)
        audio = b"".join(self._recent)
        after = audio[len(audio) - after_samples * 2:] if after_samples else b""
        self._decoder.end_utt()
        self._decoder.start_utt()
        self._frames = 0
        self._recent.clear()
        return WakeHit(self.config.phrase, after)
