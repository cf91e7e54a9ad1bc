"""The ReSpeaker USB 4-mic array's extras over USB (pyusb): direction of arrival and voice
activity from the XVF-3000's tuning parameters, and the 12-LED ring.

Tuning parameters are vendor control transfers to the device (vendor 0x2886, product 0x0018):
read = IN request 0, value ``0x80 | offset`` (``| 0x40`` for ints), index = parameter id, 8 bytes
back as two little-endian int32 (an int; or mantissa and exponent: ``m * 2**e``); write = OUT
request 0, value 0, index = id, payload ``<offset, value, type>`` (type 1 int, 0 float). The
table below is the subset of the documented table we use. The LED ring takes OUT request 0,
value = command, index 0x1C. :class:`NoArray` is the stand-in when the array is absent.
"""

from __future__ import annotations

import logging
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.voice.errors import BackendUnavailable, VoiceError
from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)

VENDOR_ID, PRODUCT_ID = 0x2886, 0x0018
TIMEOUT_MS = 1000
_OUT, _IN = 0x40, 0xC0  # vendor request to the device, host-to-device / device-to-host
RING_INDEX = 0x1C


@dataclass(frozen=True, slots=True)
class Param:
    id: int
    offset: int
    is_int: bool
    writable: bool
    low: float
    high: float


PARAMS: dict[str, Param] = {
    "DOAANGLE": Param(21, 0, True, False, 0, 359),  # direction of arrival, degrees
    "VOICEACTIVITY": Param(19, 32, True, False, 0, 1),  # VAD status
    "SPEECHDETECTED": Param(19, 22, True, False, 0, 1),
    "AGCONOFF": Param(19, 0, True, True, 0, 1),
    "AGCGAIN": Param(19, 3, False, True, 1, 1000),
    "STATNOISEONOFF": Param(19, 8, True, True, 0, 1),
    "GAMMAVAD_SR": Param(19, 39, False, True, 0, 1000),  # VAD threshold, dB
}

RingState = Literal["idle", "wake", "listening", "thinking", "speaking", "off"]
_RING: dict[str, tuple[int, list[int]]] = {
    "idle": (0, [0]),  # "trace": follows voice activity
    "wake": (2, [0]),  # "listen"
    "listening": (2, [0]),
    "thinking": (4, [0]),
    "speaking": (3, [0]),
    "off": (1, [0, 0, 0, 0]),  # mono black
}


class ReSpeakerConfig(StageConfig):
    type: Literal["respeaker"] = "respeaker"
    vendor_id: int = Field(VENDOR_ID)
    product_id: int = Field(PRODUCT_ID)
    required: bool = Field(False, description="Fail at start when the array is absent "
                           "(default: carry on without DOA and LEDs).")
    brightness: int = Field(16, ge=0, le=31, description="LED ring brightness.")


class NoArrayConfig(StageConfig):
    type: Literal["none"] = "none"


ArrayConfig = Annotated[ReSpeakerConfig | NoArrayConfig, Field(discriminator="type")]


class MicArray(ABC):
    @property
    def present(self) -> bool:
        return False

    @abstractmethod
    def direction(self) -> int | None: ...

    @abstractmethod
    def voice_activity(self) -> bool | None: ...

    @abstractmethod
    def ring(self, state: RingState) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class NoArray(MicArray):
    def direction(self) -> int | None:
        return None

    def voice_activity(self) -> bool | None:
        return None

    def ring(self, state: RingState) -> None:
        return None


class ReSpeakerArray(MicArray):
    """Talks to ``device`` (a pyusb device, or anything with the same ``ctrl_transfer``)."""

    def __init__(self, device: Any, brightness: int = 16) -> None:
        self.dev = device
        self.write_ring(0x20, [brightness])

    @property
    def present(self) -> bool:
        return True

    def read(self, name: str) -> float:
        p = PARAMS[name]
        value = 0x80 | p.offset | (0x40 if p.is_int else 0)
        try:
            raw = bytes(self.dev.ctrl_transfer(_IN, 0, value, p.id, 8, TIMEOUT_MS))
        except Exception as exc:  # usb.core.USBError and friends
            raise VoiceError(f"ReSpeaker read {name}: {exc}") from exc
        mantissa, exponent = struct.unpack("<ii", raw[:8])
        return float(mantissa) if p.is_int else mantissa * 2.0 ** exponent

    def write(self, name: str, value: float) -> None:
        p = PARAMS[name]
        if not p.writable:
            raise VoiceError(f"{name} is read-only")
        if not p.low <= value <= p.high:
            raise VoiceError(f"{name}: {value} is outside {p.low}..{p.high}")
        payload = (struct.pack("<iii", p.offset, int(value), 1) if p.is_int
                   else struct.pack("<ifi", p.offset, float(value), 0))
        try:
            self.dev.ctrl_transfer(_OUT, 0, 0, p.id, payload, TIMEOUT_MS)
        except Exception as exc:
            raise VoiceError(f"ReSpeaker write {name}: {exc}") from exc

    def write_ring(self, command: int, data: list[int]) -> None:
        try:
            self.dev.ctrl_transfer(_OUT, 0, command, RING_INDEX, bytes(data), TIMEOUT_MS)
        except Exception as exc:
            log.debug("ReSpeaker LED ring command %#x failed: %s", command, exc)

    def direction(self) -> int | None:
        return int(self.read("DOAANGLE")) % 360

    def voice_activity(self) -> bool | None:
        return bool(self.read("VOICEACTIVITY"))

    def ring(self, state: RingState) -> None:
        command, data = _RING[state]
        self.write_ring(command, data)

    def close(self) -> None:
        self.ring("off")
        try:
            import usb.util

            usb.util.dispose_resources(self.dev)
        except Exception as exc:
            log.debug("releasing the ReSpeaker: %s", exc)


def _open_respeaker(config: ReSpeakerConfig) -> MicArray:
    try:
        import usb.core

        device = usb.core.find(idVendor=config.vendor_id, idProduct=config.product_id)
    except Exception as exc:  # ImportError, or no libusb backend (usb.core.NoBackendError)
        device, reason = None, f"pyusb unusable: {exc}"
    else:
        reason = "not connected"
    if device is None:
        if config.required:
            raise BackendUnavailable(f"ReSpeaker {config.vendor_id:#06x}:"
                                     f"{config.product_id:#06x} {reason}")
        log.info("no ReSpeaker array (%s): no direction of arrival, no LED ring", reason)
        return NoArray()
    return ReSpeakerArray(device, config.brightness)


ARRAYS: TypeRegistry[Callable[[Any], MicArray]] = TypeRegistry("microphone array", {
    "respeaker": _open_respeaker, "none": lambda _config: NoArray()})


def open_array(config: Any) -> MicArray:
    return ARRAYS.get(config.type)(config)
