"""Hash-grid encoding speed on this machine: nircodec's vectorised torch implementation against
the straightforward per-level PyTorch loop (one level, one corner at a time, autograd does the
backward — the common nerfstudio/"100 lines" style), same function, same parameters, same run.

    python tools/bench_hashgrid.py [--batch 262144] [--repeat 3]

Prints points/s for forward and forward+backward and the speed-up; checks both agree first.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codec.fields import HashGridConfig, hash_grid_encode
from codec.fields.hashgrid import PRIMES, U32

CONFIGS = {
    "3-D 16 lv x 2 f, 2^19, base 16, x1.5": HashGridConfig(3, 16, 2, 19, 16, 1.5),
    "2-D 16 lv x 2 f, 2^19, base 16, x1.5": HashGridConfig(2, 16, 2, 19, 16, 1.5),
}


def loop_encode(x: torch.Tensor, params: torch.Tensor, cfg: HashGridConfig) -> torch.Tensor:
    """The usual straightforward implementation: a Python loop over levels and corners."""
    geo = cfg.geometry
    table = params.view(-1, cfg.n_features_per_level)
    d = cfg.n_input_dims
    outs = []
    for level in range(cfg.n_levels):
        pos = (x.double() * geo.scales[level] + 0.5).float()  # tcnn's fmaf, one rounding
        cell = torch.floor(pos)
        frac = pos - cell
        cell = cell.long()
        res, size = geo.resolutions[level], geo.sizes[level]
        feat = 0
        for corner in range(2**d):
            w = 1.0
            index = torch.zeros_like(cell[:, 0])
            for k in range(d):
                up = (corner >> k) & 1
                w = w * (frac[:, k] if up else 1 - frac[:, k])
                c = (cell[:, k] + up) & U32
                if geo.hashed[level]:
                    index = index ^ ((c * PRIMES[k]) & U32)
                else:
                    index = (index + c * res**k) & U32
            rows = index % size + geo.offsets[level]
            feat = feat + w.unsqueeze(1) * table[rows]
        outs.append(feat)
    return torch.cat(outs, dim=1)


def timeit(fn, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=2**18)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, batch {args.batch}, best of {args.repeat}")
    print("| config | impl | fwd Mpts/s | fwd+bwd Mpts/s |")
    print("|---|---|---:|---:|")
    for name, cfg in CONFIGS.items():
        params = torch.nn.Parameter(torch.randn(cfg.n_params) * 1e-2)
        x = torch.rand(args.batch, cfg.n_input_dims)
        ref = loop_encode(x[:4096], params, cfg)
        got = hash_grid_encode(x[:4096], params, cfg)
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)
        rates = {}
        for impl, fn in (("per-level loop", loop_encode), ("nircodec", hash_grid_encode)):

            def fwd(fn=fn, x=x, params=params, cfg=cfg):
                with torch.no_grad():
                    fn(x, params, cfg)

            def fwd_bwd(fn=fn, x=x, params=params, cfg=cfg):
                params.grad = None
                fn(x, params, cfg).square().sum().backward()

            rates[impl] = (args.batch / timeit(fwd, args.repeat) / 1e6,
                           args.batch / timeit(fwd_bwd, args.repeat) / 1e6)
            print(f"| {name} | {impl} | {rates[impl][0]:.2f} | {rates[impl][1]:.2f} |", flush=True)
        a, b = rates["nircodec"], rates["per-level loop"]
        print(f"| {name} | **speed-up** | **{a[0] / b[0]:.2f}x** | **{a[1] / b[1]:.2f}x** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
