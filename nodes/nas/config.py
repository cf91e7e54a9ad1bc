from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from spark.core.agent.config import NodeConfigBase
from spark.core.config.base import StrictModel
from spark.core.topics import SEGMENT_RE
from spark.nodes.nas.local import LocalBackendConfig
from spark.nodes.nas.simulated import SimulatedBackendConfig
from spark.nodes.system.parsers import path_slug

NasBackendConfig = Annotated[LocalBackendConfig | SimulatedBackendConfig,
                             Field(discriminator="type")]
DEFAULT_PORTS = {"nfs": 2049, "smb": 445}


class ExportCheck(StrictModel):
    name: str = Field(description="Id used in the entity (letters, digits, _ -).")
    host: str = Field(description="Host serving the export (name or address).")
    protocol: Literal["nfs", "smb"] = Field("nfs", description="Which service to check.")
    port: int | None = Field(None, ge=1, le=65535,
                             description="TCP port; default 2049 for NFS, 445 for SMB.")
    timeout: float = Field(3.0, gt=0, description="Seconds to wait for the TCP connect.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not SEGMENT_RE.match(v):
            raise ValueError("use only letters, digits, '_' and '-'")
        return v

    @property
    def tcp_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.protocol]


class BackupConfig(StrictModel):
    sources: list[Path] = Field(default_factory=list,
                                description="Folders (or files) to snapshot, e.g. hub data.")
    target: Path | None = Field(None, description="Folder on the NAS receiving the snapshots.")
    keep: int = Field(7, ge=1, description="Snapshots kept; older ones are deleted.")
    interval_hours: float | None = Field(
        24.0, gt=0, description="Scheduled backup period; null: only by the button.")
    method: Literal["python", "rsync"] = Field(
        "python", description="python: copy + hash in one pass; rsync: hard-links unchanged "
                              "files to the previous snapshot, then hashes the copy.")
    verify: bool = Field(True, description="Re-hash each new snapshot against its manifest.")

    @model_validator(mode="after")
    def _check(self) -> BackupConfig:
        if self.sources and self.target is None:
            raise ValueError("backup.sources needs backup.target (a folder on the NAS)")
        if self.target is not None:
            target = self.target.resolve()
            for src in self.sources:
                if target == src.resolve() or src.resolve() in target.parents:
                    raise ValueError(f"backup.target {self.target} is inside source {src}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.sources) and self.target is not None


class NasNodeConfig(NodeConfigBase):
    kind: Literal["nas"] = "nas"
    state_interval: float = Field(60.0, gt=0, description="Seconds between mount/export checks.")
    mounts: list[str] = Field(default_factory=lambda: ["/srv/nas"],
                              description="Mount points to watch.")
    disks: list[str] = Field(
        default_factory=lambda: ["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"],
        description="Disks to read SMART from (the Argon EON's four bays).")
    smart_interval: float = Field(600.0, gt=0, description="Seconds between SMART reads.")
    reallocated_limit: int = Field(
        0, ge=0, description="Reallocated sectors tolerated; any growth always counts.")
    exports: list[ExportCheck] = Field(default_factory=list,
                                       description="NFS/SMB exports to check for reachability.")
    backup: BackupConfig = BackupConfig()
    backend: NasBackendConfig = Field(default_factory=LocalBackendConfig,
                                      description="local (real hardware) or simulated.")
    telemetry: bool = Field(True, description="Publish the compact telemetry message.")

    @model_validator(mode="after")
    def _check(self) -> NasNodeConfig:
        keys: dict[str, str] = {}
        for mount in self.mounts:
            if not mount.startswith("/"):
                raise ValueError(f"mount {mount!r} must be an absolute path")
            other = keys.setdefault(path_slug(mount), mount)
            if other != mount:
                raise ValueError(f"mounts {other!r} and {mount!r} map to the same entity id")
        for disk in self.disks:
            if not disk.startswith("/dev/"):
                raise ValueError(f"disk {disk!r} must be a /dev/ path")
        names = [e.name for e in self.exports]
        if len(names) != len(set(names)):
            raise ValueError("export names must be unique")
        return self
