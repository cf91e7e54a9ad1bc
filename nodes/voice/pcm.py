"""The pipeline's audio format, without numpy (config modules import these constants):
16 kHz, 16-bit little-endian, mono, in 30 ms frames."""

from __future__ import annotations

RATE = 16_000
FRAME_MS = 30
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 480
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_S = FRAME_MS / 1000
