"""HNeRV benchmark on a real clip, against x264/x265 at the same bpp.

    python tools/bench_hnerv.py [--input ../shared/data/video/bikes.mp4] [--resize 320x136]
        [--frames 64] [--sizes 0.05M,0.1M,0.2M] [--epochs 300] [--out rd_bikes]

Runs the same sweep as `nircodec rd` (and shares its cache in --out, so `nircodec rd` on the
same options afterwards reuses every point): for each size the real encode -> .nirc -> decode,
bpp from the file on disk, PSNR/SSIM on the decoded frames; anchors encode the same frames
(yuv420p, CRF ladder, medium preset). Prints a Markdown table with bits per stored parameter,
encode time, decode speed, and each anchor's PSNR at the INR's bpp (interpolated in log-rate
between ladder points) and its encode time there.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import registry  # noqa: E402
from codec.anchors import interpolate_at_rate  # noqa: E402
from codec.container import ContainerReader  # noqa: E402
from codec.rd import SweepSpec, curves_of, sweep, write_outputs  # noqa: E402
from codec.video.io import parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--input", default=str(ROOT.parent / "shared/data/video/bikes.mp4"))
    ap.add_argument("--resize", default="320x136", type=parse_size)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--sizes", default="0.05M,0.1M,0.2M")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--anchors", default="x264,x265")
    ap.add_argument("--out", default="rd_bikes")
    args = ap.parse_args(argv)
    anchors = args.anchors.split(",")
    spec = SweepSpec(
        args.input,
        {"hnerv": args.sizes.split(",")},
        anchors,
        anchors[-1],
        max_frames=args.frames,
        resize=args.resize,
        epochs={"hnerv": args.epochs},
    )
    points = sweep(spec, args.out, quiet=False)
    write_outputs(points, spec, args.out)
    curves = curves_of(points)
    w, h = args.resize
    print(
        f"{os.path.basename(args.input)}, {w}x{h}, {args.frames} frames, {args.epochs} "
        f"epochs, seed 0; {platform.machine()}, {os.cpu_count()} CPU threads\n"
    )
    head = "| size | params | bytes | bpp | bits/param | PSNR dB | SSIM* | encode s | decode fps |"
    head += "".join(f" {a} PSNR at bpp | Δ dB vs {a} | {a} encode s |" for a in anchors)
    print(head)
    print("|" + "---|" * (9 + 3 * len(anchors)))
    for p in sorted(curves["hnerv"], key=lambda p: p.bpp):
        with ContainerReader(Path(args.out) / f"hnerv-{p.label}.nirc") as r:
            params = registry.read(r).params()
        line = (
            f"| {p.label} | {params:,} | {p.bytes:,} | {p.bpp:.4f} | "
            f"{8 * p.bytes / params:.2f} | {p.psnr:.2f} | {p.ms_ssim:.4f} | "
            f"{p.encode_seconds:.0f} | {args.frames / p.decode_seconds:.1f} |"
        )
        for a in anchors:
            pts = curves[a]
            q = interpolate_at_rate([x.bpp for x in pts], [x.psnr for x in pts], p.bpp)
            t = interpolate_at_rate([x.bpp for x in pts], [x.encode_seconds for x in pts], p.bpp)
            line += (
                " below the ladder | n/a | n/a |"
                if q is None
                else f" {q:.2f} | {p.psnr - q:+.2f} | {t:.1f} |"
            )
        print(line)
    print(
        f"\n*{curves['hnerv'][0].ssim_kind.upper()}: frames under 161 px are too small for "
        "MS-SSIM's four downsamplings."
    )
    for a in anchors:
        print(
            f"\n{a} ladder (CRF: bpp / PSNR dB / encode s): "
            + ", ".join(
                f"{x.label[3:]}: {x.bpp:.4f} / {x.psnr:.2f} / {x.encode_seconds:.1f}"
                for x in curves[a]
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
