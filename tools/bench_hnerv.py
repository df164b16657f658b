"""HNeRV benchmark on a real clip, against x264/x265 at the same bpp.

    python tools/bench_hnerv.py [--input ../shared/data/video/bikes.mp4] [--resize 320x136]
        [--frames 64] [--sizes 0.05M,0.1M,0.2M] [--epochs 300] [--out bench_out/]

For every size: the real encode -> .nirc -> decode; bpp from the file on disk; PSNR/SSIM on
the decoded frames; bits per stored parameter; encode time; decode fps. Anchors encode the same
frames (yuv420p, CRF ladder, medium preset); their PSNR at the INR's bpp is interpolated in
log-rate between ladder points. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import codec  # noqa: E402
from codec.anchors import encode_anchor, interpolate_at_rate  # noqa: E402
from codec.metrics import quality  # noqa: E402
from codec.video.io import Geometry, parse_size, read_video  # noqa: E402

CRFS = (18, 22, 26, 30, 34, 38, 42, 46, 51)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--input", default=str(ROOT.parent / "shared/data/video/bikes.mp4"))
    ap.add_argument("--resize", default="320x136", type=parse_size)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--sizes", default="0.05M,0.1M,0.2M")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--anchors", default="x264,x265")
    ap.add_argument("--out", default="bench_out")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    clip = read_video(args.input, max_frames=args.frames, geometry=Geometry(resize=args.resize))
    t, h, w, _ = clip.frames.shape
    pixels = t * w * h

    curves = {}
    anchor_rows = []
    for name in args.anchors.split(","):
        pts = []
        for crf in CRFS:
            p = encode_anchor(clip.frames, name, crf, clip.fps)
            q = quality(clip.frames, p.frames)
            pts.append((8 * p.bytes / pixels, q.psnr, q.ssim, p.encode_seconds))
        curves[name] = pts
        anchor_rows.append(name)

    rows = []
    for size in args.sizes.split(","):
        out = Path(args.out) / f"hnerv-{size}.nirc"
        r = codec.encode_video(
            args.input,
            out,
            size=size,
            epochs=args.epochs,
            max_frames=args.frames,
            resize=args.resize,
            seed=0,
        )
        t0 = time.perf_counter()
        codec.decode_video(out)
        decode_fps = t / (time.perf_counter() - t0)
        row = {
            "size": size,
            "params": r.params,
            "bytes": r.bytes,
            "bpp": r.bpp,
            "bits_per_param": 8 * r.bytes / r.params,
            "psnr": r.psnr,
            "ssim": r.ms_ssim,
            "kind": r.ssim_kind,
            "enc": r.encode_seconds,
            "dec_fps": decode_fps,
        }
        for name in anchor_rows:
            pts = curves[name]
            row[name] = interpolate_at_rate([p[0] for p in pts], [p[1] for p in pts], r.bpp)
        rows.append(row)
        print(f"done {size}: {row}", file=sys.stderr, flush=True)

    print(
        f"{args.input}, {w}x{h}, {t} frames, {args.epochs} epochs; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} threads\n"
    )
    head = "| size | params | bytes | bpp | bits/param | PSNR dB | SSIM* | encode s | decode fps |"
    head += "".join(f" {n} PSNR @bpp | Δ vs {n} |" for n in anchor_rows)
    print(head)
    print("|" + "---|" * (9 + 2 * len(anchor_rows)))
    for r in rows:
        line = (
            f"| {r['size']} | {r['params']:,} | {r['bytes']:,} | {r['bpp']:.4f} | "
            f"{r['bits_per_param']:.2f} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['enc']:.0f} | "
            f"{r['dec_fps']:.1f} |"
        )
        for n in anchor_rows:
            v = r[n]
            line += " n/a | n/a |" if v is None else f" {v:.2f} | {r['psnr'] - v:+.2f} |"
        print(line)
    print(f"\n*{rows[0]['kind'].upper()} (frames under 161 px tall are too small for MS-SSIM).")
    print("\nAnchor ladders (yuv420p, medium preset; bpp, PSNR dB, encode s):")
    for n in anchor_rows:
        print(
            f"- {n}: "
            + ", ".join(
                f"crf {c}: {b:.4f}/{p:.2f}/{e:.1f}s"
                for c, (b, p, _, e) in zip(CRFS, curves[n], strict=True)
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
