"""Measure the time model behind the speed presets (codec.presets) and check it.

For each video model, encodes a few frames of the input at two epoch counts and two sizes (every
encode through the real pipeline, file written, decoded and measured) and prints:

- seconds of one training epoch per megapixel of the clip at each size and resolution, from the
  difference of the two epoch counts (the fixed costs cancel);
- the ``epoch_cost`` / ``cost_exponent`` those give (the constants a method states), next to the
  ones the method states now;
- seconds of writing, decoding and measuring per megapixel (a method's ``measure_cost``).

``--check WxH:FRAMES`` then runs each model's default encode (``--preset``, default medium, no
``--epochs``) of that many frames resized to WxH and prints the estimate against the measured
time.

    python tools/bench_presets.py ../shared/data/video/bikes.mp4 --sizes 320x136,640x272 \\
        --frames 8 --check 1280x720:132 --models hnerv
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import presets, registry, speed  # noqa: E402
from codec.encode import encode_clip  # noqa: E402
from codec.video.io import Geometry, parse_size, read_video  # noqa: E402

EPOCHS = {"hnerv": (2, 6), "hashgrid": (1, 3), "nirvana": (1, 3), "pfnr": (2, 6),
          "c3": (4, 12)}
"""Epoch pairs timed per model (short: the difference is what counts)."""


def calibrate(input: str, model: str, resolutions, frames: int, sizes, threads: int
              ) -> list[dict]:
    rows = []
    method = registry.method(model)
    for wh in resolutions:
        clip = read_video(input, max_frames=frames, geometry=Geometry(resize=wh))
        for size in sizes:
            m = speed.measure(clip, model, {"size": size}, EPOCHS.get(model, (1, 3)),
                              threads=threads)
            rows.append({"model": model, "size": size, "params": m.params,
                         "wh": f"{wh[0]}x{wh[1]}", "pixels": m.pixels,
                         "epoch_s": m.epoch_seconds, "per_mpix": m.per_mpix,
                         "measure_per_mpix": m.fixed_seconds / m.pixels * 1e6,
                         "stated": presets.epoch_seconds(method, m.pixels, m.params)})
            print(f"  {model} {size} {wh[0]}x{wh[1]}x{frames}: {m.epoch_seconds:.2f} s/epoch",
                  file=sys.stderr, flush=True)
    return rows


def fitted(rows: list[dict], method) -> tuple[float, float]:
    """(epoch_cost at the method's cost_params, exponent) from a log-log fit over sizes."""
    by_size: dict[int, list[float]] = {}
    for r in rows:
        by_size.setdefault(r["params"], []).append(r["per_mpix"] / 1e6)
    points = sorted((p, sum(v) / len(v)) for p, v in by_size.items())
    if len(points) < 2:
        p, c = points[0]
        exponent = method.cost_exponent
    else:
        (p0, c0), (p1, c1) = points[0], points[-1]
        exponent = math.log(c1 / c0) / math.log(p1 / p0)
        p, c = p1, c1
    return c * (method.cost_params / p) ** exponent, exponent


def check(input: str, model: str, wh, frames: int, preset: str | None, threads: int) -> dict:
    clip = read_video(input, max_frames=frames, geometry=Geometry(resize=wh))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = encode_clip(clip, os.path.join(tmp, "x.nirc"), model=model, threads=threads,
                             preset=preset)
        seconds = time.perf_counter() - t0
    plan = result.train["plan"]
    return {"model": model, "wh": f"{wh[0]}x{wh[1]}", "frames": clip.frames.shape[0],
            "preset": plan["preset"], "epochs": plan.get("epochs", plan.get("steps")),
            "estimate": plan["estimate_seconds"], "measured": seconds,
            "psnr": result.psnr, "bytes": result.bytes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--models", default="hnerv,hashgrid,nirvana,pfnr,c3")
    ap.add_argument("--sizes", default="320x136,640x272", help="resolutions WxH,...")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--params", default="", help="network sizes to fit the exponent, e.g. "
                    "50k,0.2M (default: each model's default size only)")
    ap.add_argument("--check", help="WxH:FRAMES: time each model's preset encode of this")
    ap.add_argument("--preset", choices=list(presets.PRESETS))
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    print(f"# {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"{os.cpu_count()} CPUs")
    if not args.no_calibrate:
        resolutions = [parse_size(s) for s in args.sizes.split(",") if s]
        print("| model | size | params | frames WxH | s / epoch | s / epoch / Mpx | "
              "stated s / epoch | write+decode+measure s / Mpx |")
        print("|---|---|---:|---|---:|---:|---:|---:|")
        for model in models:
            method = registry.method(model)
            sizes = [s for s in args.params.split(",") if s] or [method.Options().size]
            rows = calibrate(args.input, model, resolutions, args.frames, sizes, args.threads)
            for r in rows:
                stated = "—" if r["stated"] is None else f"{r['stated']:.2f}"
                print(f"| {model} | {r['size']} | {r['params']:,} | {args.frames}× {r['wh']} | "
                      f"{r['epoch_s']:.2f} | {r['per_mpix']:.3f} | {stated} | "
                      f"{r['measure_per_mpix']:.3f} |")
            cost, exponent = fitted(rows, method)
            print(f"<!-- {model}: epoch_cost = {cost:.3g} at {method.cost_params:,} params, "
                  f"cost_exponent = {exponent:.2f} (stated: {method.epoch_cost}, "
                  f"{method.cost_exponent}) -->")
    if args.check:
        wh_text, _, n = args.check.partition(":")
        wh, frames = parse_size(wh_text), int(n or 132)
        print("\n| model | frames | preset | epochs | estimated s | measured s | PSNR dB | "
              "bytes |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for model in models:
            r = check(args.input, model, wh, frames, args.preset, args.threads)
            est = "—" if r["estimate"] is None else f"{r['estimate']:.0f}"
            print(f"| {model} | {r['frames']}× {r['wh']} | {r['preset']} | {r['epochs']:g} | "
                  f"{est} | {r['measured']:.0f} | {r['psnr']:.2f} | {r['bytes']:,} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
