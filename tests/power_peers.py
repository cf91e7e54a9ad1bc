"""Test peers that behave like the hardware and services the power backends talk to: an
INA219/INA226 register file on an I2C bus, and a small NUT server (upsd)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from spark.nodes.power.backends import ina_regs as regs
from spark.nodes.power.backends.ina import I2CBus
from spark.nodes.power.backends.nut import parse_upsc

FIXTURES = Path(__file__).parent / "fixtures" / "power"


def upsc(name: str) -> dict[str, str]:
    return parse_upsc((FIXTURES / "nut" / f"{name}.txt").read_text())


class InaChipModel(I2CBus):
    """An INA219/INA226 register file behaving as the datasheet says (current and power are
    computed from shunt, bus and calibration; zero until calibrated), over SMBus byte order."""

    def __init__(self, chip: regs.InaChip, address: int) -> None:
        self.chip, self.address = chip, address
        self.regs: dict[int, int] = {regs.REG_CONFIG: 0x399F if chip is regs.INA219 else 0x4127,
                                     regs.REG_CALIBRATION: 0, regs.REG_SHUNT: 0, regs.REG_BUS: 0}
        if chip is regs.INA226:
            self.regs |= {regs.REG_MANUFACTURER_ID: 0x5449, regs.REG_DIE_ID: 0x2260}
        self.writes: list[tuple[int, int]] = []
        self.closed = False

    def set_physical(self, bus_v: float, current_a: float, shunt_ohms: float) -> None:
        shunt = round(current_a * shunt_ohms / self.chip.shunt_lsb_v)
        self.regs[regs.REG_SHUNT] = shunt & 0xFFFF
        bus = round(bus_v / self.chip.bus_lsb_v) << self.chip.bus_shift
        self.regs[regs.REG_BUS] = bus | (0x2 if self.chip is regs.INA219 else 0)

    def _value(self, register: int) -> int:
        cal = self.regs[regs.REG_CALIBRATION]
        current = self.chip.expected_current_register(self.regs[regs.REG_SHUNT], cal)
        if register == regs.REG_CURRENT:
            return current & 0xFFFF
        if register == regs.REG_POWER:
            bus = self.regs[regs.REG_BUS] >> self.chip.bus_shift
            divisor = 5000 if self.chip is regs.INA219 else 20000
            return abs(current) * bus // divisor
        return self.regs[register]

    def read_word(self, address: int, register: int) -> int:
        if address != self.address or register not in (*self.regs, 3, 4):
            raise OSError(121, "Remote I/O error")
        return regs.swap16(self._value(register))

    def write_word(self, address: int, register: int, word: int) -> None:
        if address != self.address:
            raise OSError(121, "Remote I/O error")
        value = regs.swap16(word)
        self.writes.append((register, value))
        self.regs[register] = value & self.chip.cal_mask if register == 5 else value

    def close(self) -> None:
        self.closed = True


class NutServer:
    """A small upsd: speaks the NUT network protocol over TCP for one UPS."""

    def __init__(self, ups: str, variables: dict[str, str], login: tuple[str, str] | None = None):
        self.ups, self.variables, self.login = ups, variables, login
        self.connections = 0
        self.drop_on: str | None = None  # close the connection when this command arrives
        self.commands: list[str] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> NutServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self._writers):
            w.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self.server.wait_closed()

    @staticmethod
    def _q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        user = password = None
        try:
            while line := (await reader.readline()).decode().strip():
                self.commands.append(line)
                if line == self.drop_on:
                    self.drop_on = None
                    break
                words = line.split(" ")
                out: list[str]
                if words[0] == "USERNAME":
                    user, out = words[1], ["OK"]
                elif words[0] == "PASSWORD":
                    password, out = words[1], ["OK"]
                elif words[0] == "LOGOUT":
                    writer.write(b"OK Goodbye\n")
                    break
                elif words[:2] in (["LIST", "VAR"], ["GET", "VAR"]):
                    if words[2] != self.ups:
                        out = ["ERR UNKNOWN-UPS"]
                    elif self.login is not None and (user, password) != self.login:
                        out = ["ERR ACCESS-DENIED"]
                    elif words[0] == "GET":
                        value = self.variables.get(words[3])
                        out = ([f"VAR {self.ups} {words[3]} {self._q(value)}"] if value is not None
                               else ["ERR VAR-NOT-SUPPORTED"])
                    else:
                        out = [f"BEGIN LIST VAR {self.ups}",
                               *(f"VAR {self.ups} {k} {self._q(v)}"
                                 for k, v in self.variables.items()),
                               f"END LIST VAR {self.ups}"]
                else:
                    out = ["ERR UNKNOWN-COMMAND"]
                writer.write("".join(x + "\n" for x in out).encode())
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
