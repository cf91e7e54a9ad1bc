"""The voice node's `type`-keyed stages go through core.registry.TypeRegistry like every other
backend (issue 14): speech detectors, reply outputs, microphone arrays."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from spark.core.registry import UnknownType
from spark.nodes.voice.respeaker import ARRAYS, NoArray, NoArrayConfig, open_array
from spark.nodes.voice.tts import (
    SPEAKERS,
    FileOutputConfig,
    FileSpeaker,
    NoOutputConfig,
    NoSpeaker,
    make_speaker,
)
from spark.nodes.voice.vad import (
    VAD_BACKENDS,
    EnergyVad,
    EnergyVadConfig,
    RelativeVad,
    RelativeVadConfig,
    make_vad,
)


def test_each_stage_is_built_from_its_registry(tmp_path: Path) -> None:
    assert VAD_BACKENDS.keys() == ["energy", "relative", "silero", "webrtc"]
    assert SPEAKERS.keys() == ["file", "none", "pyaudio"]
    assert ARRAYS.keys() == ["none", "respeaker"]
    assert isinstance(make_vad(EnergyVadConfig()), EnergyVad)
    assert isinstance(make_vad(RelativeVadConfig()), RelativeVad)
    assert isinstance(make_speaker(NoOutputConfig()), NoSpeaker)
    assert isinstance(make_speaker(FileOutputConfig(directory=tmp_path)), FileSpeaker)
    assert isinstance(open_array(NoArrayConfig()), NoArray)


@pytest.mark.parametrize("make", [make_vad, make_speaker, open_array])
def test_an_unknown_type_names_the_known_ones(make: object) -> None:
    with pytest.raises(UnknownType, match=r"unknown .* 'bogus'; known: "):
        make(SimpleNamespace(type="bogus"))  # type: ignore[operator]
