"""Training and decoding speed of every video model on one GPU, on the same clip.

For each model and precision (fp32, and bf16 autocast with --precisions fp32,bf16): seconds
of one training epoch (from two real encodes at two epoch counts, so
fixed costs cancel: codec.speed), epochs per second, the seconds its default epochs would take,
and decode frames per second of the written file on the same device. Prints a Markdown table
for the README. Sized to finish in about 6 minutes on one H200-class GPU at 320x160, 132 frames.

On a machine without CUDA it says so and exits 0 (``--device cpu`` runs the same measurement on
the CPU, which is how the script itself is tested).

    python tools/bench_gpu.py ../shared/data/video/bikes.mp4 --resize 320x160 --frames 132
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from codec import registry, speed  # noqa: E402
from codec.video.io import Geometry, parse_size, read_video  # noqa: E402

EPOCHS = {"hnerv": (5, 15), "hashgrid": (2, 6), "nirvana": (1, 3), "pfnr": (5, 15),
          "c3": (20, 60)}
"""Epoch pairs timed per model (a few seconds each on a GPU)."""
SIZES = {"hnerv": "0.1M", "hashgrid": "200k"}
"""The sizes the issue's baseline was measured at (others: each model's default)."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size, default=(320, 160))
    ap.add_argument("--frames", type=int, default=132)
    ap.add_argument("--models", default=",".join(m.name for m in registry.methods("video")))
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--precisions", default="fp32,bf16",
                    help="training precisions to time (codec.fit.precision)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the timed epoch counts (smaller: a quicker, noisier run)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here; nothing measured (the README's GPU table stays "
              "'not yet measured')")
        return 0
    name = (torch.cuda.get_device_name() if args.device == "cuda"
            else platform.processor() or platform.machine())
    clip = read_video(args.input, max_frames=args.frames, geometry=Geometry(resize=args.resize))
    t, h, w = clip.frames.shape[:3]
    print(f"# {name}, torch {torch.__version__}, {t} frames {w}x{h}, {os.cpu_count()} CPUs")
    print("| model | size | precision | s / epoch | epochs / s | default epochs | "
          "s to default | decode fps | PSNR dB (short run) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for model in filter(None, args.models.split(",")):
        method = registry.method(model, "video")
        if args.device not in method.devices:
            print(f"| {model} | — | — | trains on {', '.join(method.devices)} only "
                  "| | | | | |")
            continue
        size = SIZES.get(model, method.Options().size)
        low, high = EPOCHS.get(model, (1, 3))
        pair = (max(1, round(low * args.scale)), max(2, round(high * args.scale)))
        default = float(method.Options().epochs)
        for precision in filter(None, args.precisions.split(",")):
            m = speed.measure(clip, model, {"size": size}, pair, device=args.device,
                              precision=precision)
            print(f"| {model} | {size} | {precision} | {m.epoch_seconds:.4g} | "
                  f"{1 / m.epoch_seconds:.4g} | {default:g} | "
                  f"{default * m.epoch_seconds:.0f} | {m.decode_fps:.1f} | {m.psnr:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
