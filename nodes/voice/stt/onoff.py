""""on" or "off"? The one word that matters most in a home, checked by its last sound.

"on" and "off" share their vowel (many speakers say both with the same one) and differ only
in the consonant after it: /n/ is voiced, its energy sits below 500 Hz; /f/ is voiceless
friction spread above 2 kHz. A recogniser that weighs the whole sentence lets the vowel and
the words around it decide, and in noise or fast speech "turn off the lamp" becomes "turn on
the lamp". So when the transcript holds an on/off whose opposite is also a whole command, the
utterance is aligned with both sentences (a one-sentence grammar each, with only the word
itself required), and the ratio of low (80-500 Hz) to high (> 2 kHz) energy over the
last 40% of the word, averaged over the two alignments, decides, *relative to the same ratio
over the whole utterance* (the voice's own spectral tilt: flite's voices carry little energy
above 2 kHz, so their "off" read 6 to 32 dB absolute, as voiced as espeak's "on"; measured on
the tune split's 12 voices, bench/voice_intent.py). Relative to the utterance, "on" read -1 to
+27 dB and "off" -20 to +7 dB: only a clear ratio decides (``on_db`` and above "on",
``off_db`` and below "off"); between them the sound says nothing and the words decide.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)

SWAP = {"on": "off", "off": "on"}


class OnOffConfig(StageConfig):
    enabled: bool = Field(True, description="Check 'on' / 'off' by the word's last sound.")
    on_db: float = Field(8.0, description="Low / high band energy over the word's end "
                         "relative to the whole utterance's, dB: at or above, the sound is 'on' "
                         "(voiced /n/).")
    off_db: float = Field(-3.0, description="... at or below, the sound is 'off' (voiceless "
                          "/f/); between the two the sound decides nothing.")

    @model_validator(mode="before")
    @classmethod
    def _drop_voiced_db(cls, data: Any) -> Any:
        """``voiced_db`` (an absolute threshold, before the check became relative to the
        utterance) is accepted and ignored with a warning, so an older config still starts."""
        if isinstance(data, dict) and "voiced_db" in data:
            log.warning("stt.onoff.voiced_db is no longer used: the on/off check is relative to "
                        "the utterance now (on_db %s, off_db %s); remove voiced_db from the config",
                        data.get("on_db", 8.0), data.get("off_db", -3.0))
            data = {k: v for k, v in data.items() if k != "voiced_db"}
        return data


def rivals(text: str, is_command: Callable[[str], bool]) -> list[tuple[int, str]]:
    """(word index, sentence) for each on/off in ``text`` whose swap is also a command."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        if word in SWAP:
            other = " ".join([*words[:i], SWAP[word], *words[i + 1:]])
            if is_command(other):
                out.append((i, other))
    return out


def band_db(samples: Any, rate: int = 16000) -> float | None:
    """Low (80-500 Hz) over high (> 2 kHz) band energy of ``samples``, dB."""
    import numpy as np

    seg = samples.astype(np.float64)
    if len(seg) < rate // 100:
        return None
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
    freqs = np.fft.rfftfreq(len(seg), 1 / rate)
    low = spectrum[(freqs > 80) & (freqs < 500)].sum()
    high = spectrum[freqs > 2000].sum()
    return float(10 * np.log10((low + 1e-9) / (high + 1e-9)))


def tail_db(samples: Any, start_frame: int, end_frame: int, rate: int = 16000) -> float | None:
    """Low over high band energy (:func:`band_db`) of the last 40% of a word, dB."""
    hop = rate // 100  # the recogniser's 10 ms frames
    cut = start_frame + int((end_frame - start_frame) * 0.6)
    return band_db(samples[cut * hop:end_frame * hop], rate)


@dataclass(slots=True)
class Verdict:
    text: str  # the sentence the sound says (the words' own when the sound is not clear)
    rival: str | None = None  # the other sentence of the pair, when there was one
    db: float | None = None  # the measured ratio relative to the utterance's, when measured
    sound: str | None = None  # "on" / "off" when the ratio is clear, else None

    def answers(self, text: str) -> bool:
        """Is this the verdict on ``text`` (either sentence of the pair)?"""
        return text in (self.text, self.rival)


class OnOffCheck:
    """Picks "on" or "off" for a transcript by the sound; ``decoder`` is a pocketsphinx
    decoder of its own (aligning switches its search)."""

    def __init__(self, config: OnOffConfig, decoder: Any,
                 wake_phrases: Sequence[str] = ()) -> None:
        self.cfg = config
        self._decoder = decoder
        # The command's audio may start with the end of the wake phrase: its words are
        # allowed (optional) before the sentence.
        self._lead = list(dict.fromkeys(w for p in wake_phrases for w in p.split()))

    def check(self, text: str, pcm: bytes, is_command: Callable[[str], bool]) -> Verdict:
        found = rivals(text, is_command) if self.cfg.enabled else []
        if len(found) != 1:
            return Verdict(text)
        import numpy as np

        index, other = found[0]
        words = text.split()
        samples = np.frombuffer(pcm, dtype=np.int16)
        ratios: list[float] = []
        for sentence in (text, other):
            ratio = self._ratio(sentence, index, samples, pcm)
            if ratio is not None:
                ratios.append(ratio)
        if not ratios:
            log.debug("on/off: no alignment for %r", text)
            return Verdict(text)
        whole = band_db(samples)
        if whole is None:
            return Verdict(text)
        db = round(sum(ratios) / len(ratios) - whole, 1)
        said = "on" if db >= self.cfg.on_db else "off" if db <= self.cfg.off_db else None
        log.debug("on/off: %r sounds %s (%.1f dB over the utterance's %.1f, alignments %s)",
                  text, said, db, whole, ratios)
        if said is None or words[index] == said:
            return Verdict(text, other, db, said)
        return Verdict(other, text, db, said)

    def verb(self, text: str, pcm: bytes) -> str | None:
        """"toggle the lamp" heard: the audio decoded once more by a grammar in which only the
        verb may differ (toggle, turn / switch on / off, the name's words fixed), so the
        sentence's other words cannot tip it. "turn off my lamp" read as "toggle lamp" (issue
        18) is "turn off lamp" here. The reading, or None when there is nothing to check."""
        said = text.split()
        if "toggle" not in said:
            return None
        rest = [w for w in said[said.index("toggle") + 1:] if w not in ("the", "my")]
        if not rest:
            return None
        lead = "".join(f"[{w}] " for w in self._lead)
        try:
            self._decoder.add_jsgf_string("verb", "#JSGF V1.0;\ngrammar verb;\n"
                                          f"public <s> = {lead}(toggle | (turn | switch) "
                                          f"[on | off]) [the | my] {' '.join(rest)} "
                                          "[on | off];\n")
            self._decoder.activate_search("verb")
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, False, True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        except (RuntimeError, ValueError) as exc:  # a word it cannot spell, no path, ...
            log.debug("toggle: cannot check %r: %s", text, exc)
            return None
        words = [w for w in (hyp.hypstr.split() if hyp is not None else [])
                 if w not in self._lead]
        return " ".join(words)

    def _ratio(self, sentence: str, index: int, samples: Any, pcm: bytes) -> float | None:
        decoder = self._decoder
        said = sentence.split()
        # Only the word itself is required: the audio may start inside the word before it
        # (the wake word took its start), and the last word may run into the end of the audio.
        before = "".join(f"[{w}] " for w in [*self._lead, *said[:index]])
        after = "".join(f" [{w}]" for w in said[index + 1:])
        try:
            decoder.add_jsgf_string("align", "#JSGF V1.0;\ngrammar align;\n"
                                    f"public <s> = {before}{said[index]}{after};\n")
            decoder.activate_search("align")
            decoder.start_utt()
            decoder.process_raw(pcm, False, True)
            decoder.end_utt()
        except (RuntimeError, ValueError) as exc:  # a word it cannot spell, no path, ...
            log.debug("on/off: cannot align %r: %s", sentence, exc)
            return None
        word = said[index]
        nth = said[:index].count(word)  # "on" may also be a word of a name before it
        found = [s for s in decoder.seg() or [] if s.word.split("(")[0] == word]
        if len(found) <= nth:
            return None
        seg = found[nth]
        return tail_db(samples, seg.start_frame, seg.end_frame + 1)
