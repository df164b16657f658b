"""Rate–distortion training, before and after: one model's points without a rate term
("before": ``--lmbda 0``, a size ladder, labelled ``SIZE@0``) and with one ("after":
``SIZE@λ`` points), on the same frames, epochs and seed, against x265 medium on those frames.

Prints every point (bytes from the file on disk, PSNR of the frames decoded from it, stored
values, bits per stored value, encode seconds, decode frames per second) and BD-rate /
BD-PSNR of after against before, and of both against x265 (over each pair's common range).
Points are cached in ``--out`` (``nircodec rd``'s cache): a rerun only encodes what is new.

``--before-points LABEL:BYTES:PSNR:VALUES,...`` takes "before" points measured earlier (e.g.
a README table of the previous version, same frames, epochs and seed) instead of encoding
them again; they are labelled "earlier run" in the output.

    python tools/bench_rd_training.py ../shared/data/video/bikes.mp4 --resize 320x136 \\
        --frames 64 --model hnerv --epochs 300 --before 0.05M,0.1M --after 0.1M@1e-3,1e-2 \\
        --out DIR
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
from codec.bdrate import bd_psnr, bd_rate  # noqa: E402
from codec.container import ContainerReader  # noqa: E402
from codec.errors import InputError  # noqa: E402
from codec.rd import SweepSpec, parse_models, sweep  # noqa: E402
from codec.video.io import parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--model", required=True)
    ap.add_argument("--epochs", type=float, required=True, help="epochs (or steps) per point")
    ap.add_argument("--before", default="", help="sizes without a rate term, e.g. 0.05M,0.1M")
    ap.add_argument("--before-points", default="",
                    help="earlier 'before' points instead: LABEL:BYTES:PSNR:VALUES,...")
    ap.add_argument("--after", required=True, help="rate-trained points, e.g. 0.1M@1e-3,1e-2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    after = parse_models(f"{args.model}:{args.after}")[args.model]
    # "before" is the distortion-only recipe whatever the model's default λ
    before = ([f"{label.partition('@')[0]}@0" for label in
               parse_models(f"{args.model}:{args.before}")[args.model]] if args.before else [])
    spec = SweepSpec(args.input, {args.model: before + after}, ["x265"], "x265",
                     max_frames=args.frames, resize=args.resize,
                     epochs={args.model: args.epochs}, seed=args.seed)
    points = sweep(spec, args.out, quiet=False)
    out = Path(args.out)
    pixels = None
    rows = []
    for p in points:
        if p.curve != args.model:
            continue
        with ContainerReader(out / f"{p.curve}-{p.label}.nirc") as r:
            values = registry.read(r).params()
            frames = r.header["video"]["frames"] if "video" in r.header else args.frames
        pixels = 8 * p.bytes / p.bpp
        rows.append({"kind": "before" if p.label.endswith("@0") else "after", "label": p.label,
                     "bytes": p.bytes, "bpp": p.bpp, "psnr": p.psnr, "values": values,
                     "encode_s": p.encode_seconds, "fps": frames / p.decode_seconds,
                     "source": "this run"})
    for entry in filter(None, args.before_points.split(",")):
        label, nbytes, psnr, values = entry.split(":")
        rows.append({"kind": "before", "label": label, "bytes": int(nbytes),
                     "bpp": 8 * int(nbytes) / pixels, "psnr": float(psnr),
                     "values": int(values), "encode_s": None, "fps": None,
                     "source": "earlier run"})
    x265 = sorted((p for p in points if p.curve == "x265"), key=lambda p: p.bpp)

    at = "" if args.resize is None else f" at {args.resize[0]}x{args.resize[1]}"
    print(f"\n{args.input}, {args.frames} frames{at}, {args.model}, "
          f"{args.epochs:g} epochs, seed {args.seed}; {platform.machine()}, "
          f"{os.cpu_count()} CPU threads\n")
    print("| points | label | bytes | bpp | PSNR dB | stored values | bits/value | encode s | "
          "decode fps |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["kind"] != "before", r["bpp"])):
        enc = "—" if r["encode_s"] is None else f"{r['encode_s']:.0f}"
        fps = "—" if r["fps"] is None else f"{r['fps']:.1f}"
        src = "" if r["source"] == "this run" else f" ({r['source']})"
        print(f"| {r['kind']}{src} | {r['label']} | {r['bytes']:,} | {r['bpp']:.4f} | "
              f"{r['psnr']:.2f} | {r['values']:,} | {8 * r['bytes'] / r['values']:.2f} | "
              f"{enc} | {fps} |")
    print("\nx265 medium (CRF: bpp / PSNR dB): "
          + ", ".join(f"{p.label[3:]}: {p.bpp:.4f} / {p.psnr:.2f}" for p in x265))
    curves = {"before": [r for r in rows if r["kind"] == "before"],
              "after": [r for r in rows if r["kind"] == "after"],
              "x265": [{"bpp": p.bpp, "psnr": p.psnr} for p in x265]}
    print()
    for test, ref in (("after", "before"), ("after", "x265"), ("before", "x265")):
        print(f"- {test} against {ref}: {_bd(curves[ref], curves[test])}")
    return 0


def _bd(ref: list[dict], test: list[dict]) -> str:
    try:
        args = ([r["bpp"] for r in ref], [r["psnr"] for r in ref],
                [r["bpp"] for r in test], [r["psnr"] for r in test])
        return f"BD-rate {bd_rate(*args):+.1f} %, BD-PSNR {bd_psnr(*args):+.2f} dB"
    except InputError as exc:
        return f"no BD value ({exc})"


if __name__ == "__main__":
    raise SystemExit(main())
