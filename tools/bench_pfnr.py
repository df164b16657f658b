"""PFNR benchmark: three segments of one video appended in turn to one library, against
encoding each segment on its own with HNeRV, at equal PSNR.

For every segment: the bytes its encode or append added to the library file (for video 0,
the whole file: header, sections, table of contents) and its PSNR, then an
HNeRV ladder on the same frames; HNeRV's bytes at the library video's PSNR are interpolated
in log-rate between ladder points (labelled "interpolated"; "—" when outside the ladder).
Both count every byte of their files; PSNR is measured on frames decoded from the files.

    python tools/bench_pfnr.py ../shared/data/video/bikes.mp4 --resize 320x136 --out DIR
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec.api import append_video, decode_video, encode_clip, encode_video  # noqa: E402
from codec.metrics import psnr_per_frame  # noqa: E402
from codec.video.io import Clip, Geometry, parse_size, read_video  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size)
    ap.add_argument("--starts", default="0,100,200", help="first frame of each segment")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="0.3M", help="pfnr shared network size")
    ap.add_argument("--capacity", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=60, help="for pfnr and hnerv alike")
    ap.add_argument("--lmbda", type=float, default=0.0, help="pfnr rate weight")
    ap.add_argument("--hnerv-sizes", default="0.03M,0.06M", help="'' skips the HNeRV ladder")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = read_video(args.input, geometry=Geometry(resize=args.resize))
    starts = [int(v) for v in args.starts.split(",")]
    segments = [Clip(clip.frames[s : s + args.frames], clip.fps) for s in starts]
    lib = out / "library.nirc"
    rows = []
    for k, (start, seg) in enumerate(zip(starts, segments, strict=True)):
        # the same frames as ``seg``, read from the file by the library encode and appends
        frames = {"start": start, "max_frames": args.frames, "resize": args.resize,
                  "epochs": args.epochs, "capacity": args.capacity, "lmbda": args.lmbda}
        if k == 0:
            res = encode_video(args.input, lib, model="pfnr", size=args.size, **frames)
        else:
            res = append_video(lib, args.input, **frames)
        first = psnr_per_frame(segments[0].frames, decode_video(lib, video=0)).mean()
        ladder = []
        for size in filter(None, args.hnerv_sizes.split(",")):
            h = encode_clip(seg, out / f"hnerv-{k}-{size}.nirc", size=size, epochs=args.epochs)
            ladder.append((h.bytes, h.psnr, h.encode_seconds))
        rows.append({"video": k, "bytes": res.bytes, "psnr": res.psnr,
                     "encode_s": res.encode_seconds, "new": res.train["new_weights"],
                     "reused": res.train["reused_weights"], "video0_psnr": float(first),
                     "library_bytes": res.train["library_bytes"], "hnerv": ladder})
        print(rows[-1], file=sys.stderr, flush=True)
    t, h, w = args.frames, *segments[0].frames.shape[1:3]
    print(f"\n{args.input} at {w}x{h}: {len(segments)} segments of {t} frames "
          f"(starts {args.starts}); --epochs {args.epochs}; pfnr --size {args.size} "
          f"--capacity {args.capacity} --lmbda {args.lmbda}; {platform.machine()}, "
          f"{os.cpu_count()} CPU threads\n")
    print("| video | pfnr bytes added to the file | bpp | PSNR dB | new / reused weights | "
          "encode s | video 0 PSNR after this append | HNeRV ladder (bytes / dB / s) | "
          "HNeRV bytes at equal PSNR (interpolated) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    total_h = 0.0
    for r in rows:
        at = _bytes_at(r["hnerv"], r["psnr"]) if r["hnerv"] else None
        total_h = total_h + at if at is not None and total_h is not None else None
        ladder = ", ".join(f"{b:,} / {p:.2f} / {s:.0f}" for b, p, s in r["hnerv"])
        print(f"| {r['video']} | {r['bytes']:,} | {8 * r['bytes'] / (t * w * h):.4f} | "
              f"{r['psnr']:.2f} | {r['new']:,} / {r['reused']:,} | {r['encode_s']:.0f} | "
              f"{r['video0_psnr']:.2f} | {ladder} | "
              f"{'—' if at is None else f'{at:,.0f}'} |")
    lib_bytes = rows[-1]["library_bytes"]
    print(f"\nlibrary file: {lib_bytes:,} B for all {len(rows)} videos; HNeRV at equal PSNR, "
          f"one file each: {'—' if total_h is None else f'{total_h:,.0f} B (interpolated)'}")
    return 0


def _bytes_at(ladder: list[tuple[int, float, float]], psnr: float) -> float | None:
    pts = sorted((p, b) for b, p, _ in ladder)
    if not pts[0][0] <= psnr <= pts[-1][0]:
        return None
    ps = [p for p, _ in pts]
    return float(np.exp(np.interp(psnr, ps, [np.log(b) for _, b in pts])))


if __name__ == "__main__":
    raise SystemExit(main())
