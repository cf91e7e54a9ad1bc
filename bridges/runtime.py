"""The bridge process: MQTT ingest -> outbox -> one pump per sink, plus upkeep and status.

Roles (``spark bridge ...``): ``run`` does everything: the ingest in this process and, with
``bridges.pump_process`` (default), the sink pumps in one supervised child process
(:mod:`bridges.pumpproc`: two cores instead of one GIL); ``ingest`` only fills the outbox;
``timescale`` / ``kafka`` only drain it into that sink. The outbox file is shared safely between
processes (SQLite WAL). ``sync`` reconciles every sink once, delivers what it re-enqueued and
exits.

Tasks (one ``TaskGroup``, named): ``bridge-ingest``, ``bridge-pump-<sink>``, ``bridge-upkeep``
(size / age bounds, the ``interval`` fsync), ``bridge-reconcile`` (every
``bridges.reconcile_minutes``) and ``bridge-status`` (the bridge's hub entities).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from spark.bridges.config import BridgeSettings
from spark.bridges.ingest.subscriber import Ingest
from spark.bridges.outbox.bounds import enforce
from spark.bridges.outbox.store import Outbox
from spark.bridges.pump import Pump, SinkFactory
from spark.bridges.pumpproc import PumpProcess, serve_child
from spark.bridges.reconcile import Gap, reconcile
from spark.bridges.sinks.base import sink_class
from spark.bridges.status import BridgeNode, make_status_node
from spark.core.errors import ConfigError

log = logging.getLogger(__name__)


def sink_factories(cfg: BridgeSettings) -> dict[str, SinkFactory]:
    """A factory per configured sink, by outbox name (``timescale``, ``kafka``, ...)."""
    out: dict[str, SinkFactory] = {}
    for name, sink_cfg in zip(cfg.bridges.sink_names(), cfg.bridges.sinks, strict=True):
        try:
            importlib.import_module(f"spark.bridges.sinks.{sink_cfg.type}.sink")
        except ImportError as exc:
            log.error("bridge: %s sink unavailable, its records wait in the outbox: %s",
                      name, exc)
            continue
        cls: Any = sink_class(sink_cfg.type)  # each sink class takes its own config model
        out[name] = functools.partial(cls, sink_cfg)
    return out


def make_pump(cfg: BridgeSettings, name: str, factory: SinkFactory, box: Outbox) -> Pump:
    """A pump with the sink's batch bounds (``batch_rows``, ``batch_seconds`` when it has them)."""
    sink_cfg = dict(zip(cfg.bridges.sink_names(), cfg.bridges.sinks, strict=True)).get(name)
    linger = min(cfg.bridges.linger_ms / 1000, float(getattr(sink_cfg, "batch_seconds", 1.0)))
    return Pump(name, factory, box, batch=int(getattr(sink_cfg, "batch_rows", 0) or 5000),
                backoff_max=cfg.bridges.backoff_max, probe=cfg.bridges.probe_seconds,
                linger=linger)


class Bridge:
    """One bridge process. ``sinks`` overrides the configured factories (tests inject theirs);
    ``pumps`` picks which of them this process drains (default: all); ``ingest`` False runs
    no MQTT subscriber."""

    def __init__(self, cfg: BridgeSettings, *, password: str | None = None,
                 sinks: dict[str, SinkFactory] | None = None, pumps: list[str] | None = None,
                 ingest: bool = True, status: bool = True) -> None:
        self.cfg = cfg
        self.password = password
        self.factories = sink_factories(cfg) if sinks is None else dict(sinks)
        names = list(dict.fromkeys([*cfg.bridges.sink_names(), *self.factories]))
        unknown = [p for p in pumps or [] if p not in self.factories]
        if unknown:
            raise ConfigError(f"bridges.sinks has no usable sink {', '.join(unknown)}; "
                              f"configured: {', '.join(names) or 'none'}")
        self.outbox = Outbox(cfg.bridges.outbox, names)
        self.pump_names = list(self.factories) if pumps is None else pumps
        self.with_ingest = ingest
        # The pumps go to a child process when this process also ingests and they come from
        # the config (sinks injected by tests are objects of this process).
        self.child: PumpProcess | None = None
        if ingest and self.pump_names and sinks is None and cfg.bridges.pump_process:
            if multiprocessing.current_process().daemon:  # may not have children
                log.info("bridge: in a daemon process, the sink pumps run in this process")
            else:
                main = functools.partial(pump_child_main, cfg, self.pump_names, password)
                self.child = PumpProcess(main, self.pump_names,
                                         backoff_max=cfg.bridges.backoff_max)
        self.with_status = status
        self.ingest: Ingest | None = None
        self.pumps: dict[str, Pump] = {}
        self.status: BridgeNode | None = None
        self.gaps: list[Gap] = []
        self.dropped = 0  # undelivered records dropped by the outbox bounds since start
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each ingest commit, before its MQTT acknowledgements
        (on the commit thread)."""
        self._listeners.append(listener)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; ``ready`` is set once the subscriber is connected."""
        loop = asyncio.get_running_loop()
        self.outbox.open()
        boxes = [self.outbox]
        try:
            for name in self.pump_names if self.child is None else []:
                boxes.append(box := self.outbox.another())
                self.pumps[name] = make_pump(self.cfg, name, self.factories[name], box)

            def wake() -> None:  # called in whichever thread committed
                for pump in self.pumps.values():
                    loop.call_soon_threadsafe(pump.wake.set)
                if self.child is not None:
                    self.child.wake()

            self.outbox.on_append(wake)
            async with asyncio.TaskGroup() as tg:
                started = asyncio.Event()
                if self.with_ingest:
                    boxes.append(ingest_box := self.outbox.another())
                    for listener in (wake, *self._listeners):
                        ingest_box.on_append(listener)
                    self.ingest = Ingest(self.cfg, ingest_box, password=self.password)
                    tg.create_task(self.ingest.run(started), name="bridge-ingest")
                    boxes.append(upkeep_box := self.outbox.another())
                    tg.create_task(self._upkeep(upkeep_box), name="bridge-upkeep")
                else:
                    started.set()
                for name, pump in self.pumps.items():
                    tg.create_task(pump.run(), name=f"bridge-pump-{name}")
                if self.child is not None:
                    tg.create_task(self.child.run(), name="bridge-pump-process")
                if self.pumps:
                    tg.create_task(self._reconcile_loop(), name="bridge-reconcile")
                if self.with_status:
                    self.status = make_status_node(self.cfg, list(self.outbox.sinks),
                                                   self.snapshot, self.password)
                    tg.create_task(self.status.run(), name="bridge-status")
                await started.wait()
                log.info("bridge: running (ingest %s, sinks %s%s, outbox %s)",
                         "on" if self.with_ingest else "off",
                         ", ".join(self.pump_names) or "none",
                         " in a child process" if self.child else "", self.outbox.path)
                if ready is not None:
                    ready.set()
        finally:
            for box in boxes:
                box.close()

    async def _upkeep(self, box: Outbox) -> None:
        cfg = self.cfg.bridges.outbox
        last_check = 0.0
        period = min(cfg.fsync_interval, cfg.check_interval) if cfg.fsync == "interval" \
            else cfg.check_interval
        while True:
            await asyncio.sleep(period)
            if cfg.fsync == "interval":
                await asyncio.to_thread(box.sync)
            if time.monotonic() - last_check >= cfg.check_interval:
                last_check = time.monotonic()
                try:
                    await asyncio.to_thread(enforce, box)
                except Exception:
                    log.exception("bridge: outbox upkeep failed")
                self.dropped = sum(v for k, v in box.dropped.items() if k != "delivered")

    async def _reconcile_loop(self) -> None:
        period = self.cfg.bridges.reconcile_minutes * 60
        while True:
            await asyncio.sleep(period)
            try:
                await self.sync_once()
            except Exception:
                log.exception("bridge: reconciliation failed")

    async def sync_once(self) -> list[Gap]:
        """Reconcile the sinks this process drains; re-sent records go out through the pumps."""
        factories = {n: self.factories[n] for n in self.pump_names}
        gaps = await reconcile(self.outbox, factories,
                               self.cfg.bridges.outbox.keep_delivered_hours)
        self.gaps.extend(gaps)
        return gaps

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Figures for the status node and logs: the log, then one entry per sink."""
        out: dict[str, dict[str, Any]] = {
            "outbox": {"bytes": self.outbox.used_bytes(), "dropped": self.dropped}}
        links = self.outbox.links()
        for name in self.outbox.sinks:
            backlog = self.outbox.backlog(name)
            pump = self.pumps.get(name)
            state, delivered = links.get(name, ("idle", 0))
            out[name] = {"backlog": backlog.count, "backlog_bytes": backlog.bytes,
                         "oldest_age": round(backlog.oldest_age_s, 1),
                         "link": pump.state.value if pump else state,
                         "delivered": pump.delivered if pump else delivered}
        return out


def require_sinks(cfg: BridgeSettings) -> None:
    """``spark bridge run`` / ``sync`` without a sink is a config mistake, said before anything
    (the outbox folder included) is created."""
    if not cfg.bridges.sinks:
        raise ConfigError("bridges.sinks is empty: name a timescale or kafka sink to bridge to")


async def run_bridge(cfg: BridgeSettings, password: str | None = None, *,
                     pumps: list[str] | None = None, ingest: bool = True) -> int:
    require_sinks(cfg)
    await Bridge(cfg, password=password, pumps=pumps, ingest=ingest, status=ingest).run()
    return 0


async def run_sync(cfg: BridgeSettings, sinks: dict[str, SinkFactory] | None = None) -> list[Gap]:
    """``spark bridge sync``: reconcile every sink now and deliver what was re-enqueued (a sink
    that is down is retried with backoff: bound the wait with ``asyncio.timeout``)."""
    if sinks is None:
        require_sinks(cfg)
    bridge = Bridge(cfg, sinks=sinks, ingest=False, status=False)
    with bridge.outbox:
        gaps = await reconcile(bridge.outbox, bridge.factories,
                               cfg.bridges.outbox.keep_delivered_hours)
        async with asyncio.TaskGroup() as tg:
            for name in {g.sink for g in gaps}:
                pump = make_pump(cfg, name, bridge.factories[name], bridge.outbox)
                tg.create_task(pump.run(until_idle=True), name=f"bridge-sync-{name}")
    return gaps


def pump_child_main(cfg: BridgeSettings, names: list[str], password: str | None,
                    wake: Connection) -> None:
    """Entry point of the pump child process (:class:`~spark.bridges.pumpproc.PumpProcess`):
    a :class:`Bridge` that only drains the sinks ``names``."""
    logging.basicConfig(level=cfg.log_level,
                        format="%(asctime)s %(levelname)s bridge-pumps %(name)s: %(message)s")
    asyncio.run(_pump_child(cfg, names, password, wake))


async def _pump_child(cfg: BridgeSettings, names: list[str], password: str | None,
                      wake: Connection) -> None:
    bridge = Bridge(cfg, password=password, pumps=names, ingest=False, status=False)

    def on_wake() -> None:
        for pump in bridge.pumps.values():
            pump.wake.set()

    await serve_child(bridge.run(), on_wake, wake)
