"""Parsers of the real tools' output, over captured samples in tests/fixtures/system and nas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spark.nodes.system.parsers import (
    ParseError,
    find_mount,
    parse_hailo_identify,
    parse_millidegrees,
    parse_proc_mounts,
    parse_throttled,
    parse_wg_dump,
    pick_cpu_zone,
    slug,
    thermal_zones,
)

FIX = Path(__file__).parent / "fixtures"
SYS = FIX / "system"

CLOUD = "lMx0EdcX8UV5sqoQD7uzT6WT/q7Scki3YuOrWAXwdlo="
PHONE = "K5wdfg83xEkhvT9lZOrffxQqcmaMR+Ij0W7djEe0avw="
NAS = "W67iYfU7JhUtJjuoOwN81JYuQ0gBJWuIXpyQUfMgsNs="


# ---- vcgencmd get_throttled --------------------------------------------------------------
def test_throttled_clear() -> None:
    flags = parse_throttled((SYS / "vcgencmd_throttled_ok.txt").read_text())
    assert flags.raw == 0
    assert not any(flags.flags().values())
    assert not flags.occurred


def test_throttled_under_voltage_now_and_since_boot() -> None:
    flags = parse_throttled((SYS / "vcgencmd_throttled_undervoltage.txt").read_text())
    assert flags.raw == 0x50005
    assert flags.flag("under_voltage") and flags.flag("throttled")
    assert not flags.flag("freq_capped") and not flags.flag("soft_temp_limit")
    assert flags.flag("under_voltage_occurred") and flags.flag("throttled_occurred")
    assert not flags.flag("freq_capped_occurred")
    assert flags.occurred


def test_throttled_only_past_events() -> None:
    flags = parse_throttled((SYS / "vcgencmd_throttled_past.txt").read_text())
    assert not any(flags.flag(f) for f in ("under_voltage", "freq_capped", "throttled"))
    assert flags.flag("freq_capped_occurred") and flags.flag("throttled_occurred")
    assert flags.flag("soft_temp_limit_occurred") and flags.occurred


@pytest.mark.parametrize("text", ["", "error=1 error_msg=\"Command not registered\"", "0x5"])
def test_throttled_rejects_other_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse_throttled(text)


# ---- wg show all dump --------------------------------------------------------------------
def test_wg_dump_peers() -> None:
    peers = parse_wg_dump((SYS / "wg_show_all_dump.txt").read_text())
    assert [(p.interface, p.public_key) for p in peers] == [
        ("wg0", CLOUD), ("wg0", PHONE), ("wg1", NAS)]
    cloud, phone, nas = peers
    assert cloud.preshared_key and not phone.preshared_key
    assert cloud.endpoint == "203.0.113.10:51820" and nas.endpoint is None
    assert cloud.allowed_ips == ("10.8.0.1/32", "10.8.1.0/24")
    assert (cloud.latest_handshake, cloud.rx_bytes, cloud.tx_bytes) == (1718000000, 58327452,
                                                                        9120384)
    assert cloud.keepalive == 25 and phone.keepalive is None


def test_wg_connected_follows_handshake_age() -> None:
    cloud, phone, nas = parse_wg_dump((SYS / "wg_show_all_dump.txt").read_text())
    now = 1718000100.0
    assert cloud.handshake_age(now) == 100 and cloud.connected(now, 180)
    assert phone.handshake_age(now) == 1100 and not phone.connected(now, 180)
    assert nas.handshake_age(now) is None and not nas.connected(now, 180)  # never


def test_wg_dump_empty_and_interface_only() -> None:
    assert parse_wg_dump("") == []
    assert parse_wg_dump("wg0\tpriv\tpub\t51820\toff\n") == []


@pytest.mark.parametrize("line", ["wg0\tkey\t(none)\n", "wg0\ta\tb\tc\td\tnotanumber\t0\t0\toff"])
def test_wg_dump_rejects_bad_lines(line: str) -> None:
    with pytest.raises(ParseError):
        parse_wg_dump(line)


# ---- thermal zones -----------------------------------------------------------------------
def test_thermal_pi5() -> None:
    zones = thermal_zones(SYS / "thermal_pi5")
    zone = pick_cpu_zone(zones)
    assert zone is not None and zone.type == "cpu-thermal"
    assert zone.read() == pytest.approx(48.312)


def test_thermal_x86_prefers_package_zone() -> None:
    zones = thermal_zones(SYS / "thermal_x86")
    assert [z.type for z in zones] == ["acpitz", "INT3400 Thermal", "x86_pkg_temp"]
    zone = pick_cpu_zone(zones)
    assert zone is not None and zone.type == "x86_pkg_temp" and zone.read() == 45.0
    chosen = pick_cpu_zone(zones, "thermal_zone0")
    assert chosen is not None and chosen.type == "acpitz"
    assert pick_cpu_zone(zones, "nope") is None


def test_thermal_missing_root(tmp_path: Path) -> None:
    assert thermal_zones(tmp_path / "absent") == []
    assert pick_cpu_zone([]) is None


def test_thermal_zone_numbers_sort_numerically(tmp_path: Path) -> None:
    for n in (10, 2):
        shutil.copytree(SYS / "thermal_pi5" / "thermal_zone0", tmp_path / f"thermal_zone{n}")
    assert [z.name for z in thermal_zones(tmp_path)] == ["thermal_zone2", "thermal_zone10"]


def test_millidegrees() -> None:
    assert parse_millidegrees("-5250\n") == -5.25
    with pytest.raises(ParseError):
        parse_millidegrees("N/A")


# ---- /proc/mounts ------------------------------------------------------------------------
def test_proc_mounts() -> None:
    entries = parse_proc_mounts((FIX / "nas" / "proc_mounts.txt").read_text())
    nas = find_mount(entries, "/srv/nas/")
    assert nas is not None and nas.device == "/dev/md0" and nas.fstype == "ext4"
    assert not nas.read_only
    scratch = find_mount(entries, "/srv/scratch")
    assert scratch is not None and scratch.read_only
    backup = find_mount(entries, "/media/backup disk")  # \040 unescaped
    assert backup is not None and backup.device == "/dev/sdc1"
    media = find_mount(entries, "/mnt/media")
    assert media is not None and media.fstype == "nfs4" and media.device == "nas.lan:/export/media"
    assert find_mount(entries, "/srv") is None


def test_proc_mounts_last_mount_wins() -> None:
    text = "/dev/md0 /srv/nas ext4 rw 0 0\ntmpfs /srv/nas tmpfs ro 0 0\n"
    entry = find_mount(parse_proc_mounts(text), "/srv/nas")
    assert entry is not None and entry.fstype == "tmpfs" and entry.read_only


def test_proc_mounts_bad_line() -> None:
    with pytest.raises(ParseError):
        parse_proc_mounts("garbage\n")


# ---- hailortcli fw-control identify ------------------------------------------------------
def test_hailo_identify() -> None:
    ident = parse_hailo_identify((SYS / "hailortcli_identify.txt").read_text())
    assert ident.architecture == "HAILO8"
    assert ident.firmware_version == "4.20.0 (release,app,extended context switch buffer)"
    assert ident.board_name == "Hailo-8" and ident.serial_number == "HLLWM2B234500123"
    assert ident.product_name is not None and ident.product_name.startswith("HAILO-8")


def test_hailo_version_mismatch_is_an_error() -> None:
    with pytest.raises(ParseError, match=r"4\.18\.0 does not match the CLI 4\.20\.0"):
        parse_hailo_identify((SYS / "hailortcli_version_mismatch.txt").read_text())


def test_hailo_no_device() -> None:
    with pytest.raises(ParseError):
        parse_hailo_identify("[HailoRT] [error] HAILO_OUT_OF_PHYSICAL_DEVICES(74)\n")


def test_slug() -> None:
    assert slug("/") == "root"
    assert slug("/mnt/Data-1") == "mnt_data_1"
    assert slug("lMx0EdcX8UV5sqoQ", 8) == "lmx0edcx"
    assert slug("/media/backup disk") == "media_backup_disk"
