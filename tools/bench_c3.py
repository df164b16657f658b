"""c3 against HNeRV, hashgrid, x264 and x265 medium on the same frames.

Runs ``nircodec rd``'s sweep (every point a real file, decoded by the real decoder; points
cached in ``--out``) and prints one table: bytes, bpp, PSNR, encode seconds, decode frames per
second, and for c3 the multiply-adds per decoded pixel; then BD-rate / BD-PSNR of every curve
against x265 medium and of c3 against each INR curve (over each pair's common range).

``--context-cost`` also measures what the vectorised context costs: on the latents of one c3
file (decoded from it), a context model of the same size is trained to convergence with
c3's context (previous slice, parent level, checkerboard neighbours) and with a fully causal
one (the same plus every causal neighbour of a raster scan within 2 cells, no checkerboard);
it prints both estimated rates (float models on the same integers: an estimate, labelled so).

``--hnerv-points LABEL:BYTES:PSNR:ENCODE_S:FPS,...`` takes HNeRV points measured earlier (same
frames, seed and machine; e.g. the README's table) instead of encoding them again (15 minutes
each on 2 cores); they are marked "earlier run".

    python tools/bench_c3.py ../shared/data/video/bikes.mp4 --resize 320x136 --frames 64 \\
        --c3 2k@1e-2,3e-2,1e-1 --c3-epochs 250 --hashgrid 400k@0.003,0.01,0.03 \\
        --hnerv-points ... --out DIR --context-cost
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from codec.bdrate import bd_psnr, bd_rate  # noqa: E402
from codec.container import ContainerReader  # noqa: E402
from codec.errors import InputError  # noqa: E402
from codec.rate import laplace_bits  # noqa: E402
from codec.rd import SweepSpec, parse_models, sweep  # noqa: E402
from codec.registry import read  # noqa: E402
from codec.video.c3.context import (  # noqa: E402
    CLAMP,
    level_contexts,
    parent_window,
    scale_of,
)
from codec.video.io import parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--c3", default="2k@1e-2,3e-2,1e-1", help="c3 points, SIZE@λ,λ,...")
    ap.add_argument("--c3-epochs", type=float, default=250.0)
    ap.add_argument("--hashgrid", default="400k@0.003,0.01,0.03", help="'' to skip")
    ap.add_argument("--hashgrid-epochs", type=float, default=20.0)
    ap.add_argument("--hnerv", default="", help="HNeRV points to encode, e.g. 0.1M@1e-3")
    ap.add_argument("--hnerv-epochs", type=float, default=300.0)
    ap.add_argument("--hnerv-points", default="",
                    help="earlier HNeRV points instead: LABEL:BYTES:PSNR:ENCODE_S:FPS,...")
    ap.add_argument("--anchors", default="x264,x265")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--context-cost", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    models = {"c3": parse_models(f"c3:{args.c3}")["c3"]}
    epochs = {"c3": args.c3_epochs}
    for name in ("hashgrid", "hnerv"):
        ladder = getattr(args, name)
        if ladder:
            models[name] = parse_models(f"{name}:{ladder}")[name]
            epochs[name] = getattr(args, f"{name}_epochs")
    anchors = [a for a in args.anchors.split(",") if a]
    spec = SweepSpec(args.input, models, anchors, "x265" if "x265" in anchors else anchors[0],
                     max_frames=args.frames, resize=args.resize, epochs=epochs, seed=args.seed)
    points = sweep(spec, args.out, quiet=False)
    out = Path(args.out)
    rows = []
    for p in points:
        row = {"curve": p.curve, "label": p.label, "bytes": p.bytes, "bpp": p.bpp,
               "psnr": p.psnr, "encode_s": p.encode_seconds, "fps": None, "macs": None,
               "source": "this run"}
        if p.curve in models:
            with ContainerReader(out / f"{p.curve}-{p.label}.nirc") as r:
                codec = read(r)
            row["fps"] = codec.video.frames / p.decode_seconds
            if p.curve == "c3":
                row["macs"] = codec.config.macs_per_pixel()["total"]
        else:
            row["fps"] = args.frames / p.decode_seconds
        rows.append(row)
    pixels = 8 * points[0].bytes / points[0].bpp
    for entry in filter(None, args.hnerv_points.split(",")):
        label, nbytes, psnr, enc, fps = entry.split(":")
        rows.append({"curve": "hnerv", "label": label, "bytes": int(nbytes),
                     "bpp": 8 * int(nbytes) / pixels, "psnr": float(psnr),
                     "encode_s": float(enc), "fps": float(fps), "macs": None,
                     "source": "earlier run"})

    at = "" if args.resize is None else f" at {args.resize[0]}x{args.resize[1]}"
    print(f"\n{Path(args.input).name}{at}, {args.frames} frames, seed {args.seed}; "
          f"{platform.machine()}, {os.cpu_count()} CPU threads; c3 {args.c3_epochs:g} epochs")
    print("\n| curve | point | bytes | bpp | PSNR dB | encode s | decode fps | MAC/pixel |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["curve"], r["bpp"])):
        note = " (earlier run)" if r["source"] != "this run" else ""
        print(f"| {r['curve']} | {r['label']}{note} | {r['bytes']:,} | {r['bpp']:.4f} | "
              f"{r['psnr']:.2f} | {r['encode_s']:.0f} | "
              f"{'-' if r['fps'] is None else format(r['fps'], '.1f')} | "
              f"{'-' if r['macs'] is None else format(r['macs'], '.0f')} |")

    curves: dict[str, list[dict]] = {}
    for r in rows:
        curves.setdefault(r["curve"], []).append(r)
    print("\n| test | anchor | BD-rate | BD-PSNR dB |")
    print("|---|---|---:|---:|")
    pairs = [(c, spec.reference) for c in curves if c != spec.reference]
    pairs += [("c3", c) for c in curves if c not in ("c3", *anchors)]
    for test, ref in pairs:
        if len(curves.get(test, [])) < 2 or len(curves.get(ref, [])) < 2:
            continue
        a = sorted(curves[ref], key=lambda r: r["bpp"])
        b = sorted(curves[test], key=lambda r: r["bpp"])
        ra, pa = [r["bpp"] for r in a], [r["psnr"] for r in a]
        rb, pb = [r["bpp"] for r in b], [r["psnr"] for r in b]
        try:
            rate, psnr = bd_rate(ra, pa, rb, pb), bd_psnr(ra, pa, rb, pb)
        except InputError:  # the curves do not overlap: no BD value
            rate = psnr = None
        print(f"| {test} | {ref} | {_fmt(rate, '%')} | {_fmt(psnr, '')} |")

    if args.context_cost:
        c3 = sorted((r for r in rows if r["curve"] == "c3"), key=lambda r: r["bpp"])
        mid = c3[len(c3) // 2]
        context_cost(out / f"c3-{mid['label']}.nirc", mid["bytes"])
    return 0


def _fmt(v: float | None, unit: str) -> str:
    if v is None or not math.isfinite(v):
        return "n/a (no common range)"
    return f"{v:+.1f} %" if unit == "%" else f"{v:+.2f}"


# -- the context's rate cost -------------------------------------------------------------------
def causal_contexts(grid: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
    """A fully causal context of a raster scan: c3's previous-slice and parent windows plus
    the 12 already-coded neighbours within 2 cells (rows −2, −1; row 0, columns −2, −1)."""
    h, w = grid.shape[1:]
    g = F.pad(grid.clamp(-CLAMP, CLAMP)[:, None], (2, 2, 2, 2))[:, 0]
    own = [g[:, 2 + dr : 2 + dr + h, 2 + dc : 2 + dc + w]
           for dr in (-2, -1, 0) for dc in range(-2, 3) if dr < 0 or dc < 0]
    base = level_contexts(grid, parent)[..., :18]  # previous-slice and parent windows
    return torch.cat([base, torch.stack(own, -1)], -1)


def context_cost(path: Path, coded_bytes: int, steps: int = 1500, batch: int = 1 << 17
                 ) -> None:
    """Estimated bits of a file's latents under a context model trained on them, for c3's
    context and for a fully causal one."""
    with ContainerReader(path) as r:
        codec = read(r)
    cfg = codec.config
    groups = [[torch.from_numpy(x).double() for x in codec.latents(g)]
              for g in range(codec.groups)]
    results = {}
    for kind in ("c3 (checkerboard, vectorised)", "fully causal (raster)"):
        torch.manual_seed(0)
        inputs, targets = [], []
        for levels in groups:
            coarser = None
            for lv in reversed(range(cfg.levels)):
                g = levels[lv]
                nxt = cfg.time_stride(min(lv + 1, cfg.levels - 1))
                parent = parent_window(coarser, tuple(g.shape), cfg.time_stride(lv), nxt)
                ctx = (level_contexts(g, parent) if kind.startswith("c3")
                       else causal_contexts(g, parent))
                inputs.append(ctx.reshape(-1, ctx.shape[-1]).float())
                targets.append(g.reshape(-1).float())
                coarser = g
        x, y = torch.cat(inputs), torch.cat(targets)
        h = cfg.arm_width
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], h), torch.nn.ReLU(),
                                  torch.nn.Linear(h, h), torch.nn.ReLU(), torch.nn.Linear(h, 2))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(0)
        for i in range(steps):  # minibatches of latents, cosine decay
            for group in opt.param_groups:
                group["lr"] = 1e-2 * 0.5 * (1 + math.cos(math.pi * i / steps))
            pick = torch.randint(0, len(y), (batch,), generator=gen)
            out = net(x[pick])
            loss = laplace_bits(y[pick], out[:, 0], scale_of(out[:, 1]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = torch.cat([net(x[s : s + batch]) for s in range(0, len(y), batch)])
            results[kind] = float(laplace_bits(y, out[:, 0], scale_of(out[:, 1]))) / 8
    print(f"\nContext cost on {path.name} ({sum(x.numel() for g in groups for x in g):,} "
          f"latents, coded {coded_bytes:,} B with the file's context model):")
    print("\n| context | estimated latent bytes (float model trained on the file's latents) |")
    print("|---|---:|")
    for kind, b in results.items():
        print(f"| {kind} | {b:,.0f} |")
    a, c = results.values()
    print(f"\nThe vectorised context costs {100 * (a / c - 1):+.1f} % against the fully causal "
          "one (estimate).")


if __name__ == "__main__":
    raise SystemExit(main())
