"""What Ray buys a rate–distortion sweep on this machine, measured side by side in one run.

1. **Throughput.** Two inputs (y4m clips cut from ``INPUT``: frames 0.. and a second shot
   further on, resized) × a ladder of points, run (a) one after another in this process,
   each point with every core (``codec.rd.sweep`` per input: today's sequential path), and
   (b) as ``nircodec rd`` does it, on an embedded Ray with ``--task-cpus`` per task. Both
   start from an empty cache; the table prints both wall times and their ratio.
2. **Overhead.** On tiny points (a 48×32, 4-frame clip, 1 epoch each): Ray's start-up and
   shutdown (a sweep whose points are all cached), and the per-task scheduling overhead:
   (Ray wall − start-up − the points' own encode + decode seconds) / tasks, with one task
   at a time (each task takes every core).

    python tools/bench_sweep.py ../shared/data/video/bikes.mp4 --resize 320x136 --frames 24 \\
        --models hnerv:20k,40k,80k,160k --epochs 30
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec.rd import SweepSpec, parse_epochs, parse_models, sweep  # noqa: E402
from codec.sweep import VIDEO, Engine, run_sweep  # noqa: E402
from codec.video.io import Geometry, parse_size, read_video, write_frames  # noqa: E402


def cut(source: str, out: Path, start: int, frames: int, size) -> Path:
    clip = read_video(source, start=start, max_frames=frames, geometry=Geometry(resize=size))
    write_frames(out, clip.frames, clip.fps, clip.size)
    return out


def ray_sweep(specs, outs, cpus: float) -> tuple[float, list]:
    t0 = time.perf_counter()
    points = run_sweep(VIDEO, specs, outs, Engine(task_cpus=cpus), quiet=True)
    return time.perf_counter() - t0, [p for per_input in points for p in per_input]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size, default=(320, 136))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--second-start", type=int, default=120,
                    help="first frame of the second input")
    ap.add_argument("--models", default="hnerv:20k,40k,80k,160k")
    ap.add_argument("--epochs", default="30")
    ap.add_argument("--task-cpus", type=float, default=1.0)
    ap.add_argument("--tiny-points", type=int, default=8)
    args = ap.parse_args(argv)

    cores = os.cpu_count() or 1
    models = parse_models(args.models)
    curve = next(iter(models))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tmp = Path(tmp)
        inputs = [cut(args.input, tmp / "a.y4m", 0, args.frames, args.resize),
                  cut(args.input, tmp / "b.y4m", args.second_start, args.frames, args.resize)]
        template = SweepSpec(str(inputs[0]), models, [], curve, epochs=parse_epochs(
            args.epochs, models))
        specs = [replace(template, input=str(p)) for p in inputs]
        points = sum(len(v) for v in models.values()) * len(specs)

        t0 = time.perf_counter()
        seq_points = [p for i, spec in enumerate(specs) for p in sweep(spec, tmp / f"seq{i}")]
        sequential = time.perf_counter() - t0
        parallel, ray_points = ray_sweep(specs, [tmp / f"ray{i}" for i in range(len(specs))],
                                         args.task_cpus)
        seq_encode = sum(p.encode_seconds for p in seq_points)
        ray_encode = sum(p.encode_seconds for p in ray_points)

        # overhead: tiny points, one task at a time (each takes every core)
        from tests.conftest import make_clip

        tiny = make_clip(tmp / "tiny.mp4", 48, 32, 4)
        labels = [f"{6 + k}k" for k in range(args.tiny_points)]
        tiny_spec = SweepSpec(str(tiny), {curve: labels}, [], curve, epochs={curve: 1.0})
        t0 = time.perf_counter()
        done = sweep(tiny_spec, tmp / "tiny-seq")
        tiny_seq = time.perf_counter() - t0
        own = sum(p.encode_seconds + p.decode_seconds for p in done)
        tiny_ray, _ = ray_sweep([tiny_spec], [tmp / "tiny-ray"], float(cores))
        cached, _ = ray_sweep([tiny_spec], [tmp / "tiny-ray"], float(cores))  # start-up only
        per_task = (tiny_ray - cached - own) / len(labels)

    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores; "
          f"inputs: 2 x {args.frames} frames {args.resize[0]}x{args.resize[1]}; "
          f"{args.models} at {args.epochs} epochs")
    print()
    print("| run | points | wall s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| one after another, {cores} threads each (codec.rd.sweep) | {points} | "
          f"{sequential:.1f} | 1.00 |")
    print(f"| Ray, --task-cpus {args.task_cpus:g} | {points} | {parallel:.1f} | "
          f"{parallel / sequential:.2f} |")
    print()
    print(f"Sum of the points' encode seconds: {seq_encode:.1f} with {cores} threads each, "
          f"{ray_encode:.1f} with {args.task_cpus:g} (Ray): a point runs "
          f"{ray_encode / seq_encode:.2f}x as long on {args.task_cpus:g} thread(s), which bounds "
          f"the ratio at about {ray_encode / seq_encode / cores * args.task_cpus:.2f} here.")
    print()
    print("| overhead (tiny points) | seconds |")
    print("|---|---:|")
    print(f"| Ray start-up + shutdown (all points cached) | {cached:.1f} |")
    print(f"| {len(labels)} tiny points in this process | {tiny_seq:.1f} "
          f"(their own encode + decode: {own:.1f}) |")
    print(f"| the same on Ray, one task at a time | {tiny_ray:.1f} |")
    print(f"| scheduling overhead per task | {per_task:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
