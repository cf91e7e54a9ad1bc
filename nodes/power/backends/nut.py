"""Network UPS Tools: a client for ``upsd``'s TCP protocol (port 3493) and ``upsc`` output.

Protocol (NUT "network protocol" document): one command per line, e.g. ``LIST VAR <ups>`` answered
by ``BEGIN LIST VAR <ups>``, ``VAR <ups> <name> "<value>"`` lines and ``END LIST VAR <ups>``;
``GET VAR <ups> <name>`` answered by one ``VAR`` line; errors are ``ERR <CODE>``. Quoted values
escape ``"`` and ``\\`` with a backslash. ``USERNAME``/``PASSWORD`` answer ``OK`` and are only
needed when upsd's ACLs ask for them.

Variables used: ``battery.charge`` (%), ``battery.voltage`` (V), ``battery.current`` (A, rare),
``battery.runtime`` (s), ``ups.status`` flags (``OL`` on line, ``OB`` on battery, ``CHRG``,
``DISCHRG``, ``LB`` low battery), ``input.voltage`` (V), ``ups.load`` (%), ``ups.realpower`` (W;
else load % x ``ups.realpower.nominal``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from pydantic import Field, SecretStr

from spark.nodes.power.backends.base import BackendConfig, Clock, PowerBackend, PowerReading
from spark.nodes.power.errors import BackendReadError, PowerError

DEFAULT_PORT = 3493


class NutBackendConfig(BackendConfig):
    type: Literal["nut"] = "nut"
    host: str = Field("127.0.0.1", description="Host running upsd.")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="upsd port.")
    ups: str = Field("ups", description="UPS name as configured in ups.conf.")
    username: str | None = Field(None, description="upsd user, when its ACLs need one.")
    password: SecretStr | None = Field(None, description="upsd password.")
    timeout: float = Field(5.0, gt=0, description="Seconds to wait for upsd.")


class NutError(BackendReadError):
    """upsd answered ``ERR <code>`` or broke the protocol."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def split_line(line: str) -> list[str]:
    """Split a protocol line into words; a double-quoted word may hold spaces and escapes."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(line[i])
                i += 1
            if i >= n:
                raise NutError(f"unterminated quote in {line!r}")
            words.append("".join(buf))
            i += 1
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            words.append(line[i:j])
            i = j
    return words


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_upsc(text: str) -> dict[str, str]:
    """``upsc <ups>`` output (``name: value`` lines) to a dict; other lines are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name and " " not in name:
            out[name] = value.strip()
    return out


def _float(variables: dict[str, str], key: str) -> float | None:
    try:
        return float(variables[key])
    except (KeyError, ValueError):
        return None


def reading_from_vars(variables: dict[str, str]) -> PowerReading:
    """Map NUT variables to a reading (pure; used for the TCP client and for upsc output)."""
    flags = set(variables.get("ups.status", "").split())
    if "OB" in flags:
        source: Literal["grid", "battery"] | None = "battery"
    elif "OL" in flags:
        source = "grid"
    else:
        source = None
    power = _float(variables, "ups.realpower")
    load = _float(variables, "ups.load")
    nominal = _float(variables, "ups.realpower.nominal")
    if power is None and load is not None and nominal is not None:
        power = load / 100.0 * nominal
    details: dict[str, Any] = {"status": variables.get("ups.status", "")}
    for key, name in (("input.voltage", "input_voltage_v"), ("ups.load", "load_percent"),
                      ("ups.model", "model"), ("device.mfr", "manufacturer"),
                      ("battery.charge.low", "charge_low_percent")):
        if key in variables:
            details[name] = _float(variables, key) if name.endswith(("_v", "_percent")) \
                else variables[key]
    if "RB" in flags:
        details["replace_battery"] = True
    return PowerReading(
        battery_percent=_float(variables, "battery.charge"),
        voltage_v=_float(variables, "battery.voltage"),
        current_a=_float(variables, "battery.current"),
        power_w=power,
        charging="CHRG" in flags,
        source=source,
        time_to_empty_s=_float(variables, "battery.runtime"),
        low_battery="LB" in flags,
        details=details,
    )


class NutClient:
    """One upsd connection; an async context manager, not re-entrant."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = 5.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> NutClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        if self._writer is not None:
            raise PowerError("NutClient is already connected")
        try:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise BackendReadError(f"cannot reach upsd at {self.host}:{self.port}: {exc}") from exc

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        with contextlib.suppress(Exception):
            writer.write(b"LOGOUT\n")
            async with asyncio.timeout(1.0):
                await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()

    async def _line(self) -> str:
        assert self._reader is not None
        raw = await self._reader.readline()
        if not raw.endswith(b"\n"):
            raise BackendReadError(f"upsd at {self.host}:{self.port} closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("ERR"):
            code = line[3:].strip().split(" ")[0] or "UNKNOWN"
            raise NutError(f"upsd: ERR {line[3:].strip()}", code)
        return line

    async def command(self, line: str) -> str:
        """Send one command and return its first answer line."""
        if self._writer is None:
            raise PowerError("NutClient is not connected")
        try:
            async with asyncio.timeout(self.timeout):
                self._writer.write(line.encode() + b"\n")
                await self._writer.drain()
                return await self._line()
        except (OSError, TimeoutError) as exc:
            raise BackendReadError(f"upsd {self.host}:{self.port}: {exc!r}") from exc

    async def login(self, username: str, password: str) -> None:
        await self.command(f"USERNAME {username}")
        await self.command(f"PASSWORD {password}")

    async def list_vars(self, ups: str) -> dict[str, str]:
        first = await self.command(f"LIST VAR {ups}")
        if split_line(first) != ["BEGIN", "LIST", "VAR", ups]:
            raise NutError(f"unexpected answer to LIST VAR: {first!r}")
        out: dict[str, str] = {}
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    words = split_line(await self._line())
                    if words[:3] == ["END", "LIST", "VAR"]:
                        return out
                    if len(words) != 4 or words[0] != "VAR" or words[1] != ups:
                        raise NutError(f"unexpected line in LIST VAR: {words!r}")
                    out[words[2]] = words[3]
        except (OSError, TimeoutError) as exc:
            raise BackendReadError(f"upsd {self.host}:{self.port}: {exc!r}") from exc

    async def get_var(self, ups: str, name: str) -> str:
        words = split_line(await self.command(f"GET VAR {ups} {name}"))
        if len(words) != 4 or words[:3] != ["VAR", ups, name]:
            raise NutError(f"unexpected answer to GET VAR: {words!r}")
        return words[3]


class NutBackend(PowerBackend):
    """Reads every variable with one ``LIST VAR`` per poll over a kept-open connection; a broken
    connection is rebuilt once per read."""

    type = "nut"
    config: NutBackendConfig

    def __init__(self, config: NutBackendConfig, *, clock: Clock | None = None) -> None:
        super().__init__(config, clock=clock)
        self._client: NutClient | None = None

    @property
    def name(self) -> str:
        return f"nut {self.config.ups}@{self.config.host}:{self.config.port}"

    async def _make_client(self) -> NutClient:
        cfg = self.config
        client = NutClient(cfg.host, cfg.port, cfg.timeout)
        await client.connect()
        try:
            if cfg.username and cfg.password is not None:
                await client.login(cfg.username, cfg.password.get_secret_value())
        except BaseException:
            await client.close()
            raise
        return client

    async def open(self) -> None:
        if self._client is None:
            self._client = await self._make_client()

    async def read(self) -> PowerReading:
        for attempt in (1, 2):
            try:
                if self._client is None:
                    self._client = await self._make_client()
                return reading_from_vars(await self._client.list_vars(self.config.ups))
            except NutError as exc:
                if exc.code is None:  # protocol out of step: start the next read afresh
                    await self.close()
                raise  # upsd answered ERR: reconnecting now would not help
            except BackendReadError:
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
