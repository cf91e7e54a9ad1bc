"""The voice generalisation corpus (issue 18): generated, not a hand list.

* **Commands**: sentence templates (each with a stable id) filled over the default lab's
  entities, spoken names, numbers and options; every service the voice node offers (on / off /
  toggle, set value, select option, press), questions, status and chit-chat; polite and terse
  forms and the word orders people use ("please", "could you", "my ...", "change X to Y",
  "turn the X on"). Each :class:`Command` carries its expected outcome: the exact command the
  hub must publish (node, entity key, payload) or no action (with the kind of answer expected).
* **Voices**: engines Debian ships (espeak-ng English accents with its +variants, flite's
  voices, festival's English voices); each utterance gets a speed (140-200 wpm) and, where the
  engine takes one, a pitch, both derived from its text and voice so a rerun is identical.
* **Conditions**: clean, pink noise at 10 dB SNR, a TV talking at 10 dB (another voice reading
  other text from 2 s before the wake phrase to 2 s after the command), synthesised music
  (chords and a beat, no recordings) at 10 dB.
* **False wakes**: everyday speech and near-miss phrases ("hey Sparky", "spark plug", ...; and
  near misses of the neural engines' phrases) in every voice, >= 10 minutes in all.

THE HELD-OUT SPLIT (fixed before any tuning, issue 18): a voice (its full name, e.g.
``espeak-ng:en-us+m3`` or ``flite:slt``) and a sentence template (its id) are held out when
``sha256(name)[0] % 3 == 0`` (:func:`held_out`); everything else is the tune split. A held-out
template is spoken only by held-out voices and a tune template only by tune voices, so a
held-out utterance has neither its words' pattern nor its voice in the tune split. Tune
thresholds, grammar weights and choices on the tune split only; the acceptance counts on the
held-out split.

Each part is a module: ``templates`` (the default lab, sentence templates, the commands and
their expected outcomes), ``voices`` (voices, speeds and pitches, everyday speech and near
misses, the TV's text; synthesis and its cache), ``conditions`` (noise, music, a TV, and the
utterance in them). This module holds the split and the stable choices the parts share.
"""

from __future__ import annotations

import hashlib

RATE = 16000


# ---- the split ------------------------------------------------------------------------------
def held_out(name: str) -> bool:
    """Is this voice (full name) or sentence template (id) held out from tuning?"""
    return hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def stable_unit(*parts: str) -> float:
    """A stable number in [0, 1) from strings (speeds, pitches, voice choice)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64
