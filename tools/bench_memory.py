"""Peak memory of encoding a long clip with each video codec, against codec.memory's estimate.

Builds a FRAMES-frame clip at WxH from INPUT (played forwards and backwards until long enough;
written once as H.264 into OUT), then runs ``nircodec encode`` on it once per model in a child
process and reads that child's peak resident set size from ``os.wait4`` (what
``/usr/bin/time -v`` reports as "Maximum resident set size"). Training is cut short with
``--time-budget``: peak memory is reached in the first steps and in the final decode and
measurement of all frames, so a longer run does not raise it.

    python tools/bench_memory.py ../shared/data/video/bikes.mp4 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import registry  # noqa: E402
from codec.memory import encode_estimate  # noqa: E402
from codec.options import parse_count  # noqa: E402
from codec.video.io import Geometry, iter_video, parse_size, write_frames  # noqa: E402

MODELS = tuple(m.name for m in registry.methods("video"))
SIZES = {m.name: m.Options.size for m in registry.methods("video")}  # their defaults


def make_clip(source: str, path: Path, frames: int, size: tuple[int, int]) -> None:
    base = np.stack(list(iter_video(source, geometry=Geometry(resize=size))))
    cycle = np.concatenate([base, base[::-1]])
    reps = -(-frames // len(cycle))
    from fractions import Fraction

    write_frames(path, np.concatenate([cycle] * reps)[:frames], Fraction(25), size)


def run(cmd: list[str]) -> tuple[int, float, str, int]:
    """(exit code, seconds, stdout, peak RSS in bytes) of a child process."""
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, out, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--size", type=parse_size, default=(320, 180), metavar="WxH")
    ap.add_argument("--time-budget", type=float, default=30.0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = out / f"clip{args.frames}.mp4"
    if not clip.exists():
        make_clip(args.input, clip, args.frames, args.size)
    w, h = args.size
    rows = []
    for model in args.models.split(","):
        cmd = [sys.executable, "-m", "codec", "encode", str(clip), "-o",
               str(out / f"{model}.nirc"), "--model", model, "--size", SIZES[model],
               "--time-budget", str(args.time_budget), "--quiet", "--json"]
        code, seconds, stdout, peak = run(cmd)
        res = json.loads(stdout) if code == 0 else {}
        est = encode_estimate(registry.method(model), args.frames, w, h,
                              parse_count(SIZES[model]))
        rows.append((model, code, seconds, peak, est, res))
        print(model, code, f"{peak / 2**20:.0f} MiB", file=sys.stderr, flush=True)
    print(f"\n{args.frames} frames of {w}x{h} ({args.frames * w * h * 3 / 2**20:.0f} MiB as "
          f"uint8), --time-budget {args.time_budget:g}; {platform.machine()}, "
          f"{os.cpu_count()} CPU threads\n")
    print("| model | --size | peak RSS MiB | estimate MiB (codec.memory) | run s | bytes | "
          "PSNR dB |\n|---|---|---:|---:|---:|---:|---:|")
    for model, code, seconds, peak, est, res in rows:
        tail = (f"{res['bytes']:,} | {res['psnr']:.2f}" if code == 0 else f"exit {code} | —")
        print(f"| {model} | {SIZES[model]} | {peak / 2**20:,.0f} | {est / 2**20:,.0f} | "
              f"{seconds:.0f} | {tail} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
