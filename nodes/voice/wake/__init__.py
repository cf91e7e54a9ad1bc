"""Wake word backends. ``micro-wakeword`` and ``pyopen-wakeword`` run the neural models bundled
with those wheels (okay nabu, hey jarvis, alexa, hey mycroft; their own TFLite runtime); ``any``
(the default: "okay nabu" through both) wakes when either of its engines does. README.md "The
wake word" has the figures that chose the default: "hey spark" below false-wakes about 3 times
a minute on everyday speech and near misses, the neural engines 0-0.4 (bench voice_wake /
voice_generalisation, issue 18).

``pocketsphinx`` ("hey spark") spots the phrase in each stretch of speech with a small language
model of commands and everyday words (``lm.py``): a wake phrase counts only when that model
prefers it to everyday words; the spotter, at a strict threshold, is its last look when noise
hides the phrase from the models. ``pocketsphinx-kws`` is pocketsphinx's streaming keyphrase
spotter (single uncommon words spot best, e.g. "bumblebee" at 1e-40); ``openwakeword`` runs an
openWakeWord model when that package is installed; ``wyoming`` streams to a Wyoming wake word
server (``wyoming_wake.py``).

The parts: ``base`` (the backend interface :class:`~.base.WakeWord` and its
:class:`~.base.WakeHit`: streaming and segment backends), ``sphinx`` (the pocketsphinx
engines), ``neural`` (micro-wakeword, pyopen-wakeword, openwakeword), ``ensemble`` (any of
several neural engines); this module is the registry keyed by each config's ``type`` literal.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.voice.wake.base import WakeWord
from spark.nodes.voice.wake.ensemble import AnyWake, AnyWakeConfig
from spark.nodes.voice.wake.neural import (
    MicroWake,
    MicroWakeConfig,
    OpenWakeWord,
    OpenWakeWordConfig,
    PyOpenWake,
    PyOpenWakeConfig,
)
from spark.nodes.voice.wake.sphinx import (
    SphinxKwsWake,
    SphinxKwsWakeConfig,
    SphinxWake,
    SphinxWakeConfig,
)
from spark.nodes.voice.wyoming import WyomingWakeConfig

WakeConfig = Annotated[SphinxWakeConfig | SphinxKwsWakeConfig | OpenWakeWordConfig
                       | MicroWakeConfig | PyOpenWakeConfig | AnyWakeConfig | WyomingWakeConfig,
                       Field(discriminator="type")]

WAKE_BACKENDS: TypeRegistry[type[WakeWord]] = TypeRegistry("wake word backend", {
    "pocketsphinx": SphinxWake, "pocketsphinx-kws": SphinxKwsWake, "openwakeword": OpenWakeWord,
    "micro-wakeword": MicroWake, "pyopen-wakeword": PyOpenWake, "any": AnyWake,
    "wyoming": "spark.nodes.voice.wyoming_wake:WyomingWake",
})


def make_wake(config: Any) -> WakeWord:
    return WAKE_BACKENDS.get(config.type)(config)
