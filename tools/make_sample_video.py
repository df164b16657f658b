"""Render the sample clip in assets/: a synthetic scene the project makes itself.

    python tools/make_sample_video.py [-o assets/sample.mp4] [--size 160x96] [--frames 24]

Moving colour gradients, a bouncing disc and a rotating bar: smooth areas, edges and motion,
small enough that `nircodec encode` on it finishes in about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec.video.io import parse_size, write_frames  # noqa: E402


def render(width: int, height: int, frames: int) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of the sample scene (deterministic)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        phase = 2 * np.pi * t / frames
        img = np.stack(
            [
                0.5 + 0.35 * np.sin(x / width * 3 + phase),
                0.5 + 0.35 * np.sin(y / height * 4 - phase),
                0.5 + 0.35 * np.cos((x + y) / (width + height) * 5 + 0.5 * phase),
            ],
            axis=-1,
        )
        cx = width * (0.2 + 0.6 * abs(((t / frames) * 2) % 2 - 1))
        cy = height * (0.5 + 0.3 * np.sin(phase))
        disc = (x - cx) ** 2 + (y - cy) ** 2 < (0.18 * height) ** 2
        img[disc] = (0.95, 0.85, 0.2)
        angle = phase / 2
        u = (x - 0.7 * width) * np.cos(angle) + (y - 0.5 * height) * np.sin(angle)
        v = -(x - 0.7 * width) * np.sin(angle) + (y - 0.5 * height) * np.cos(angle)
        bar = (np.abs(u) < 0.3 * height) & (np.abs(v) < 0.05 * height)
        img[bar] = (0.1, 0.15, 0.6)
        out[t] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-o", "--output", default=str(ROOT / "assets" / "sample.mp4"))
    ap.add_argument("--size", default="160x96", type=parse_size)
    ap.add_argument("--frames", type=int, default=24)
    args = ap.parse_args(argv)
    w, h = args.size
    write_frames(args.output, render(w, h, args.frames), Fraction(24), (w, h))
    print(f"{args.output}: {args.frames} frames {w}x{h}, {Path(args.output).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
