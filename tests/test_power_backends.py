"""Power backends over captured sysfs trees, INA219/INA226 register values, a NUT protocol peer
and the simulated battery; plus one contract suite every backend runs."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from power_peers import InaChipModel, NutServer, upsc

from spark.app.config import SparkConfig  # noqa: F401  (loads the config package before nodes.*)
from spark.nodes.power.backends import (
    BACKENDS,
    GridControl,
    PowerBackend,
    PowerReading,
    make_backend,
)
from spark.nodes.power.backends import ina_regs as regs
from spark.nodes.power.backends.ina import Ina219BackendConfig, Ina226BackendConfig, InaBackend
from spark.nodes.power.backends.nut import (
    NutBackend,
    NutBackendConfig,
    NutClient,
    NutError,
    reading_from_vars,
    split_line,
)
from spark.nodes.power.backends.simulated import SimulatedBackend, SimulatedBackendConfig
from spark.nodes.power.backends.sysfs import SysfsBackend, SysfsBackendConfig
from spark.nodes.power.curve import CURVES, check_curve, percent_from_voltage, voltage_from_percent
from spark.nodes.power.errors import BackendReadError, BackendUnavailable

FIXTURES = Path(__file__).parent / "fixtures" / "power"
SYSFS = FIXTURES / "sysfs"


def approx(value: float, rel: float = 1e-3) -> object:
    return pytest.approx(value, rel=rel, abs=1e-6)


# ---- sysfs ---------------------------------------------------------------------------------
async def _sysfs(root: Path, **kw: object) -> PowerReading:
    backend = SysfsBackend(SysfsBackendConfig(root=root, **kw))
    await backend.open()
    try:
        return await backend.read()
    finally:
        await backend.close()


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(SYSFS / name, tmp_path / name))


def _set(root: Path, supply: str, **attrs: str) -> None:
    for key, value in attrs.items():
        (root / supply / key).write_text(value + "\n")


async def test_sysfs_laptop_on_battery() -> None:
    r = await _sysfs(SYSFS / "laptop")
    assert r.details["supply"] == "BAT0"  # not the mouse (scope Device)
    assert r.battery_percent == 64
    assert r.voltage_v == approx(11.862)
    assert r.power_w == approx(8.734)
    assert r.current_a == approx(-8.734 / 11.862)  # ACPI reports no current: P / V, discharging
    assert (r.charging, r.source, r.low_battery) == (False, "battery", False)
    assert r.time_to_empty_s == approx(32.81 / 8.734 * 3600)  # energy_now / power_now


async def test_sysfs_laptop_plugged_in_charging(tmp_path: Path) -> None:
    root = _copy("laptop", tmp_path)
    _set(root, "AC", online="1")
    _set(root, "BAT0", status="Charging", power_now="23120000")
    r = await _sysfs(root)
    assert (r.charging, r.source, r.time_to_empty_s) == (True, "grid", None)
    assert r.current_a == approx(23.12 / 11.862)


async def test_sysfs_laptop_without_capacity_uses_energy(tmp_path: Path) -> None:
    root = _copy("laptop", tmp_path)
    (root / "BAT0" / "capacity").unlink()
    r = await _sysfs(root)
    assert r.battery_percent == approx(100 * 32.81 / 51.27)


async def test_sysfs_ups_hat_charging() -> None:
    r = await _sysfs(SYSFS / "ups_hat")
    assert r.details["supply"] == "bq27441-0"
    assert r.details["temperature_c"] == approx(31.2)
    assert (r.battery_percent, r.charging, r.source) == (66, True, "grid")
    assert r.voltage_v == approx(4.012)
    assert r.current_a == approx(0.512)
    assert r.power_w == approx(4.012 * 0.512)


async def test_sysfs_ups_hat_grid_lost(tmp_path: Path) -> None:
    root = _copy("ups_hat", tmp_path)
    _set(root, "gpio-charger", online="0")
    _set(root, "bq27441-0", status="Discharging", current_now="-780000", capacity_level="Critical")
    r = await _sysfs(root)
    assert (r.source, r.charging, r.low_battery) == ("battery", False, True)
    assert r.current_a == approx(-0.78)
    assert r.time_to_empty_s == approx(2.21 / 0.78 * 3600)  # charge_now / |current_now|


async def test_sysfs_without_mains_infers_source_from_status(tmp_path: Path) -> None:
    root = _copy("ups_hat", tmp_path)
    shutil.rmtree(root / "gpio-charger")
    assert (await _sysfs(root)).source == "grid"
    _set(root, "bq27441-0", status="Discharging", current_now="-300000")
    assert (await _sysfs(root)).source == "battery"


async def test_sysfs_missing_root_or_battery_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="does not exist"):
        await _sysfs(tmp_path / "nope")
    with pytest.raises(BackendUnavailable, match="no supply named 'BAT9'"):
        await _sysfs(SYSFS / "laptop", battery="BAT9")
    root = _copy("laptop", tmp_path)
    shutil.rmtree(root / "BAT0")
    with pytest.raises(BackendUnavailable, match="no system battery"):
        await _sysfs(root)


# ---- INA219 / INA226 register maths ---------------------------------------------------------
def test_swap_and_sign() -> None:
    assert regs.swap16(0x1234) == 0x3412
    assert regs.swap16(regs.swap16(0xBEEF)) == 0xBEEF
    assert regs.to_signed16(0xFFFF) == -1
    assert regs.to_signed16(0x8000) == -32768
    assert regs.to_signed16(0x7FFF) == 32767


def test_calibration_as_in_the_datasheets() -> None:
    # INA219 (SBOS448 8.5.1): I_LSB 100 µA, R 0.1 Ω -> 4096 (also the Waveshare UPS HAT's value)
    assert regs.INA219.calibration(0.0001, 0.1) == 4096
    # INA226 (SBOS547 7.5): I_LSB 1 mA, R 2 mΩ -> 2560
    assert regs.INA226.calibration(0.001, 0.002) == 2560
    # INA219's bit 0 does not exist: an odd result is truncated to even
    assert regs.INA219.calibration(0.0001, 0.03) == 13652  # trunc(13653.3) & 0xFFFE
    assert regs.round_current_lsb(3.2) == 0.0001  # 3.2 A / 2^15 = 97.7 µA -> 100 µA
    assert regs.round_current_lsb(15.0) == 0.0005
    assert regs.round_current_lsb(0.8192) == 0.00005
    with pytest.raises(ValueError, match="does not fit"):
        regs.INA219.calibration(1e-7, 0.1)
    with pytest.raises(ValueError, match="check shunt_ohms and max_current_a"):
        Ina219BackendConfig(shunt_ohms=0.0001, max_current_a=0.01)


def test_config_words() -> None:
    assert regs.ina219_config() == 0x3EEF  # what the Waveshare example writes
    assert regs.ina219_config(True, 0.32, 0b0011, 0b0011) == 0x399F  # datasheet power-on value
    assert regs.ina226_config(1) == 0x4127  # datasheet power-on value
    assert regs.ina226_config() == 0x4527


def test_register_values() -> None:
    assert regs.INA219.bus_voltage(0x3BB2) == approx(7.64)  # 1910 << 3 | CNVR
    assert regs.ina219_bus_flags(0x3BB2) == (True, False)
    assert regs.ina219_bus_flags(0x3BB3) == (True, True)
    assert regs.INA219.shunt_voltage(0xE42D) == approx(-0.07123)
    assert regs.INA226.bus_voltage(0x2580) == approx(12.0)
    assert regs.INA226.shunt_voltage(0xFFFF) == approx(-2.5e-6)
    assert regs.INA219.current(0xE42D, 0.0001) == approx(-0.7123)
    assert regs.INA219.power(2720, 0.0001) == approx(5.44)
    assert regs.INA226.power(1230, 0.0005) == approx(15.375)
    assert regs.INA219.expected_current_register(0xE42D, 4096) == -7123
    assert regs.INA226.expected_current_register(5000, 1024) == 2500


@pytest.mark.parametrize("name", ["waveshare_ups_hat_ina219_on_battery", "ina226_3s_charging"])
def test_ina_captured_registers(name: str) -> None:
    data = json.loads((FIXTURES / "ina" / f"{name}.json").read_text())
    words = {int(k, 16): regs.swap16(int(v, 16)) for k, v in data["smbus_words"].items()}
    chip, exp = regs.CHIPS[data["chip"]], data["expected"]
    lsb = data["current_lsb_a"]
    assert chip.calibration(lsb, data["shunt_ohms"]) == words[regs.REG_CALIBRATION]
    assert chip.bus_voltage(words[regs.REG_BUS]) == approx(exp["bus_v"])
    assert chip.shunt_voltage(words[regs.REG_SHUNT]) * 1e3 == approx(exp["shunt_mv"])
    assert chip.current(words[regs.REG_CURRENT], lsb) == approx(exp["current_a"])
    assert chip.power(words[regs.REG_POWER], lsb) == approx(exp["power_w"], rel=1e-3)
    assert chip.expected_current_register(words[regs.REG_SHUNT], words[regs.REG_CALIBRATION]) \
        == regs.to_signed16(words[regs.REG_CURRENT])


async def test_ina219_waveshare_ups_hat_over_the_bus() -> None:
    cfg = Ina219BackendConfig(cells=2, capacity_wh=2 * 3.7 * 2.6)  # 2 x 2600 mAh 18650
    bus = InaChipModel(regs.INA219, 0x42)
    backend = InaBackend(cfg, bus=bus)
    await backend.open()
    assert (regs.REG_CALIBRATION, 4096) in bus.writes and (regs.REG_CONFIG, 0x3EEF) in bus.writes
    bus.set_physical(7.64, -0.7123, 0.1)
    r = await backend.read()
    assert r.voltage_v == approx(7.64) and r.current_a == approx(-0.7123)
    assert r.power_w == approx(7.64 * 0.7123, rel=2e-3)
    assert r.battery_percent == approx(percent_from_voltage(3.82, CURVES["li-ion"]), rel=1e-2)
    assert (r.source, r.charging) == ("battery", False)
    assert r.battery_percent is not None and r.power_w is not None
    assert r.time_to_empty_s == approx(19.24 * r.battery_percent / 100 / r.power_w * 3600, 1e-2)
    bus.set_physical(8.30, 1.2, 0.1)
    r = await backend.read()
    assert (r.source, r.charging, r.time_to_empty_s) == ("grid", True, None)
    # a chip reset wipes the calibration: the backend notices and rewrites it
    bus.regs[regs.REG_CALIBRATION] = 0
    r = await backend.read()
    assert bus.regs[regs.REG_CALIBRATION] == 4096 and r.current_a == approx(1.2)
    await backend.close()
    assert bus.closed


async def test_ina226_checks_the_manufacturer_id() -> None:
    cfg = Ina226BackendConfig(shunt_ohms=0.01, max_current_a=8.0, cells=3)
    bus = InaChipModel(regs.INA226, 0x40)
    backend = InaBackend(cfg, bus=bus)
    await backend.open()
    assert backend.calibration == 1024 and backend.current_lsb == 0.0005
    bus.set_physical(12.3, 1.25, 0.01)
    r = await backend.read()
    assert r.voltage_v == approx(12.3) and r.current_a == approx(1.25)
    assert r.power_w == approx(15.375) and r.charging
    bus.regs[regs.REG_MANUFACTURER_ID] = 0x0000
    with pytest.raises(BackendUnavailable, match="no INA226 at 0x40"):
        await InaBackend(cfg, bus=bus).open()
    with pytest.raises(BackendUnavailable, match="no answer from ina226 at 0x41"):
        await InaBackend(cfg.model_copy(update={"address": 0x41}), bus=bus).open()


async def test_ina_without_smbus2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", None)  # import smbus2 -> ImportError
    with pytest.raises(BackendUnavailable, match="pip install smbus2"):
        await InaBackend(Ina219BackendConfig()).open()


def test_curves() -> None:
    li = CURVES["li-ion"]
    assert percent_from_voltage(4.3, li) == 100 and percent_from_voltage(2.5, li) == 0
    assert percent_from_voltage(3.80, li) == approx(50)
    for pct in (0, 7, 33, 50, 81, 100):
        assert percent_from_voltage(voltage_from_percent(pct, li), li) == approx(pct)
    with pytest.raises(ValueError, match="increase"):
        check_curve([(3.0, 0), (3.0, 50), (4.2, 100)])
    with pytest.raises(ValueError, match="0 % to 100 %"):
        check_curve([(3.0, 5), (4.2, 100)])


# ---- NUT -------------------------------------------------------------------------------------
def test_nut_upsc_parsing() -> None:
    v = upsc("apc_backups_ol")
    assert "Init SSL without certificate database" not in str(v)
    assert v["driver.version.usb"] == "libusb-1.0.26 (API: 0x1000109)"
    r = reading_from_vars(v)
    assert (r.battery_percent, r.voltage_v, r.source, r.charging) == (100, 13.5, "grid", False)
    assert r.power_w == approx(0.12 * 405)  # no ups.realpower: load % x realpower.nominal
    assert r.time_to_empty_s == 1740 and not r.low_battery
    assert r.details["input_voltage_v"] == 232.0 and r.details["model"] == "Back-UPS ES 700G"
    r = reading_from_vars(upsc("apc_backups_ob_lb"))
    assert (r.source, r.charging, r.low_battery, r.battery_percent) == ("battery", False, True, 9)
    r = reading_from_vars(upsc("eaton_ellipse_ol_chrg"))
    assert (r.source, r.charging, r.power_w, r.voltage_v) == ("grid", True, 41, None)


def test_nut_line_splitting() -> None:
    assert split_line('VAR ups ups.status "OL CHRG"') == ["VAR", "ups", "ups.status", "OL CHRG"]
    assert split_line(r'VAR u d.m "A \"quoted\" \\ name"') == ["VAR", "u", "d.m",
                                                               'A "quoted" \\ name']
    assert split_line('VAR u x ""') == ["VAR", "u", "x", ""]
    with pytest.raises(NutError, match="unterminated"):
        split_line('VAR u x "open')


@pytest.fixture
async def nut_server() -> AsyncIterator[NutServer]:
    variables = upsc("apc_backups_ob_lb") | {"device.model": 'Back-UPS "ES" 700G \\ test'}
    async with NutServer("backups", variables, login=("monuser", "s3cret")) as server:
        yield server


async def test_nut_protocol_over_tcp(nut_server: NutServer) -> None:
    cfg = NutBackendConfig(port=nut_server.port, ups="backups", username="monuser",
                           password="s3cret")
    backend = NutBackend(cfg)
    await backend.open()
    r = await backend.read()
    assert (r.source, r.low_battery, r.battery_percent, r.time_to_empty_s) == \
        ("battery", True, 9, 95)
    assert nut_server.commands[:3] == ["USERNAME monuser", "PASSWORD s3cret", "LIST VAR backups"]
    async with NutClient("127.0.0.1", nut_server.port) as client:
        await client.login("monuser", "s3cret")
        assert await client.get_var("backups", "device.model") == 'Back-UPS "ES" 700G \\ test'
        with pytest.raises(NutError) as err:
            await client.get_var("backups", "ups.realpower")
        assert err.value.code == "VAR-NOT-SUPPORTED"
    # upsd dropped the connection: the next read reconnects once and succeeds
    nut_server.drop_on = "LIST VAR backups"
    assert (await backend.read()).battery_percent == 9
    assert nut_server.connections == 3
    await backend.close()
    await backend.close()  # idempotent


async def test_nut_errors(nut_server: NutServer) -> None:
    backend = NutBackend(NutBackendConfig(port=nut_server.port, ups="backups"))
    with pytest.raises(NutError, match="ACCESS-DENIED"):
        await backend.read()
    await backend.close()
    backend = NutBackend(NutBackendConfig(port=nut_server.port, ups="other", username="monuser",
                                          password="s3cret"))
    with pytest.raises(NutError) as err:
        await backend.read()
    assert err.value.code == "UNKNOWN-UPS"
    await backend.close()
    port = nut_server.port
    await nut_server.__aexit__()
    with pytest.raises(BackendReadError, match="cannot reach upsd"):
        await NutBackend(NutBackendConfig(port=port, ups="backups", timeout=2)).read()


# ---- simulated -------------------------------------------------------------------------------
class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_simulated_battery_and_grid() -> None:
    clock = ManualClock()
    cfg = SimulatedBackendConfig(capacity_wh=10, initial_percent=50, load_w=6, load_noise_w=0,
                                 charge_w=12, seed=1)
    sim = SimulatedBackend(cfg, clock=clock)
    r0 = await sim.read()
    assert (r0.source, r0.charging, r0.time_to_empty_s) == ("grid", True, None)
    clock.t += 600  # 10 min at 12 W into 10 Wh: +20 %
    r1 = await sim.read()
    assert r1.voltage_v is not None and r0.voltage_v is not None
    assert r1.battery_percent == approx(70) and r1.voltage_v > r0.voltage_v
    assert r1.current_a == approx(12 / (3 * voltage_from_percent(70, CURVES["li-ion"])))
    await sim.cut_grid()
    assert not sim.grid_on
    clock.t += 1200  # 20 min at 6 W: -2 Wh = -20 %
    r2 = await sim.read()
    assert (r2.source, r2.charging) == ("battery", False)
    assert r2.current_a is not None and r2.current_a < 0
    assert r2.battery_percent == approx(50) and r2.power_w == approx(6)
    assert r2.time_to_empty_s == approx(5 / 6 * 3600)
    clock.t += 10 * 3600
    assert (await sim.read()).battery_percent == 0  # empty, never negative
    await sim.set_grid(True)
    clock.t += 3600
    full = await sim.read()
    assert full.battery_percent is not None and full.battery_percent > 99  # tapers near full
    clock.t += 3600
    assert (await sim.read()).battery_percent == 100


# ---- contract suite: every backend ---------------------------------------------------------
@pytest.fixture(params=["sysfs-laptop", "sysfs-ups-hat", "ina219", "ina226", "nut", "simulated"])
async def any_backend(request: pytest.FixtureRequest,
                      nut_server: NutServer) -> AsyncIterator[PowerBackend]:
    kind = request.param
    backend: PowerBackend
    if kind.startswith("sysfs"):
        root = SYSFS / ("laptop" if kind == "sysfs-laptop" else "ups_hat")
        backend = make_backend(SysfsBackendConfig(root=root))
    elif kind == "ina219":
        bus = InaChipModel(regs.INA219, 0x42)
        bus.set_physical(7.9, -0.4, 0.1)
        backend = InaBackend(Ina219BackendConfig(), bus=bus)
    elif kind == "ina226":
        bus = InaChipModel(regs.INA226, 0x40)
        bus.set_physical(12.1, 0.3, 0.1)
        backend = InaBackend(Ina226BackendConfig(cells=3), bus=bus)
    elif kind == "nut":
        backend = make_backend(NutBackendConfig(port=nut_server.port, ups="backups",
                                                username="monuser", password="s3cret"))
    else:
        backend = make_backend(SimulatedBackendConfig(seed=3))
    yield backend
    await backend.close()


async def test_backend_contract(any_backend: PowerBackend) -> None:
    assert any_backend.name and type(any_backend) in BACKENDS.values()
    await any_backend.open()
    for _ in range(2):
        r = await any_backend.read()
        assert isinstance(r, PowerReading)
        assert r.battery_percent is not None and 0 <= r.battery_percent <= 100
        assert r.source in ("grid", "battery")
        assert r.charging in (True, False)
        assert r.power_w is None or r.power_w >= 0
        assert r.time_to_empty_s is None or r.time_to_empty_s >= 0
        if r.charging:
            assert r.source == "grid" and (r.current_a is None or r.current_a > 0)
            assert r.on_grid
        if r.current_a is not None and r.current_a < -0.1:
            assert not r.charging
    await any_backend.close()
    await any_backend.close()
    assert isinstance(any_backend, GridControl) == (any_backend.type == "simulated")
