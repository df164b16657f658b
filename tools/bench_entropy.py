"""Entropy coder benchmark: bits/symbol against the empirical entropy, and throughput.

    python tools/bench_entropy.py [--n 1000000] [--repeat 3]

Prints a Markdown table. "overhead" = coded size / ideal order-0 size - 1 (table included);
MB/s counts coded bytes (output of the encoder, input of the decoder).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import entropy


def distributions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    weights = rng.normal(0, 1, n)
    return {
        "Laplacian b=3": np.round(rng.laplace(0, 3, n)),
        "Laplacian b=0.5": np.round(rng.laplace(0, 0.5, n)),
        "Gaussian σ=20": np.round(rng.normal(0, 20, n)),
        "8-bit weights (N(0,1), min/max)": np.round(
            (weights - weights.min()) * 255 / (weights.max() - weights.min())
        ),
        "geometric p=0.9 (sparse)": rng.geometric(0.9, n) - 1,
        "uniform 8-bit": rng.integers(0, 256, n),
        "uniform 16-bit": rng.integers(0, 1 << 16, n),
        "Laplacian b=3 + 0.1% outliers": np.where(
            rng.random(n) < 1e-3, rng.integers(-(10**6), 10**6, n), np.round(rng.laplace(0, 3, n))
        ),
    }


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(
        f"{args.n:,} symbols each; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; best of {args.repeat}\n"
    )
    print(
        "| distribution | entropy bits/sym | coded bits/sym | overhead | table B "
        "| encode Msym/s | decode Msym/s | encode MB/s | decode MB/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, x in distributions(args.n, rng).items():
        x = x.astype(np.int64)
        data, stats = entropy.encode_with_stats(x)
        assert np.array_equal(entropy.decode(data), x)
        h = entropy.empirical_entropy_bits(x) / x.size
        coded = 8 * len(data) / x.size
        t_enc = best_time(lambda x=x: entropy.encode(x), args.repeat)
        t_dec = best_time(lambda d=data: entropy.decode(d), args.repeat)
        print(
            f"| {name} | {h:.4f} | {coded:.4f} | {100 * (coded / h - 1):+.2f}% "
            f"| {stats.table_bytes} | {x.size / t_enc / 1e6:.1f} | {x.size / t_dec / 1e6:.1f} "
            f"| {len(data) / t_enc / 1e6:.1f} | {len(data) / t_dec / 1e6:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
