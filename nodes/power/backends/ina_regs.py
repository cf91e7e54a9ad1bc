"""INA219 / INA226 register maths, as in the TI datasheets (SBOS448, SBOS547). Pure functions
over 16-bit register words in the chip's own (big-endian) order; no bus access here.

Registers (both chips): 0x00 configuration, 0x01 shunt voltage, 0x02 bus voltage, 0x03 power,
0x04 current, 0x05 calibration; the INA226 adds 0x06 mask/enable, 0x07 alert limit,
0xFE manufacturer id (0x5449, "TI") and 0xFF die id (0x2260).

========================  ==============================  ===============================
quantity                  INA219                          INA226
========================  ==============================  ===============================
shunt voltage LSB         10 µV, two's complement         2.5 µV, two's complement
bus voltage               bits 15..3, LSB 4 mV;           bits 14..0, LSB 1.25 mV
                          bit 1 CNVR, bit 0 OVF
calibration               trunc(0.04096 / (I_LSB·R))      trunc(0.00512 / (I_LSB·R))
                          (bit 0 always 0)                (bit 15 reserved)
current register          shunt · CAL / 4096              shunt · CAL / 2048
power LSB                 20 · I_LSB                      25 · I_LSB
========================  ==============================  ===============================

``I_LSB`` (current LSB) is at least max expected current / 2^15 (datasheet eq. 2); we round it
up to 1, 2 or 5 · 10^n A so register values read as round numbers (Waveshare's UPS HAT uses
0.1 mA with its 0.1 Ω shunt and 3.2 A range: CAL 4096).

SMBus "read word" returns the low byte first while these chips send the high byte first:
:func:`swap16` converts between the bus word and the register value in both directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REG_CONFIG = 0x00
REG_SHUNT = 0x01
REG_BUS = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05
REG_MANUFACTURER_ID = 0xFE
REG_DIE_ID = 0xFF
TI_MANUFACTURER_ID = 0x5449
INA226_DIE_ID = 0x2260


@dataclass(frozen=True, slots=True)
class InaChip:
    name: str
    shunt_lsb_v: float
    bus_lsb_v: float
    bus_shift: int  # right shift of the bus register before applying the LSB
    cal_constant: float
    current_divisor: int  # current register = shunt * CAL / current_divisor
    power_lsb_factor: int  # power LSB = factor * current LSB
    cal_mask: int
    shunt_full_scale_v: float  # largest shunt voltage at the default gain

    def calibration(self, current_lsb_a: float, shunt_ohms: float) -> int:
        """The calibration register value (datasheet eq. 1 / eq. 5)."""
        if current_lsb_a <= 0 or shunt_ohms <= 0:
            raise ValueError("current LSB and shunt resistance must be positive")
        cal = math.trunc(self.cal_constant / (current_lsb_a * shunt_ohms) + 1e-9)
        if not 0 < cal <= self.cal_mask:
            raise ValueError(
                f"{self.name}: calibration {cal} does not fit the register "
                f"(I_LSB={current_lsb_a} A, R_shunt={shunt_ohms} Ω): "
                "check shunt_ohms and max_current_a"
            )
        return cal & self.cal_mask

    def bus_voltage(self, raw: int) -> float:
        return (raw >> self.bus_shift) * self.bus_lsb_v

    def shunt_voltage(self, raw: int) -> float:
        return to_signed16(raw) * self.shunt_lsb_v

    def current(self, raw: int, current_lsb_a: float) -> float:
        return to_signed16(raw) * current_lsb_a

    def power(self, raw: int, current_lsb_a: float) -> float:
        return (raw & 0xFFFF) * self.power_lsb_factor * current_lsb_a

    def expected_current_register(self, shunt_raw: int, calibration: int) -> int:
        """What the chip computes into the current register (for checks and chip models)."""
        return int(to_signed16(shunt_raw) * calibration / self.current_divisor)


INA219 = InaChip(
    name="ina219", shunt_lsb_v=10e-6, bus_lsb_v=0.004, bus_shift=3, cal_constant=0.04096,
    current_divisor=4096, power_lsb_factor=20, cal_mask=0xFFFE, shunt_full_scale_v=0.32,
)
INA226 = InaChip(
    name="ina226", shunt_lsb_v=2.5e-6, bus_lsb_v=0.00125, bus_shift=0, cal_constant=0.00512,
    current_divisor=2048, power_lsb_factor=25, cal_mask=0x7FFF, shunt_full_scale_v=0.08192,
)
CHIPS = {c.name: c for c in (INA219, INA226)}


def swap16(word: int) -> int:
    """Swap the two bytes of a 16-bit word (SMBus little-endian <-> chip big-endian)."""
    return ((word & 0xFF) << 8) | ((word >> 8) & 0xFF)


def to_signed16(value: int) -> int:
    value &= 0xFFFF
    return value - 0x10000 if value & 0x8000 else value


def round_current_lsb(max_current_a: float) -> float:
    """The smallest 1/2/5·10^n current LSB that covers ``max_current_a`` in 15 bits."""
    if max_current_a <= 0:
        raise ValueError("max current must be positive")
    minimum = max_current_a / 32768
    exp = math.floor(math.log10(minimum))
    for mantissa in (1, 2, 5, 10):
        lsb = mantissa * 10.0**exp
        if lsb >= minimum * (1 - 1e-9):
            return float(f"{lsb:.12g}")
    raise AssertionError("unreachable")


def ina219_bus_flags(raw: int) -> tuple[bool, bool]:
    """INA219 bus register flags: (conversion ready CNVR, math overflow OVF)."""
    return bool(raw & 0x2), bool(raw & 0x1)


# ---- configuration register ------------------------------------------------------------
INA219_PGA = {0.04: 0b00, 0.08: 0b01, 0.16: 0b10, 0.32: 0b11}  # shunt full scale (V) -> PG
INA219_ADC_12BIT_32_SAMPLES = 0b1101  # 17.02 ms per conversion
INA226_AVG = {1: 0b000, 4: 0b001, 16: 0b010, 64: 0b011, 128: 0b100, 256: 0b101, 512: 0b110,
              1024: 0b111}
INA226_CT_1100US = 0b100
MODE_SHUNT_BUS_CONTINUOUS = 0b111


def ina219_config(
    bus_range_32v: bool = True,
    shunt_full_scale_v: float = 0.32,
    bus_adc: int = INA219_ADC_12BIT_32_SAMPLES,
    shunt_adc: int = INA219_ADC_12BIT_32_SAMPLES,
    mode: int = MODE_SHUNT_BUS_CONTINUOUS,
) -> int:
    """INA219 configuration word: BRNG bit 13, PG bits 12..11, BADC 10..7, SADC 6..3, MODE 2..0.

    The defaults are what the Waveshare UPS HAT example writes: 32 V, ±320 mV, 12-bit x32
    averaging, continuous shunt and bus (0x3EEF).
    """
    pga = INA219_PGA[shunt_full_scale_v]
    return ((int(bus_range_32v) << 13) | (pga << 11) | ((bus_adc & 0xF) << 7)
            | ((shunt_adc & 0xF) << 3) | (mode & 0x7))


def ina226_config(
    averages: int = 16,
    bus_ct: int = INA226_CT_1100US,
    shunt_ct: int = INA226_CT_1100US,
    mode: int = MODE_SHUNT_BUS_CONTINUOUS,
) -> int:
    """INA226 configuration word: bit 14 reads 1, AVG 11..9, VBUSCT 8..6, VSHCT 5..3, MODE 2..0
    (power-on default 0x4127; these defaults give 0x4527)."""
    return (0x4000 | (INA226_AVG[averages] << 9) | ((bus_ct & 0x7) << 6) | ((shunt_ct & 0x7) << 3)
            | (mode & 0x7))
