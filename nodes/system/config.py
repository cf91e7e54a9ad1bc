from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from spark.core.agent.config import NodeConfigBase
from spark.core.config.base import StrictModel


class SystemCommands(StrictModel):
    """External tools, as argv lists (no shell). An empty list turns that source off."""

    throttled: list[str] = Field(
        default_factory=lambda: ["vcgencmd", "get_throttled"],
        description="Raspberry Pi throttling flags (present on Raspberry Pi OS).")
    wireguard: list[str] = Field(
        default_factory=lambda: ["wg", "show", "all", "dump"],
        description="WireGuard peers; needs root, e.g. ['sudo', '-n', 'wg', 'show', 'all', "
                    "'dump'] with a matching sudoers rule.")
    hailo_identify: list[str] = Field(
        default_factory=lambda: ["hailortcli", "fw-control", "identify"],
        description="Hailo-8 presence, firmware and driver/library version check.")


class SystemNodeConfig(NodeConfigBase):
    kind: Literal["system"] = "system"
    mounts: list[str] | None = Field(
        None, description="Mount points to report disk use for; default: every real filesystem.")
    interfaces: list[str] | None = Field(
        None, description="Network interfaces summed for rx/tx rates; default: all but lo.")
    thermal_root: Path = Field(
        Path("/sys/class/thermal"), description="Where the thermal_zone* directories are.")
    thermal_zone: str | None = Field(
        None, description="Zone type or name for the CPU temperature (e.g. cpu-thermal); "
                          "default: the most CPU-like zone.")
    commands: SystemCommands = SystemCommands()
    command_timeout: float = Field(5.0, gt=0, description="Seconds before a tool is killed.")
    hailo_temperature: bool = Field(
        True, description="Read the Hailo chip temperature via hailo_platform when installed.")
    vpn_handshake_timeout: float = Field(
        180.0, gt=0, description="A WireGuard peer counts as connected while its latest "
                                 "handshake is younger than this many seconds.")
    vpn_peer_names: dict[str, str] = Field(
        default_factory=dict, description="Friendly names for WireGuard peers by public key.")
    telemetry: bool = Field(True, description="Publish the compact telemetry message.")

    @field_validator("mounts")
    @classmethod
    def _mounts(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for mount in v:
                if not mount.startswith("/"):
                    raise ValueError(f"mount {mount!r} must be an absolute path")
        return v
