"""The voice package's exceptions. Library errors (PyAudio, pyusb, pocketsphinx) are translated."""

from __future__ import annotations

from spark.core.errors import SparkError


class VoiceError(SparkError):
    """Base of every error the voice node raises on purpose."""


class BackendUnavailable(VoiceError):
    """A backend cannot work here (library or model missing, no such device)."""


class SpeechError(VoiceError):
    """Synthesis or playback failed."""
