"""The simulated node's snapshot: a small synthetic room with the lamp lit or dark, as a PNG
built with zlib only (no imaging library on a bare node)."""

from __future__ import annotations

import struct
import zlib

WIDTH, HEIGHT = 160, 120
FLOOR = 88  # first floor row

Rgb = tuple[int, int, int]


def png(rows: list[bytes], width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of ``rows`` (``width * 3`` bytes each)."""
    raw = b"".join(b"\x00" + row for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    t = min(1.0, max(0.0, t))
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))


def _pixel(x: int, y: int, lamp_on: bool) -> Rgb:
    lamp_x, shade_top, shade_bottom = 112, 34, 50
    # the shade: a trapezoid, the stand, the foot
    half = 8 + (y - shade_top) * 6 // (shade_bottom - shade_top)
    if shade_top <= y < shade_bottom and abs(x - lamp_x) <= half:
        return (255, 226, 140) if lamp_on else (120, 104, 84)
    if shade_bottom <= y < FLOOR - 2 and abs(x - lamp_x) <= 1:
        return (70, 70, 76)
    if FLOOR - 2 <= y < FLOOR + 2 and abs(x - lamp_x) <= 9:
        return (60, 60, 66)
    # a window with a night sky and a sofa
    if 18 <= x < 62 and 16 <= y < 56:
        if x in (18, 39, 40, 61) or y in (16, 35, 55):
            return (150, 140, 130)
        return _mix((18, 28, 60), (40, 60, 110), (y - 16) / 40)
    base = (96, 92, 110) if y < FLOOR else (82, 62, 44)
    if y >= FLOOR and (x + (y - FLOOR) * 2) % 24 == 0:
        base = (70, 52, 36)  # floorboards
    if 14 <= x < 80 and 66 <= y < FLOOR + 6:  # the sofa
        base = (150, 64, 52) if y >= 74 or x < 20 or x >= 74 else (126, 52, 44)
    if not lamp_on:
        return _mix(base, (0, 0, 0), 0.55)
    d2 = (x - lamp_x) ** 2 + (y - 44) ** 2
    return _mix(base, (255, 214, 130), max(0.0, 0.6 - d2 / 9000))


def room(lamp_on: bool) -> bytes:
    """The room as a PNG, lit by the lamp when it is on."""
    rows = [b"".join(bytes(_pixel(x, y, lamp_on)) for x in range(WIDTH)) for y in range(HEIGHT)]
    return png(rows, WIDTH, HEIGHT)
