"""The vision node: cameras -> detector -> counts, occupancy, events, snapshots, records.

One capture task per camera reads its source at the camera's rate (in worker threads) into a
latest-frame slot; one inference task takes the waiting frames in turn and runs the detector (one
inference at a time). A frame replaced before the detector took it is dropped and counted, so a
slow detector never builds a queue. After each inference the node publishes per-label counts and
occupancy (whole frame and per zone), fires a detection event when a label's count rises (with a
snapshot, at most every ``snapshot_interval``), and sends an inference message for the cloud
bridge. Occupancy turns off ``off_delay`` seconds after the last sighting, also when frames stop.
At start the configured detector is opened; when it is unusable the fallback runs and the
``detector`` / ``detector_problem`` entities say why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.entities import Entity
from spark.core.messages.vision import InferenceMessage
from spark.nodes.vision.capture import CameraReader
from spark.nodes.vision.config import VisionNodeConfig
from spark.nodes.vision.detectors import Detection, Selection, open_detector
from spark.nodes.vision.entities import (
    camera_entities,
    count_key,
    event_key,
    node_entities,
    occupancy_key,
    snapshot_button_key,
    snapshot_key,
    source_problem_key,
)
from spark.nodes.vision.errors import DetectorError
from spark.nodes.vision.pipeline import (
    FrameSlots,
    OccupancyTracker,
    RateMeter,
    Zone,
    count_labels,
    locate,
    within,
)
from spark.nodes.vision.sources import FrameSource
from spark.nodes.vision.tracking import Tracker, big_enough

log = logging.getLogger(__name__)
R = TypeVar("R")


def _zone_id(zone: Zone | None) -> str | None:
    return None if zone is None else zone.id


class VisionNode(NodeAgent[VisionNodeConfig]):
    kind: ClassVar[str] = "vision"
    model: ClassVar[str] = "Prime Spark vision node"

    def __init__(self, ctx: NodeContext[VisionNodeConfig], *, hailo_platform: Any = None) -> None:
        """``hailo_platform``: a stand-in for the HailoRT module (same interface), for machines
        without the chip."""
        super().__init__(ctx)
        self.hailo_platform = hailo_platform
        self.cameras = {cam.id: cam for cam in self.cfg.cameras}
        self.zones = {cam.id: [Zone(z.id, tuple(z.polygon)) for z in cam.zones]
                      for cam in self.cfg.cameras}
        self.threshold = self.cfg.threshold
        self.slots: FrameSlots[Any] = FrameSlots()
        self.occupancy: OccupancyTracker[str] = OccupancyTracker(self.cfg.off_delay)
        self.selection: Selection | None = None
        self.inferences = 0
        self.errors_in_row = 0
        self.last: dict[str, tuple[Any, list[Detection]]] = {}  # camera -> frame, detections
        self.trackers = {cam.id: Tracker(self.cfg.confirm_frames) for cam in self.cfg.cameras}
        self._counts: dict[str, dict[str, int]] = {}
        self._record_counts: dict[str, list[str]] = {}  # labels in the last record
        self._snapshot_at: dict[str, float] = {}
        self._latencies: list[float] = []
        self._rate = RateMeter()
        self._detect_on = asyncio.Event()
        self._occ_wake = asyncio.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=len(self.cameras) + 2, thread_name_prefix=f"vision-{self.node_id}")
        self._inflight: set[concurrent.futures.Future[Any]] = set()
        self._run_id = f"{self.node_id}-{int(time.time())}"
        self.readers = {cam.id: CameraReader(cam, self.slots, self._detect_on, self._blocking,
                                             self._source_health) for cam in self.cfg.cameras}

    def declare_entities(self) -> list[Entity]:
        out = node_entities()
        for cam in self.cfg.cameras:
            out += camera_entities(cam, self.cfg)
        return out

    def _areas(self, cam_id: str) -> list[Zone | None]:
        return [None, *self.zones[cam_id]]

    # ---- lifecycle --------------------------------------------------------------------
    async def setup(self) -> None:
        self.on_command("confidence_threshold", self._set_threshold)
        self.on_command("detect", self._set_detect)
        for cam_id in self.cameras:
            self.on_command(snapshot_button_key(cam_id),
                            functools.partial(self._snapshot_request, cam_id))
            for zone in self._areas(cam_id):
                for label in self.cfg.labels:  # unknown until the first inference: replaces
                    # what the broker retained from the last run (no stale count at start)
                    self.set_state(count_key(cam_id, label, _zone_id(zone)), None)
                    self.set_state(occupancy_key(cam_id, label, _zone_id(zone)), None)
        self.set_state("confidence_threshold", self.threshold)
        self.set_state("detect", self.cfg.detect)
        self._publish_stats()
        if self.cfg.detect:
            self._detect_on.set()
        await self._open_detector()

    async def _open_detector(self) -> None:
        if self.selection is not None and self.selection.detector is not None:
            await self._blocking(self.selection.detector.close)
        self.selection = await self._blocking(
            open_detector, self.cfg.detector, self.cfg.fallback,
            hailo_platform=self.hailo_platform)
        self._detector_health(self.selection.reason)

    def _detector_health(self, reason: str | None) -> None:
        sel = self.selection
        assert sel is not None
        self.set_state("detector", sel.active, sel.attributes())
        self.set_state("detector_problem", reason is not None,
                       {"reason": reason, "requested": sel.requested, "active": sel.active})

    async def teardown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._inflight:  # a read or an inference still running in a thread: let it end
            await asyncio.to_thread(concurrent.futures.wait, list(self._inflight), 10.0)
        for reader in self.readers.values():
            if reader.source is not None:
                with contextlib.suppress(Exception):
                    reader.source.close()
        if self.selection is not None and self.selection.detector is not None:
            with contextlib.suppress(Exception):
                self.selection.detector.close()

    async def _blocking(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn`` in the node's threads; teardown waits for what is still running."""
        future = self._pool.submit(fn, *args, **kwargs)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        return await asyncio.wrap_future(future)

    async def work(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for cam_id, reader in self.readers.items():
                tg.create_task(reader.run(), name=f"{self.node_id}-capture-{cam_id}")
            tg.create_task(self._infer_loop(), name=f"{self.node_id}-infer")
            tg.create_task(self._occupancy_loop(), name=f"{self.node_id}-occupancy")
            tg.create_task(self._stats_loop(), name=f"{self.node_id}-stats")

    # ---- cameras ----------------------------------------------------------------------
    def _source_health(self, cam_id: str, source: FrameSource, error: str | None) -> None:
        if error is not None:
            log.warning("%s: camera %s (%s): %s", self.node_id, cam_id, source.name, error)
        self.set_state(source_problem_key(cam_id), error is not None,
                       {"error": error, "source": source.name})

    # ---- inference ----------------------------------------------------------------------
    async def _infer_loop(self) -> None:
        while True:
            cam_id, frame, captured = await self.slots.get()
            sel = self.selection
            if not self._detect_on.is_set() or sel is None or sel.detector is None:
                continue
            started = time.perf_counter()
            try:
                found = await self._blocking(sel.detector.detect, frame, self.threshold)
            except Exception as exc:
                if not isinstance(exc, DetectorError):
                    log.exception("%s: detector %s failed", self.node_id, sel.active)
                await self._detector_failed(f"{sel.active} inference failed: {exc}")
                continue
            latency_ms = (time.perf_counter() - started) * 1000.0
            if not self._detect_on.is_set():
                continue  # switched off while this frame was in the detector
            if self.errors_in_row:
                self.errors_in_row = 0
                self._detector_health(sel.reason)
            try:
                await self._handle(cam_id, frame, captured, found, latency_ms,
                                   sel.detector.model_name)
            except Exception:
                log.exception("%s: publishing the results of camera %s failed", self.node_id,
                              cam_id)

    async def _detector_failed(self, reason: str) -> None:
        self.errors_in_row += 1
        log.warning("%s: %s", self.node_id, reason)
        self._detector_health(reason)
        if self.errors_in_row >= self.cfg.max_errors:
            log.error("%s: %d failed inferences in a row: reopening the detector", self.node_id,
                      self.errors_in_row)
            self.errors_in_row = 0
            await self._open_detector()

    async def _handle(self, cam_id: str, frame: Any, captured: float, raw: list[Detection],
                      latency_ms: float, model_name: str) -> None:
        now = time.monotonic()
        self.inferences += 1
        self._rate.tick(now)
        self._latencies.append(latency_ms)
        if self.state("inference_latency") is None:
            self._publish_stats()  # the first figures now, then every state_interval
        height, width = frame.shape[:2]
        self._publish_record(cam_id, captured, raw, locate(raw, self.zones[cam_id], width,
                                                           height), latency_ms, model_name)
        # only objects big enough and seen for confirm_frames frames count from here on
        found = self.trackers[cam_id].update(big_enough(raw, self.cfg.min_area, width, height))
        zones_of = locate(found, self.zones[cam_id], width, height)
        for zone in self._areas(cam_id):
            seen = found if zone is None else within(found, zones_of, zone.id)
            for label, count in count_labels(self.cfg.labels, seen).items():
                self.set_state(count_key(cam_id, label, _zone_id(zone)), count)
                key = occupancy_key(cam_id, label, _zone_id(zone))
                self.occupancy.observe(key, count > 0, now)
                self.set_state(key, self.occupancy.is_on(key))  # published when it changed
        self._occ_wake.set()
        counts = count_labels(self.cfg.labels, found)
        previous = self._counts.get(cam_id, {})
        risen = [label for label, n in counts.items() if n > previous.get(label, 0)]
        self._counts[cam_id] = counts
        self.last[cam_id] = (frame, found)
        for label in risen:
            i, best = max(((i, d) for i, d in enumerate(found) if d.label == label),
                          key=lambda pair: pair[1].score)
            self.fire_event(event_key(cam_id), label, camera=cam_id, score=round(best.score, 3),
                            box=list(best.box), zones=zones_of[i], count=counts[label])
        if risen and now - self._snapshot_at.get(cam_id, -math.inf) >= self.cfg.snapshot_interval:
            await self._publish_snapshot(cam_id)

    def _publish_record(self, cam_id: str, captured: float, found: list[Detection],
                        zones_of: list[list[str]], latency_ms: float, model_name: str) -> None:
        labels = sorted(d.label for d in found)
        changed = labels != self._record_counts.get(cam_id)
        self._record_counts[cam_id] = labels
        wanted = self.cfg.records == "all" or (self.cfg.records == "detections"
                                               and (bool(found) or changed))
        if not wanted or self.client is None:
            return
        msg = InferenceMessage.of(f"{self._run_id}-{self.inferences}", captured, cam_id,
                                  model_name, latency_ms, found, zones_of)
        self.client.publish(self.layout.inference(self.node_id), msg.to_payload(), 1, False)

    async def _publish_snapshot(self, cam_id: str) -> None:
        from spark.nodes.vision.draw import snapshot

        frame, found = self.last[cam_id]
        self._snapshot_at[cam_id] = time.monotonic()
        jpeg = await self._blocking(snapshot, frame, found, self.zones[cam_id],
                                    self.cfg.jpeg_quality)
        self.set_state(snapshot_key(cam_id), jpeg, force=True)  # a new snapshot even if alike

    # ---- timers -------------------------------------------------------------------------
    async def _occupancy_loop(self) -> None:
        """Turn occupancy off when the off-delay runs out, also when no frame comes."""
        while True:
            self._occ_wake.clear()
            deadline = self.occupancy.next_deadline()
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._occ_wake.wait()
            for key in self.occupancy.expire(time.monotonic()):
                self.set_state(key, False)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.state_interval)
            self._publish_stats()

    def _publish_stats(self) -> None:
        if self._latencies:
            self.set_state("inference_latency", round(sum(self._latencies)
                                                      / len(self._latencies), 2))
            self._latencies.clear()
        self.set_state("inference_fps", round(self._rate.rate(time.monotonic()), 2))
        self.set_state("frames_dropped", self.slots.total_dropped,
                       {cam: self.slots.dropped.get(cam, 0) for cam in self.cameras})

    # ---- commands -----------------------------------------------------------------------
    def _set_threshold(self, value: float) -> None:
        self.threshold = value
        self.set_state("confidence_threshold", value)

    def _set_detect(self, on: bool) -> None:
        self.set_state("detect", on)
        if on:
            self._detect_on.set()
            return
        self._detect_on.clear()
        self.slots.clear()
        self._counts.clear()
        for tracker in self.trackers.values():
            tracker.clear()
        for cam_id in self.cameras:  # counts are unknown while not detecting; occupancy decays
            for zone in self._areas(cam_id):
                for label in self.cfg.labels:
                    self.set_state(count_key(cam_id, label, _zone_id(zone)), None)

    async def _snapshot_request(self, cam_id: str, _value: Any) -> None:
        if cam_id not in self.last:
            raise ValueError(f"camera {cam_id!r} has no analysed frame yet")
        await self._publish_snapshot(cam_id)
