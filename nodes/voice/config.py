"""The voice node's config section (``nodes: [{kind: voice, ...}]``).

Defaults make ``spark up`` runnable on a machine without audio hardware: typed text from a
console source (``/tmp/spark-voice`` FIFO, or the terminal), replies written nowhere. A Pi with
the ReSpeaker sets ``source: {type: pyaudio, device: ReSpeaker}`` and ``output: {type:
pyaudio}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from spark.core.agent.config import NodeConfigBase
from spark.nodes.voice.denoise import DenoiseConfig, WebRtcDenoiseConfig
from spark.nodes.voice.respeaker import ArrayConfig, ReSpeakerConfig
from spark.nodes.voice.sources import SourceConfig
from spark.nodes.voice.sources.console import ConsoleSourceConfig
from spark.nodes.voice.stt import SttConfig
from spark.nodes.voice.stt.sphinx import PocketsphinxSttConfig
from spark.nodes.voice.tts import EspeakTtsConfig, NoOutputConfig, OutputConfig, TtsConfig
from spark.nodes.voice.vad import VadConfig, WebRtcVadConfig
from spark.nodes.voice.wake import WakeConfig
from spark.nodes.voice.wake.ensemble import AnyWakeConfig
from spark.nodes.voice.wake.neural import MicroWakeConfig, PyOpenWakeConfig


class VoiceNodeConfig(NodeConfigBase):
    kind: Literal["voice"] = "voice"
    source: SourceConfig = Field(
        default_factory=lambda: ConsoleSourceConfig(path=Path("/tmp/spark-voice")),
        description="pyaudio (microphone), wav (file or folder) or console (typed text).")
    denoise: DenoiseConfig = Field(
        default_factory=WebRtcDenoiseConfig, description="Noise suppression before wake word "
        "and speech-to-text: webrtc (default: only while the room is noisy) or none; off with "
        "a log line when webrtc-noise-gain is not installed.")
    wake: WakeConfig = Field(
        default_factory=lambda: AnyWakeConfig(engines=[
            MicroWakeConfig(model="okay_nabu", probability_cutoff=0.75),
            PyOpenWakeConfig(model="okay_nabu", threshold=0.1)]),
        description="Wake word: any (default: \"okay nabu\" heard by micro-wakeword at 0.75 "
        "or pyopen-wakeword at 0.1, chosen on the tune split of bench voice_wake: the two "
        "models miss different speakers), micro-wakeword, pyopen-wakeword, pocketsphinx "
        "(\"hey spark\"), pocketsphinx-kws, openwakeword, wyoming.")
    vad: VadConfig = Field(default_factory=WebRtcVadConfig,
                           description="Speech detection: webrtc (energy when not installed).")
    stt: SttConfig = Field(default_factory=PocketsphinxSttConfig,
                           description="Speech-to-text: pocketsphinx, vosk, faster-whisper.")
    tts: TtsConfig = Field(default_factory=EspeakTtsConfig, description="espeak-ng or piper.")
    output: OutputConfig = Field(default_factory=NoOutputConfig,
                                 description="Where replies are played: pyaudio, file, none.")
    array: ArrayConfig = Field(default_factory=ReSpeakerConfig,
                               description="ReSpeaker USB tuning / LED ring; none to skip.")
    hub_id: str | None = Field(None, description="Hub to send intents to; default: hub.id.")
    end_silence_s: float = Field(0.45, gt=0.05, le=3, description="Silence that ends a command.")
    early_end_s: float = Field(0.15, ge=0, le=3, description="Silence after what already is "
                               "a whole command that ends it (0: always wait end_silence_s; "
                               "0.15 measured as accurate as 0.2 on the benchmark corpus).")
    end_drop_db: float = Field(30.0, ge=0, le=60, description="Silence is counted from where "
                               "the level fell this far below the loudest speech, not from "
                               "where the voice detector (90-110 ms late) noticed (0: from the "
                               "detector's).")
    max_speech_s: float = Field(10.0, gt=1, le=60, description="Longest command.")
    listen_timeout_s: float = Field(5.0, gt=0, le=60, description="After the wake word: how "
                                    "long to wait for speech.")
    follow_up_s: float = Field(4.0, ge=0, le=60, description="After a reply: listen this long "
                               "without the wake word (0: off).")
    refresh_s: float = Field(60.0, gt=0, description="Re-read the hub registry at least this "
                             "often (also whenever the hub's entity count changes).")
    rpc_timeout_s: float = Field(5.0, gt=0, description="Hub request timeout.")
    ask_timeout_s: float = Field(30.0, gt=0, le=600, description="How long a question to "
                                 "the hub's LLM may take before the reply is an error.")
    volume: float = Field(80.0, ge=0, le=100, description="Reply volume at start, percent.")
    isolate: bool = Field(True, description="Run the recognisers (wake word, speech-to-text) "
                          "in a supervised worker process: a native crash fails one "
                          "utterance and restarts the worker, not the node.")
    worker_timeout_s: float = Field(60.0, gt=1, le=600, description="A recogniser step that "
                                    "takes longer is a hung worker: it is killed and "
                                    "restarted (loading models and grammars may take 5 "
                                    "minutes).")
    speak_replies: bool = Field(True, description="Synthesise replies (the text is always "
                                "published).")
