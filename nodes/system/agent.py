"""System telemetry node: runs on every machine (Control PC, Spark agent, NAS).

Every ``state_interval`` (default 30 s) it samples the host (psutil), the CPU thermal zone, the
Pi's throttling flags, the Hailo-8 and WireGuard, updates its entities (a state is published
only when it changed) and publishes one compact :class:`TelemetryMessage`. Sources that are
absent (no ``vcgencmd`` off a Pi, no ``wg``, no Hailo) create no entities; that is logged once.
Per-mount and per-peer entities come and go with the mounts and peers (no ghosts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.entities import Entity
from spark.core.messages.telemetry import TelemetryMessage
from spark.nodes.system import entities as ent
from spark.nodes.system.config import SystemNodeConfig
from spark.nodes.system.parsers import (
    ParseError,
    ThermalZone,
    WgPeer,
    parse_hailo_identify,
    parse_throttled,
    parse_wg_dump,
    path_slug,
    pick_cpu_zone,
    slug,
    thermal_zones,
)
from spark.nodes.system.sources import (
    CommandError,
    CommandRunner,
    DiskUsage,
    HailoTemperature,
    HostSource,
    Partition,
    PsutilHost,
)

log = logging.getLogger(__name__)

@dataclass(slots=True)
class HostSample:
    cpu: float
    load: tuple[float, float, float]
    memory: float
    disks: dict[str, tuple[Partition, DiskUsage]] = field(default_factory=dict)
    net: tuple[float, int, int] = (0.0, 0, 0)  # monotonic time, rx, tx
    cpu_temperature: float | None = None


class SystemNode(NodeAgent[SystemNodeConfig]):
    kind: ClassVar[str] = "system"
    model: ClassVar[str] = "Prime Spark system monitor"

    def __init__(self, ctx: NodeContext[SystemNodeConfig], *, host: HostSource | None = None,
                 runner: CommandRunner | None = None,
                 hailo_reader: HailoTemperature | None = None) -> None:
        """Tests and embedders may pass their own sources (real subclasses)."""
        super().__init__(ctx)
        self.host: HostSource = host or PsutilHost()
        self.runner: CommandRunner = runner or CommandRunner(self.cfg.command_timeout)
        self.hailo_reader: HailoTemperature | None = (
            hailo_reader or HailoTemperature()
        ) if self.cfg.hailo_temperature else None
        self.zone: ThermalZone | None = None
        self.readings: dict[str, Any] = {}  # the last telemetry readings
        self.collections = 0
        self._collected = asyncio.Event()  # the first round declared the mounts and peers
        self._net_prev: tuple[float, int, int] | None = None
        self._mount_keys: dict[str, str] = {}  # mountpoint -> entity key
        self._peer_keys: dict[str, str] = {}  # interface + public key -> entity key
        self._hailo_ok = False
        self._warned: set[str] = set()
        self._host_job: asyncio.Future[HostSample] | None = None

    # ---- entities ---------------------------------------------------------------------
    def declare_entities(self) -> list[Entity]:
        return ent.static_entities()

    def _warn_once(self, key: str, message: str, *args: Any, level: int = logging.INFO) -> None:
        """Log a missing source once (INFO: expected off a Pi) or a failing one (WARNING)."""
        if key not in self._warned:
            self._warned.add(key)
            log.log(level, "%s: " + message, self.node_id, *args)

    # ---- setup: detect what this machine has ------------------------------------------------
    async def setup(self) -> None:
        self.host.cpu_percent()  # prime: the next call measures from here
        self.set_state("boot_time", self.host.boot_time())
        self.zone = pick_cpu_zone(thermal_zones(self.cfg.thermal_root), self.cfg.thermal_zone)
        if self.zone is None:
            self._warn_once("thermal", "no thermal zone under %s; no CPU temperature",
                            self.cfg.thermal_root)
        else:
            self.add_entity(ent.cpu_temperature())
        await self._detect_hailo()

    async def _detect_hailo(self) -> None:
        argv = self.cfg.commands.hailo_identify
        if not self.runner.available(argv):
            self._warn_once("hailo", "no %s; no Hailo entities", argv[0] if argv else "hailo")
            return
        self.add_entity(ent.hailo_health())
        try:
            result = await self.runner.run(argv, check=False)
            identity = parse_hailo_identify(result.stdout + result.stderr)
        except (CommandError, ParseError) as exc:
            log.warning("%s: Hailo check failed: %s", self.node_id, exc)
            self.set_state("hailo", True, {"error": str(exc)})
            return
        self._hailo_ok = True
        self.set_state("hailo", False, {**identity.attributes(), "error": None})

    # ---- the periodic loop ------------------------------------------------------------
    async def work(self) -> None:
        while True:
            try:
                await self.collect()
            except Exception:
                log.exception("%s: collection failed; trying again next interval", self.node_id)
            await asyncio.sleep(self.cfg.state_interval)

    async def entities_settled(self) -> None:
        """Mount and WireGuard peer entities come with the first collection."""
        await self._collected.wait()

    async def teardown(self) -> None:
        if self._host_job is not None:
            self._host_job.cancel()

    async def collect(self) -> dict[str, Any]:
        """One round: sample everything, update entities, publish telemetry."""
        readings: dict[str, Any] = {}
        job = self._host_job
        if job is not None and not job.done():
            log.warning("%s: previous host sample still blocked (hung mount?)", self.node_id)
        else:
            # A hung statvfs (dead NFS) blocks its thread; never start a second one meanwhile.
            job = self._host_job = asyncio.ensure_future(asyncio.to_thread(self._sample_host))
            try:
                async with asyncio.timeout(self.cfg.command_timeout):
                    self._apply_host(await asyncio.shield(job), readings)
            except TimeoutError:
                log.warning("%s: host sampling took over %.0f s (hung mount?)", self.node_id,
                            self.cfg.command_timeout)
        await self._collect_throttle(readings)
        await self._collect_wireguard(readings)
        await self._collect_hailo(readings)
        self.readings = readings
        self.collections += 1
        self._collected.set()
        if self.cfg.telemetry and self.client is not None:
            msg = TelemetryMessage.from_readings(self.node_id, readings)
            self.client.publish(self.layout.telemetry(self.node_id), msg.to_payload(), 0, False)
        return readings

    def _sample_host(self) -> HostSample:
        """Blocking reads (psutil, sysfs); runs in a worker thread."""
        sample = HostSample(self.host.cpu_percent(), self.host.load_average(),
                            self.host.memory_percent())
        wanted = self.cfg.mounts
        if wanted is None:
            parts = self.host.partitions()
        else:  # only while mounted: statvfs of an empty mount point would show its parent
            mounted = {p.mountpoint: p for p in self.host.partitions(everything=True)}
            parts = [mounted[m.rstrip("/") or "/"] for m in wanted
                     if (m.rstrip("/") or "/") in mounted]
        for part in parts:
            usage = self.host.disk_usage(part.mountpoint)
            if usage is not None:
                sample.disks[part.mountpoint] = (part, usage)
        rx, tx = self.host.net_bytes(self.cfg.interfaces)
        sample.net = (time.monotonic(), rx, tx)
        if self.zone is not None:
            try:
                sample.cpu_temperature = self.zone.read()
            except (OSError, ParseError) as exc:
                self._warn_once("thermal_read", "cannot read %s: %s", self.zone.path, exc,
                                level=logging.WARNING)
        return sample

    def _apply_host(self, s: HostSample, readings: dict[str, Any]) -> None:
        readings["cpu_percent"] = round(s.cpu, 1)
        for n, value in zip((1, 5, 15), s.load, strict=True):
            readings[f"load_{n}"] = round(value, 2)
        readings["memory_percent"] = round(s.memory, 1)
        if s.cpu_temperature is not None and self.zone is not None:
            readings["cpu_temperature"] = round(s.cpu_temperature, 1)
            self.set_state("cpu_temperature", readings["cpu_temperature"],
                           {"zone": self.zone.name, "type": self.zone.type})
        now, rx, tx = s.net
        prev = self._net_prev
        self._net_prev = s.net
        if prev is not None and now > prev[0] and rx >= prev[1] and tx >= prev[2]:
            readings["net_rx"] = round((rx - prev[1]) / (now - prev[0]) / 1000, 2)
            readings["net_tx"] = round((tx - prev[2]) / (now - prev[0]) / 1000, 2)
        for key, value in readings.items():
            if key in self.entities and key != "cpu_temperature":
                self.set_state(key, value)
        self._sync_disks(s.disks, readings)
        readings["uptime"] = round(time.time() - self.host.boot_time().timestamp())

    def _sync_disks(self, disks: dict[str, tuple[Partition, DiskUsage]],
                    readings: dict[str, Any]) -> None:
        for mountpoint in [m for m in self._mount_keys if m not in disks]:
            log.info("%s: %s is gone; removing its disk entity", self.node_id, mountpoint)
            self.remove_entity(self._mount_keys.pop(mountpoint))
        for mountpoint, (part, usage) in disks.items():
            key = self._mount_keys.get(mountpoint)
            if key is None:
                key = self._unique_key(f"disk_{path_slug(mountpoint)}")
                self._mount_keys[mountpoint] = key
                self.add_entity(ent.disk(key, mountpoint))
            readings[key] = usage.percent
            self.set_state(key, usage.percent, {
                "mountpoint": mountpoint, "device": part.device or None,
                "fstype": part.fstype or None, "total_bytes": usage.total,
                "free_bytes": usage.free})

    def _unique_key(self, base: str) -> str:
        key, n = base, 2
        while key in self.entities:
            key, n = f"{base}_{n}", n + 1
        return key

    # ---- tools ------------------------------------------------------------------------
    async def _collect_throttle(self, readings: dict[str, Any]) -> None:
        argv = self.cfg.commands.throttled
        if not self.runner.available(argv):
            self._warn_once("throttle", "no %s; no throttling entities", argv[0] if argv else "-")
            return
        try:
            flags = parse_throttled((await self.runner.run(argv)).stdout)
        except (CommandError, ParseError) as exc:
            self._warn_once("throttle_fail", "throttling flags unavailable: %s", exc,
                            level=logging.WARNING)
            return
        if "throttle_occurred" not in self.entities:
            for entity in ent.throttle_entities():
                self.add_entity(entity)
        all_flags = flags.flags()
        for flag in ent.THROTTLE:
            self.set_state(f"throttle_{flag}", flags.flag(flag),
                           {"occurred_since_boot": all_flags[f"{flag}_occurred"]})
        self.set_state("throttle_occurred", flags.occurred,
                       {"raw": hex(flags.raw), **all_flags})
        readings["throttled_raw"] = flags.raw

    async def _collect_wireguard(self, readings: dict[str, Any]) -> None:
        argv = self.cfg.commands.wireguard
        if not self.runner.available(argv):
            self._warn_once("wg", "no %s; no VPN entities", argv[0] if argv else "-")
            return
        try:
            peers = parse_wg_dump((await self.runner.run(argv)).stdout)
        except (CommandError, ParseError) as exc:
            self._warn_once("wg_fail", "WireGuard peers unavailable: %s", exc,
                            level=logging.WARNING)
            return
        self._sync_peers(peers, time.time(), readings)

    def _peer_name(self, peer: WgPeer) -> str:
        friendly = self.cfg.vpn_peer_names.get(peer.public_key)
        return f"VPN {friendly}" if friendly else f"VPN {peer.interface} {peer.public_key[:8]}"

    def _sync_peers(self, peers: list[WgPeer], now: float, readings: dict[str, Any]) -> None:
        current = {f"{p.interface}/{p.public_key}": p for p in peers}
        for ident in [i for i in self._peer_keys if i not in current]:
            gone = self._peer_keys.pop(ident)
            log.info("%s: WireGuard peer %s is gone; removing its entities", self.node_id, ident)
            self.remove_entity(gone)
            self.remove_entity(f"{gone}_handshake_age")
        for ident, peer in current.items():
            key = self._peer_keys.get(ident)
            if key is None:
                key = self._unique_key(f"vpn_{slug(peer.interface, 12)}_"
                                       f"{slug(peer.public_key, 8)}")
                self._peer_keys[ident] = key
                for entity in ent.vpn_peer(key, self._peer_name(peer)):
                    self.add_entity(entity)
            age = peer.handshake_age(now)
            connected = peer.connected(now, self.cfg.vpn_handshake_timeout)
            self.set_state(key, connected, {
                "interface": peer.interface, "public_key": peer.public_key,
                "endpoint": peer.endpoint, "allowed_ips": list(peer.allowed_ips),
                "latest_handshake": peer.latest_handshake or None,
                "rx_bytes": peer.rx_bytes, "tx_bytes": peer.tx_bytes})
            self.set_state(f"{key}_handshake_age", None if age is None else round(age))
            readings[key] = connected
            readings[f"{key}_handshake_age"] = None if age is None else round(age)

    async def _collect_hailo(self, readings: dict[str, Any]) -> None:
        reader = self.hailo_reader
        if reader is None or not self._hailo_ok:
            return
        try:
            value = await asyncio.wait_for(asyncio.to_thread(reader.read),
                                           self.cfg.command_timeout)
        except (CommandError, TimeoutError) as exc:
            if "hailo_temperature" not in self.entities:
                self._warn_once("hailo_temp", "no Hailo temperature: %s", exc)
                self.hailo_reader = None  # never worked: stop trying
            else:
                self.set_state("hailo_temperature", None)
            return
        if "hailo_temperature" not in self.entities:
            self.add_entity(ent.hailo_temperature())
        self.set_state("hailo_temperature", value)
        readings["hailo_temperature"] = value
