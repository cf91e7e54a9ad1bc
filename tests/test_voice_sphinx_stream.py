"""The pocketsphinx segfault under TV noise (issue 18), replayed.

The sequence that crashed the voice node (three times, ``cmn_live`` inside ``process_raw``): a
decoder decodes an utterance in one piece (``full_utt=True``: the first utterance's second
hearing, the number and setting re-decodes), which grows its cepstrum ring buffer to that
utterance's length; later "hey spark <command>" in one breath hands the seconds of audio after
the wake phrase to speech-to-text in one streaming ``process_raw`` call, which wraps that ring
and reads past its end. Each replay runs in a child process: a segfault there is an exit code,
not the end of the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pocketsphinx")

NOISE = """
import numpy as np
rng = np.random.default_rng(0)
def noise(seconds):
    x = rng.normal(0, 3000, int(16000 * seconds))
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()
"""

RAW = NOISE + """
from spark.nodes.voice.stt.sphinx_decoder import new_decoder
d = new_decoder(lm=None)
d.add_jsgf_string("g", "#JSGF V1.0; grammar g; public <c> = (turn on | turn off) the lamp;")
d.activate_search("g")
d.start_utt(); d.process_raw(noise(8.0), False, True); d.end_utt()  # one piece: 8 s
for _ in range(3):
    d.start_utt(); d.process_raw(noise(9.0), False, False); d.end_utt()  # one 9 s call
print("survived")
"""

OURS = NOISE + """
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.vocab import build_vocabulary
from spark.nodes.voice.wake.sphinx import SphinxWake, SphinxWakeConfig
stt = PocketsphinxStt(PocketsphinxSttConfig(), ["hey spark"])
stt.open()
stt.set_vocabulary(build_vocabulary(
    [{"entity_id": "switch.sim1_lamp", "platform": "switch", "name": "Lamp",
      "commandable": True}], None, stt.lexicon()))
stt.decode(noise(8.0))  # the first utterance: heard again in one piece (full_utt)
for _ in range(3):
    stt.decode(noise(9.0))  # what the pipeline does with the audio after the wake phrase
print("survived")
"""


def run_child(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=600)


def test_speech_to_text_survives_the_sequence_that_crashed() -> None:
    done = run_child(OURS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "survived" in done.stdout


def test_the_sequence_crashes_pocketsphinx_when_fed_in_one_call() -> None:
    """The upstream bug itself (why :func:`stream` feeds 30 ms pieces). Where it reads past
    the buffer depends on the heap: a run that survives is reported, not failed."""
    done = run_child(RAW)
    if done.returncode == 0:
        pytest.xfail("this run of the raw sequence did not crash (heap-dependent)")
    assert done.returncode == -11, done.stderr[-3000:]
    assert "cmn_live" in done.stderr or "process_raw" in done.stderr or "Segmentation" in (
        done.stderr)
