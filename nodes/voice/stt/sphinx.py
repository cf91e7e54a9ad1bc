"""pocketsphinx speech-to-text against the registry's grammar, verified by a freer model.

Two decoders hear every utterance as it streams in: the *grammar* decoder (JSGF from
``grammar.py``) can only produce commands, so it is accurate but says *something* for any
speech; the *verifier* (a bigram model of the same commands plus everyday words, ``lm.py``)
may wander off into everyday words. The grammar's result is taken only when the two roughly
agree (``min_agreement``, word-level similarity); otherwise the utterance is rejected ("didn't
understand"). An on/off the transcript holds is checked by its sound (``onoff.py``), during
the pause after the command when the pipeline says it paused (:meth:`settle`).
"ask spark ..." (or, after the wake phrase, "ask ...") is re-decoded with pocketsphinx's
general English model.
The English acoustic model, dictionary and general model ship in the pocketsphinx wheel.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.grammar import jsgf, sentences, values
from spark.nodes.voice.intents import ASK_PREFIX, COMPLETE, asks, question_in, recognize
from spark.nodes.voice.lm import EVERYDAY, build_arpa
from spark.nodes.voice.numbers import NUMBER_WORDS
from spark.nodes.voice.stt.base import SpeechToText, StageConfig, Transcript, elapsed_ms
from spark.nodes.voice.stt.moonshine import MoonshineSttConfig, spoken, without_wake
from spark.nodes.voice.stt.moonshine_proc import MoonshineProcess
from spark.nodes.voice.stt.onoff import OnOffCheck, OnOffConfig, Verdict
from spark.nodes.voice.stt.sphinx_decoder import (  # noqa: F401 (imported from here too)
    STREAM_PIECE_BYTES,
    SphinxLexicon,
    agreement,
    new_decoder,
    stream,
)
from spark.nodes.voice.vocab import Vocabulary

log = logging.getLogger(__name__)


class PocketsphinxSttConfig(StageConfig):
    type: Literal["pocketsphinx"] = "pocketsphinx"
    verify: bool = Field(True, description="Reject grammar results the free model disagrees "
                         "with (guards against non-commands forced into the grammar).")
    min_agreement: float = Field(0.35, ge=0, le=1, description="Word similarity (0..1) the "
                                 "grammar and free readings need for a command to count.")
    fwdflat: bool = Field(False, description="The free model's flat-lexicon second pass at "
                          "the end of an utterance. Measured (bench/results): off, clean 95.2% "
                          "and end of speech -> command p50 277 ms; on, 96.2% and 331 ms.")
    bestpath: bool = Field(True, description="The free model's lattice best-path search at the "
                           "end of an utterance.")
    grammar_bestpath: bool = Field(False, description="The grammar decoders' lattice "
                                   "best-path search when their reading is taken. Measured "
                                   "(tune split, 12 voices): off, right 64.8 % and a set "
                                   "command's finish 12 ms CPU (p50); on, 63.6 % and 566 ms.")
    free_form: bool = Field(True, description="Decode 'ask spark ...' with the general model.")
    stream_checks: bool = Field(True, description="The second readings of a value (any "
                                "number) and of a setting command hear the audio as it "
                                "streams in, on decoders of their own, instead of decoding "
                                "the utterance again after it ended: less wait after speech "
                                "for more CPU during it (two more grammar decoders, +55 MB "
                                "resident). With grammar_bestpath off: a set command's "
                                "finish 12 ms CPU p50 / 17 ms p90 (was 566 / 955 ms), right "
                                "64.8 % (was 63.6 %).")
    onoff: OnOffConfig = Field(default_factory=OnOffConfig, description="'on' or 'off' "
                               "decided by the word's last sound (onoff.py).")
    model_dir: Path | None = Field(None, description="Acoustic model directory; default: the "
                                   "English model in the pocketsphinx wheel.")
    listener: MoonshineSttConfig | None = Field(None, description="A second, independent "
                                                "model hearing every utterance (Moonshine, "
                                                "stt/moonshine.py; confirm.py weighs it).")


class PocketsphinxStt(SpeechToText):
    type = "pocketsphinx"

    def __init__(self, config: PocketsphinxSttConfig, wake_phrases: Sequence[str] = ()) -> None:
        super().__init__(config, wake_phrases)
        self.cfg = config
        self._grammar: Any = None
        self._verifier: Any = None
        self._general: Any = None
        self._checkers: dict[str, Any] = {}  # "set" / "num": streamed second readings
        self._onoff: OnOffCheck | None = None
        self._settled: Verdict | None = None  # on/off judged while the speech paused
        self._lexicon: SphinxLexicon | None = None
        self._generation = 0
        self._setters = False  # the vocabulary has numbers or selects to set
        self._numbers = False  # ... numbers to set
        self._primed = False  # an utterance was heard (the decoders' mean follows speech)
        self._audio: list[bytes] = []
        self._means: list[str] = []  # the decoders' cepstral means before this utterance
        self._live: list[Any] = []  # the decoders hearing this utterance
        self._running = False
        self._listener: MoonshineProcess | None = None
        self._all_wake = list(wake_phrases)  # for the listener (it spells "nabu" too)

    def _model_args(self) -> dict[str, Any]:
        if self.cfg.model_dir is None:
            return {}
        return {"hmm": str(self.cfg.model_dir)}

    def open(self) -> None:
        if self._grammar is not None:
            return
        self._grammar = new_decoder(lm=None, bestpath=self.cfg.grammar_bestpath,
                                    **self._model_args())
        self._lexicon = SphinxLexicon(self._grammar)
        # A neural wake word's phrase ("okay nabu") may have words the dictionary lacks: it
        # is then not in the grammars (such an engine hands over the audio after its phrase).
        lexicon = self._lexicon
        self.wake_phrases = [p for p in self.wake_phrases
                             if all(lexicon.known(w) for w in p.split())]
        if self.cfg.verify:
            self._verifier = new_decoder(lm=None, fwdflat=self.cfg.fwdflat,
                                         bestpath=self.cfg.bestpath, **self._model_args())
        if self.cfg.stream_checks:
            self._checkers = {kind: new_decoder(lm=None, bestpath=self.cfg.grammar_bestpath,
                                                **self._model_args())
                              for kind in ("set", "num")}
        if self.cfg.onoff.enabled:
            self._onoff = OnOffCheck(self.cfg.onoff, new_decoder(lm=None, **self._model_args()),
                                     self.wake_phrases)
        if self.cfg.listener is not None:
            try:
                self._listener = MoonshineProcess(self.cfg.listener).opened()
            except BackendUnavailable as exc:
                log.warning("voice: no second listener, pocketsphinx alone: %s", exc)

    def close(self) -> None:
        self._grammar = self._verifier = self._general = self._onoff = None
        self._checkers = {}
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def lexicon(self) -> SphinxLexicon:
        if self._lexicon is None:
            self.open()
        assert self._lexicon is not None
        return self._lexicon

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        self.open()
        self._generation += 1
        name = f"cmd{self._generation}"
        assert self._lexicon is not None
        known = self._lexicon.known
        self._grammar.add_jsgf_string(name, jsgf(vocab, self.wake_phrases, known=known))
        # a number or option set by name alone (a number, a select; not a level of its own)
        self._setters = any(t.words.setter is not None and t.words.level is None
                            for t in vocab.targets)
        self._numbers = any(t.words.setter == "number" for t in vocab.targets)
        checks = {"set": self._setters and jsgf(vocab, self.wake_phrases, kinds=["set"],
                                                known=known),
                  "num": self._numbers and jsgf(vocab, self.wake_phrases, kinds=["set"],
                                                known=known, any_number=True)}
        for kind, grammar in checks.items():
            if grammar:  # on its own decoder (streamed) or as another search of the grammar's
                decoder = self._checkers.get(kind, self._grammar)
                decoder.add_jsgf_string(f"{kind}{self._generation}", grammar)
                if kind in self._checkers:
                    decoder.activate_search(f"{kind}{self._generation}")
        self._grammar.activate_search(name)
        if self._generation > 1:
            self._grammar.remove_search(f"cmd{self._generation - 1}")
            for kind in ("set", "num"):
                with contextlib.suppress(Exception):  # absent when it had nothing to set
                    self._checkers.get(kind, self._grammar).remove_search(
                        f"{kind}{self._generation - 1}")
        if self._verifier is not None:
            text = sentences(vocab, self.wake_phrases, known)
            words = {w for s in text for w in s.split()}
            words |= {w for w in EVERYDAY if self._lexicon.known(w)}
            with tempfile.TemporaryDirectory(prefix="spark-voice-") as tmp:
                path = Path(tmp) / f"{name}.arpa"
                path.write_text(build_arpa(text, words))
                self._verifier.add_lm_file(name, str(path))
            self._verifier.activate_search(name)
            if self._generation > 1:
                self._verifier.remove_search(f"cmd{self._generation - 1}")
        super().set_vocabulary(vocab)

    def start(self) -> None:
        if self._generation == 0:
            self.set_vocabulary(self.vocabulary)
        self._audio = []
        self._settled = None
        self._live = self._decoders()
        self._means = [d.get_cmn() for d in self._live]
        for decoder in self._live:
            decoder.start_utt()
        self._running = True

    def _decoders(self) -> list[Any]:
        """The decoders that hear the utterance as it streams in."""
        return [d for d in (self._grammar, self._verifier, *self._streamed_checks())
                if d is not None]

    def _streamed_checks(self) -> list[Any]:
        """The check decoders with a search to run (nothing to set: nothing to check)."""
        wanted = {"set": self._setters, "num": self._numbers}
        return [d for kind, d in self._checkers.items() if wanted[kind]]

    def cancel(self) -> None:
        """A click: the decoders forget it (their cepstral mean would follow it, and a
        mean pulled towards a click spoils the start of the next command)."""
        self._running = False
        for decoder, mean in zip(self._live, self._means, strict=True):
            decoder.end_utt()
            decoder.set_cmn(mean)

    def feed(self, pcm: bytes) -> None:
        self._audio.append(pcm)
        for decoder in self._live:
            stream(decoder, pcm)

    def settle(self) -> None:
        """A pause after what reads as a whole on/off command: judge on/off now (the audio
        after it is silence), so the end of speech does not wait for it."""
        if self._onoff is None or not self._running:
            return
        text = self.partial()
        if text:
            self._judge(text)

    def _judge(self, text: str) -> Verdict:
        """The on/off verdict on ``text``: the one made during the pause when it was about the
        same pair of sentences, else a new one."""
        assert self._onoff is not None
        if self._settled is None or not self._settled.answers(text):
            self._settled = self._onoff.check(text, b"".join(self._audio), self._sure)
        return self._settled

    def partial(self) -> str:
        return self._reading(self._grammar) if self._running else ""

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        self._running = False
        decoders = self._live
        for decoder in decoders:
            decoder.end_utt()
        if not self._primed:
            # The first utterance streamed against the default cepstral mean, which suits
            # some voices and not others (a fresh node then missed "lamp" now and then):
            # hear it once more in one piece, with its own mean; later ones carry the mean.
            self._primed = True
            for decoder in decoders:
                self._in_one_piece(decoder)
        pcm = b"".join(self._audio)
        listened = self._second(pcm)
        second = listened or ""
        text = self._reading(self._grammar)
        heard = self._reading(self._verifier) if self._verifier is not None else ""
        asked = asks(second) if second else asks(text) or asks(heard)
        if self.cfg.free_form and asked:
            question = question_in(second.split(), heard.split()) if second else \
                self._free_form(pcm, heard)
            return Transcript(f"{ASK_PREFIX} {question}".strip(), heard, False, True,
                              elapsed_ms(t0), second=listened)
        said, free = text.split(), heard.split()
        if said and free[: len(said)] == said and len(free) > len(said) and (
                recognize(heard, self.vocabulary).name in COMPLETE):
            # The grammar's best path stopped short of its end ("enable the sim one" for
            # "... lamp"): the free reading carries on the same words to a whole command,
            # take it (not when the words after are other people talking: "... lamp five").
            text = heard
        text = self._finished(text, heard)
        text = self._completed(text)
        text = self._setting(text, heard)
        if text and heard != text and self._sure(heard) and (
                _meaning(heard, self.vocabulary) != _meaning(text, self.vocabulary)):
            # The free reading is itself a whole, valid command that means something else:
            # the grammar lost the right path (pruned early: "what is listening level" for
            # "what is the sim one temperature"); the free model reached it word by word.
            text = heard
        own = text  # pocketsphinx's reading (the gate compares the listener's with it)
        agreed = bool(second) and bool(text) and (
            _meaning(second, self.vocabulary) == _meaning(text, self.vocabulary))
        if second and not agreed and self._sure(second):
            # The independent listener heard a whole command: it leads (the gate acts on it
            # only where pocketsphinx's checks of its deciding word confirm it).
            text = second
        sound: dict[str, str] = {}
        if text and self._onoff is not None:
            verdict = self._judge(text)
            text = verdict.text
            if verdict.sound is not None:  # a clear sound
                sound["onoff"] = verdict.sound
        rejected = bool(text) and self._verifier is not None and not agreed and (
            text != second) and agreement(text, heard) < self.cfg.min_agreement
        if not text and heard:
            rejected = True
        checks = {**sound, **self._number_check(text), **self._verb_check(text)} \
            if text and not rejected else {}
        return Transcript("" if rejected else text, heard, rejected, False, elapsed_ms(t0),
                          candidate=own, words=self._posteriors(), checks=checks,
                          second=listened)

    def _second(self, pcm: bytes) -> str | None:
        """The listener's reading of the utterance, in words (None without a listener)."""
        listener = self._listener
        return None if listener is None else without_wake(spoken(listener.transcribe(pcm)),
                                                          self._all_wake)

    def _number_check(self, text: str) -> dict[str, str]:
        """A value set by voice is heard once more by a grammar that takes any number there
        (not only the entity's own values): the gate acts only when both say the same."""
        intent = recognize(text, self.vocabulary)
        if not self._numbers or intent.name != "set_value":
            return {}
        words = self._decode_with(f"num{self._generation}").split()
        if "to" not in words:
            return {"number": ""}
        value = words[len(words) - words[::-1].index("to"):]
        return {"number": " ".join(w for w in value if w in NUMBER_WORDS)}

    def _verb_check(self, text: str) -> dict[str, str]:
        """A toggle (it always changes something) is heard once more by a grammar in which
        only the verb may differ: the gate acts only when that reading is a toggle too."""
        if self._onoff is None or recognize(text, self.vocabulary).name != "toggle":
            return {}
        verb = self._onoff.verb(text, b"".join(self._audio))
        return {"verb": verb} if verb else {}  # no path through the audio: no evidence

    def _posteriors(self) -> tuple[tuple[str, float], ...]:
        """The free reading's words and their lattice posteriors (fillers left out)."""
        if self._verifier is None or not self.cfg.bestpath:
            return ()
        try:
            segments = list(self._verifier.seg() or [])
        except (RuntimeError, ValueError):
            return ()
        out = []
        for seg in segments:
            word = seg.word.split("(", 1)[0]
            if word.startswith(("<", "[", "+")):
                continue
            out.append((word, max(0.0, min(1.0, float(seg.prob)))))
        return tuple(out)

    def _finished(self, text: str, heard: str) -> str:
        """The grammar's reading is not a whole command ("turn off the sim one") and the free
        reading goes on after its last words ("to off the sim one lamp"): finish the
        grammar's words with the free reading's, the longest ending that makes a command."""
        said, free = text.split(), heard.split()
        if len(said) < 2 or recognize(text, self.vocabulary).name in COMPLETE:
            return text
        tail = said[-2:]
        if not any(f" {' '.join(tail)} " in f" {name} " for name in self.vocabulary.names):
            return text  # not part of a name: the grammar lost its way ("turn on the")
        for j in range(len(free) - 2, -1, -1):
            if free[j:j + 2] == tail:
                rest = free[j + 2:]
                for k in range(len(rest), 0, -1):
                    longer = " ".join(said + rest[:k])
                    if recognize(longer, self.vocabulary).name in COMPLETE:
                        return longer
                break
        return text

    def _completed(self, text: str) -> str:
        """The grammar's reading stops inside a name ("turn on the sim one" for "... lamp": a
        last word clipped or lost) and exactly one target whose name goes on from there
        could take that command: the reading is that command on it. Several candidates, or
        none, leave the reading as it is (the gate still checks each part against the audio)."""
        from spark.nodes.voice.confirm import can_take  # confirm imports stt.base

        said = text.split()
        if len(said) < 2 or recognize(text, self.vocabulary).name in COMPLETE:
            return text
        for k in range(min(len(said) - 1, 4), 0, -1):  # the longest ending that starts a name
            tail = said[-k:]
            found: dict[str, str] = {}
            for name, targets in self.vocabulary.names.items():
                words = name.split()
                if len(words) <= k or words[:k] != tail:
                    continue
                longer = " ".join([*said, *words[k:]])
                intent = recognize(longer, self.vocabulary)
                if intent.name in COMPLETE and intent.target is not None and (
                        intent.target in targets) and can_take(intent.target, intent.name) and (
                        intent.name != "press" or {"press", "push"} & set(said)):
                    # ("turn on" presses a button too in HA's phrasing; a name not heard whole
                    # is completed only towards what the verb itself says)
                    found.setdefault(intent.target.entity_id, longer)
            if len(found) == 1:
                return next(iter(found.values()))
            if found:
                return text  # more than one target: not ours to choose
        return self._value_completed(said, text)

    def _value_completed(self, said: list[str], text: str) -> str:
        """A value cut short ("... to twenty one point" for "... point five"): completed only
        when exactly one of the entity's own values (its range and step) goes on from the
        words heard; the value still needs the any-number reading's confirmation."""
        run = 0
        while run < len(said) and said[-1 - run] in NUMBER_WORDS:
            run += 1
        if not run or run == len(said) or said[-1 - run] != "to":
            return text
        head, spoken = said[:-run], said[-run:]
        found: dict[tuple[str, float], str] = {}
        for target in self.vocabulary.targets:
            if target.words.setter != "number":
                continue
            for value in values(target) or ():
                words = value.split()
                if len(words) <= run or words[:run] != spoken:
                    continue
                longer = " ".join([*head, *words])
                intent = recognize(longer, self.vocabulary)
                if intent.name == "set_value" and intent.target is target:
                    found.setdefault((target.entity_id, float(intent.data["value"])), longer)
                    if len(found) > 1:
                        return text  # several values go on from here: not ours to choose
        return next(iter(found.values())) if found else text

    def _in_one_piece(self, decoder: Any) -> None:
        """Decode the utterance again in one piece, with its own cepstral mean."""
        decoder.start_utt()
        decoder.process_raw(b"".join(self._audio), False, True)
        decoder.end_utt()

    def _reading(self, decoder: Any) -> str:
        """The decoder's words, without a leading wake phrase (both models allow one)."""
        hyp = decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        for phrase in self.wake_phrases:
            if text.startswith(phrase + " "):
                text = text[len(phrase) + 1:]
        return text

    def _sure(self, heard: str) -> bool:
        """A whole command the grammar could say: a value in its entity's range, and not a
        question about a button (a button has no state worth asking; that is "press" heard
        as "get")."""
        intent = recognize(heard, self.vocabulary)
        if intent.name not in COMPLETE:
            return False
        target = intent.target
        if target is not None and intent.name == "get_state" and target.platform == "button":
            return False
        value = intent.data.get("value")
        if target is not None and isinstance(value, int | float):
            low, high = target.min, target.max
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        return True

    def _setting(self, text: str, heard: str) -> str:
        """"set" and "get" differ by one sound, and a grammar path pruned early cannot come
        back: when the free reading ends in "... to <value>" but the grammar's does not set
        anything, decode once more with only the setting commands and keep whichever reading
        agrees better with the free one (the value is most of the evidence)."""
        words = heard.split()
        if (not self._setters or "to" not in words[1:-1] or text.startswith(("set ", "select ",
                                                                            "choose "))):
            return text
        setting = self._decode_with(f"set{self._generation}")
        if setting and agreement(setting, heard) > agreement(text, heard):
            return setting
        return text

    def _decode_with(self, search: str) -> str:
        """The utterance read by the check ``search`` ("set<n>", "num<n>"): its own decoder's
        reading when it streamed, else decoded in one piece by the grammar decoder."""
        checker = self._checkers.get(search.rstrip("0123456789"))
        if checker is not None:
            return self._reading(checker)
        current = self._grammar.current_search()
        self._grammar.activate_search(search)
        try:
            self._in_one_piece(self._grammar)
            return self._reading(self._grammar)
        finally:
            self._grammar.activate_search(current)

    def _free_form(self, pcm: bytes, heard: str = "") -> str:
        if self._general is None:
            self._general = new_decoder(**self._model_args())  # the wheel's general English LM
        self._general.start_utt()
        self._general.process_raw(pcm, False, True)
        self._general.end_utt()
        hyp = self._general.hyp()
        return question_in((hyp.hypstr if hyp is not None else "").split(), heard.split())


def _meaning(text: str, vocab: Vocabulary) -> tuple[Any, ...]:
    intent = recognize(text, vocab)
    entity = intent.target.entity_id if intent.target is not None else None
    return intent.name, entity, sorted(intent.data.items())
