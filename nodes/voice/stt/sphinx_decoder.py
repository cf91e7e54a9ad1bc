"""pocketsphinx decoders as the voice node drives them: made with our errors, fed in 30 ms
pieces (the streaming that avoids pocketsphinx's ring-buffer overrun), the dictionary as a
lexicon, and the word agreement of two readings. Used by speech-to-text (``sphinx.py``) and the
wake word (``wake/sphinx.py``)."""

from __future__ import annotations

import difflib
from typing import Any

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.vocab import FILLER


def new_decoder(**kwargs: Any) -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:
        raise BackendUnavailable("pocketsphinx is not installed (pip install "
                                 "prime-spark[voice])") from exc
    try:
        return pocketsphinx.Decoder(loglevel="FATAL", **kwargs)
    except (RuntimeError, ValueError) as exc:
        raise BackendUnavailable(f"pocketsphinx could not start: {exc}") from exc


STREAM_PIECE_BYTES = 960  # 30 ms of 16 kHz int16: what the live stream feeds


def stream(decoder: Any, pcm: bytes) -> None:
    """Stream ``pcm`` into ``decoder``'s utterance in 30 ms pieces, never in one call.

    pocketsphinx 5.1 segfaults (in ``cmn_live``) when one streaming ``process_raw`` call
    carries seconds of audio after a whole-utterance call (``full_utt=True``, our one-piece
    decodes) on the same decoder: that call grows the decoder's cepstrum ring buffer to the
    utterance's length; a long streaming call then wraps that ring while the feature stage
    takes at most 250 frames per step, and ``acmod_process_mfcbuf`` reads the rest from past
    the buffer's end (it does not wrap the second part). Small pieces never fill the ring
    (reproduced in tests/test_voice_sphinx_stream.py; issue 18)."""
    for i in range(0, len(pcm), STREAM_PIECE_BYTES):
        decoder.process_raw(pcm[i:i + STREAM_PIECE_BYTES], False, False)


class SphinxLexicon:
    """Spells words with the dictionary: known words, two known halves, or letter by letter."""

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._known: dict[str, bool] = {}

    def known(self, word: str) -> bool:
        hit = self._known.get(word)
        if hit is None:
            hit = self._known[word] = self._decoder.lookup_word(word) is not None
        return hit

    def spell(self, word: str) -> list[str] | None:
        if self.known(word):
            return [word]
        for i in range(2, len(word) - 1):
            if self.known(word[:i]) and self.known(word[i:]):
                return [word[:i], word[i:]]
        if len(word) <= 5 and all(self.known(c) for c in word):
            return list(word)
        return None


def agreement(a: str, b: str) -> float:
    wa = [w for w in a.split() if w not in FILLER]
    wb = [w for w in b.split() if w not in FILLER]
    if not wa or not wb:
        return 0.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()
