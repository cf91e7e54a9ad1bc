"""Throughput and memory of the vision node's CPU detector (the built-in HOG + Haar people
detector by default) on 640x480 frames, on one core.

OpenCV runs with one thread and the process is pinned to one CPU (``--no-pin`` to skip), frames
come from the bundled sample scenes (``nodes/vision/samples``, 640x480 JPEGs, one with a person),
decoded once. Prints frames/s per CPU second (what one core delivers: on a shared machine the wall
clock also counts other processes' turns, so it is printed beside), CPU time per frame
percentiles, and the process RSS at the start (after a warm-up), the middle and the end of the
run: it must stay flat over 10,000 frames.

    python bench/vision_cpu.py                       # 10,000 frames, default settings
    python bench/vision_cpu.py --frames 500 --sweep  # compare HOG / cascade settings
    python bench/vision_cpu.py --width 400 --no-cascade
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import cv2
import psutil

from spark.nodes.vision.detectors.cpu import CpuDetector, CpuDetectorConfig
from spark.nodes.vision.sources import SAMPLES, FilesSourceConfig, make_source

TARGET_FPS = 10.0


def frames() -> list[Any]:
    source = make_source(FilesSourceConfig(path=SAMPLES, size=(640, 480), loop=False))
    source.open()
    out = []
    while (frame := source.read()) is not None:
        out.append(frame)
    source.close()
    return out


def detector(**builtin: Any) -> CpuDetector:
    det = CpuDetector(CpuDetectorConfig.model_validate({"threads": 1, "builtin": builtin}))
    det.open()
    return det


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


@dataclass
class Run:
    frames: int
    wall_s: float
    cpu_s: float  # this process's CPU time: what one core delivers, whatever else runs
    latencies: list[float]  # CPU milliseconds per frame
    rss: dict[int, float]  # frame index -> RSS MiB
    found: int

    @property
    def fps(self) -> float:
        return self.frames / self.cpu_s

    @property
    def wall_fps(self) -> float:
        return self.frames / self.wall_s


def run(det: CpuDetector, scenes: list[Any], n: int, threshold: float = 0.5,
        checkpoints: tuple[int, ...] = ()) -> Run:
    latencies: list[float] = []
    rss: dict[int, float] = {}
    found = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(n):
        if i in checkpoints:
            rss[i] = rss_mib()
        t0 = time.thread_time()
        found += len(det.detect(scenes[i % len(scenes)], threshold))
        latencies.append((time.thread_time() - t0) * 1000)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rss[n] = rss_mib()
    return Run(n, wall, cpu, latencies, rss, found)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--width", type=int, default=320, help="working width (builtin.width)")
    p.add_argument("--stride", type=int, default=8, help="HOG window stride")
    p.add_argument("--scale", type=float, default=1.1, help="HOG pyramid scale")
    p.add_argument("--cascade-scale", type=float, default=1.2)
    p.add_argument("--no-cascade", action="store_true", help="HOG only")
    p.add_argument("--sweep", action="store_true", help="compare settings on --frames frames")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = p.parse_args(argv)

    cv2.setNumThreads(1)
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu}; OpenCV {cv2.__version__}, threads {cv2.getNumThreads()}")
    scenes = frames()
    print(f"{len(scenes)} sample scenes, {scenes[0].shape[1]}x{scenes[0].shape[0]}")

    if args.sweep:
        print(f"{'width':>5} {'stride':>6} {'scale':>5} {'cascade':>7} {'fps':>7} {'p95 ms':>7} "
              f"{'hits/frame':>10}")
        for width in (256, 320, 400, 480):
            for stride, scale in ((8, 1.05), (8, 1.1), (8, 1.2), (16, 1.1)):
                for cascade in (True, False):
                    det = detector(width=width, hog_win_stride=stride, hog_scale=scale,
                                   cascade=None if not cascade else
                                   "haarcascade_frontalface_default.xml")
                    r = run(det, scenes, args.frames)
                    print(f"{width:>5} {stride:>6} {scale:>5} {cascade!s:>7} {r.fps:>7.1f} "
                          f"{pct(r.latencies, 95):>7.1f} {r.found / args.frames:>10.2f}")
        return 0

    det = detector(width=args.width, hog_win_stride=args.stride, hog_scale=args.scale,
                   cascade_scale=args.cascade_scale,
                   cascade=None if args.no_cascade else "haarcascade_frontalface_default.xml")
    run(det, scenes, 50)  # warm-up: OpenCV allocates its buffers on first use
    n = args.frames
    r = run(det, scenes, n, checkpoints=(0, n // 2))
    lat = r.latencies
    print(f"detector      {det.model_name} (width {args.width}, stride {args.stride}, "
          f"scale {args.scale})")
    print(f"frames        {n}: {r.fps:.1f} frames/s per CPU second "
          f"({'meets' if r.fps >= TARGET_FPS else 'BELOW'} the {TARGET_FPS:g} frames/s target); "
          f"wall clock {r.wall_fps:.1f} frames/s ({r.cpu_s / r.wall_s:.0%} of the core was ours)")
    print(f"CPU per frame p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, "
          f"max {max(lat):.1f} ms")
    print(f"detections    {r.found} ({r.found / n:.2f} per frame; 1 of {len(scenes)} scenes has "
          "a person)")
    start, middle, end = r.rss[0], r.rss[n // 2], r.rss[n]
    print(f"RSS           start {start:.1f} MiB, middle {middle:.1f} MiB, end {end:.1f} MiB "
          f"(end - start {end - start:+.1f} MiB)")
    return 0 if r.fps >= TARGET_FPS else 1


if __name__ == "__main__":
    raise SystemExit(main())
