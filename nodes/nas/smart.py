"""``smartctl --json -a`` parsing and disk health assessment (ATA/SATA and NVMe).

smartctl's exit status is a bit mask (see ``man smartctl``): bit 0 command line error, bit 1
device open failed *or* the disk is in standby with ``-n standby``, bit 2 a SMART command failed,
bit 3 the disk reports FAILING, bit 4 a pre-fail attribute is at or below its threshold, bit 5 an
attribute was below threshold in the past, bits 6/7 errors in the error / self-test log. JSON is
printed in all of these cases; a sleeping disk is *not* a failing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from spark.core.errors import SparkError

# ATA attribute ids (SMART attribute numbering common to all vendors).
REALLOCATED = 5
PENDING = 197
OFFLINE_UNCORRECTABLE = 198


class SmartError(SparkError):
    """smartctl did not give a usable report (not installed, device missing, bad output)."""


@dataclass(frozen=True, slots=True)
class SmartReport:
    device: str
    protocol: str | None = None  # "ATA", "NVMe", "SCSI"
    model: str | None = None
    serial: str | None = None
    passed: bool | None = None
    temperature: float | None = None
    power_on_hours: int | None = None
    reallocated: int | None = None
    pending: int | None = None
    offline_uncorrectable: int | None = None
    failing_attributes: tuple[str, ...] = ()
    critical_warning: int | None = None  # NVMe
    media_errors: int | None = None  # NVMe
    percentage_used: int | None = None  # NVMe
    available_spare: int | None = None  # NVMe
    available_spare_threshold: int | None = None  # NVMe
    exit_status: int = 0
    standby: bool = False
    messages: tuple[str, ...] = field(default=())

    def attributes(self) -> dict[str, Any]:
        return {"device": self.device, "protocol": self.protocol, "model": self.model,
                "serial": self.serial, "smart_passed": self.passed,
                "pending_sectors": self.pending,
                "offline_uncorrectable": self.offline_uncorrectable,
                "media_errors": self.media_errors, "percentage_used": self.percentage_used,
                "smartctl_exit_status": self.exit_status}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_smartctl(raw: bytes | str | dict[str, Any], device: str | None = None) -> SmartReport:
    """A :class:`SmartReport` from smartctl's JSON; raises :class:`SmartError` when there is
    no report (bad output, command line error, device could not be opened)."""
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            text = raw[:120] if isinstance(raw, str) else raw[:120].decode(errors="replace")
            raise SmartError(f"smartctl output is not JSON ({exc}): {text!r}") from None
    if not isinstance(data, dict) or "smartctl" not in data:
        raise SmartError("not smartctl --json output")
    meta = data["smartctl"]
    status = _int(meta.get("exit_status")) or 0
    messages = tuple(str(m.get("string", "")) for m in meta.get("messages", [])
                     if isinstance(m, dict))
    dev = device or data.get("device", {}).get("name") or "?"
    standby = bool(status & 2) and ("power_mode" in data
                                    or any("STANDBY" in m.upper() for m in messages))
    if standby:
        return SmartReport(dev, data.get("device", {}).get("protocol"), exit_status=status,
                           standby=True, messages=messages)
    if status & 0b11:
        detail = "; ".join(messages) or f"exit status {status}"
        raise SmartError(f"smartctl could not read {dev}: {detail}")

    attrs = {a.get("id"): a for a in data.get("ata_smart_attributes", {}).get("table", [])
             if isinstance(a, dict)}

    def raw_value(attr_id: int) -> int | None:
        attr = attrs.get(attr_id)
        return _int(attr.get("raw", {}).get("value")) if attr else None

    nvme = data.get("nvme_smart_health_information_log") or {}
    temperature = data.get("temperature", {}).get("current")
    if temperature is None:
        temperature = nvme.get("temperature")
    hours = data.get("power_on_time", {}).get("hours")
    if hours is None:
        hours = nvme.get("power_on_hours")
    smart_status = data.get("smart_status")
    passed = smart_status.get("passed") if isinstance(smart_status, dict) else None
    return SmartReport(
        device=dev,
        protocol=data.get("device", {}).get("protocol"),
        model=data.get("model_name"),
        serial=data.get("serial_number"),
        passed=passed if isinstance(passed, bool) else None,
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        power_on_hours=_int(hours),
        reallocated=raw_value(REALLOCATED),
        pending=raw_value(PENDING),
        offline_uncorrectable=raw_value(OFFLINE_UNCORRECTABLE),
        failing_attributes=tuple(str(a.get("name")) for a in attrs.values()
                                 if a.get("when_failed") == "now"),
        critical_warning=_int(nvme.get("critical_warning")),
        media_errors=_int(nvme.get("media_errors")),
        percentage_used=_int(nvme.get("percentage_used")),
        available_spare=_int(nvme.get("available_spare")),
        available_spare_threshold=_int(nvme.get("available_spare_threshold")),
        exit_status=status,
        messages=messages,
    )


def assess(report: SmartReport, previous: SmartReport | None = None,
           reallocated_limit: int = 0) -> list[str]:
    """Reasons the disk counts as failing; an empty list means healthy."""
    reasons: list[str] = []
    if report.passed is False:
        reasons.append("SMART overall-health self-assessment FAILED")
    reasons += [f"attribute {name} is failing now" for name in report.failing_attributes]
    realloc = report.reallocated
    if realloc is not None:
        before = previous.reallocated if previous is not None else None
        if before is not None and realloc > before:
            reasons.append(f"reallocated sectors grew from {before} to {realloc}")
        elif realloc > reallocated_limit:
            reasons.append(f"{realloc} reallocated sectors")
    if report.pending:
        reasons.append(f"{report.pending} pending sectors")
    if report.offline_uncorrectable:
        reasons.append(f"{report.offline_uncorrectable} offline uncorrectable sectors")
    if report.critical_warning:
        reasons.append(f"NVMe critical warning 0x{report.critical_warning:02x}")
    if report.media_errors:
        reasons.append(f"{report.media_errors} NVMe media errors")
    if report.percentage_used is not None and report.percentage_used >= 100:
        reasons.append(f"NVMe endurance used {report.percentage_used}%")
    spare, spare_min = report.available_spare, report.available_spare_threshold
    if spare is not None and spare_min is not None and spare < spare_min:
        reasons.append(f"NVMe spare {spare}% below threshold {spare_min}%")
    return reasons
