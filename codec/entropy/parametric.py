"""Parametric frequency tables: a discrete Laplace (two-sided geometric) law over a window,
named by three small integers, so a stream can carry a table in a few bytes instead of a
histogram, and can give each segment of its symbols (each tensor of a section) a table of its
own.

The decoder derives a table from its parameters with integer arithmetic only
(:func:`laplace_frequencies`): the same bits on every machine, thread count and library
version, as a stored table would be. Floats appear only in the encoder's choice of the
parameters (:func:`fit_laplace`), which is free to be approximate: it stores what it chose.

A table of ``width`` symbols with mode ``center`` and ratio ``r`` (``ratio / 2**16``) gives
symbol ``k`` the mass ``m(|k - center|)``, ``m(0) = 2**32``, ``m(d + 1) = floor(m(d) * ratio
/ 2**16)``; the frequencies are ``1 + floor(m(k) * (TOTAL - width) / sum(m))`` with what is
left of ``TOTAL`` added to the center. Rate–distortion training prices weights with the same
family (``codec.rate.LaplaceDensity``), so the file codes what training priced.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from codec.entropy.histogram import TOTAL

RATIO_BITS = 16
MAX_RATIO = (1 << RATIO_BITS) - 1
MAX_WIDTH = 1 << 12  # symbols of one derived table
SCALE_STEPS = (0.7, 0.85, 1.0, 1.15, 1.4)  # scales tried around the closed-form fit


@functools.lru_cache(maxsize=4096)
def _frequencies(width: int, center: int, ratio: int) -> tuple[int, ...]:
    far = max(center, width - 1 - center)
    mass = [1 << 32]
    for _ in range(far):
        mass.append((mass[-1] * ratio) >> RATIO_BITS)
    m = [mass[abs(k - center)] for k in range(width)]
    total, spare = sum(m), TOTAL - width
    f = [1 + (v * spare) // total for v in m]
    f[center] += TOTAL - sum(f)
    return tuple(f)


def laplace_frequencies(width: int, center: int, ratio: int) -> np.ndarray:
    """Integer frequencies (each >= 1, summing to TOTAL) of the discrete Laplace table
    (``width``, ``center``, ``ratio``); integer arithmetic only. ValueError on parameters out
    of range (1 <= width <= MAX_WIDTH, 0 <= center < width, 1 <= ratio <= MAX_RATIO)."""
    if not (1 <= width <= MAX_WIDTH and 0 <= center < width and 1 <= ratio <= MAX_RATIO):
        raise ValueError(f"bad Laplace table (width {width}, center {center}, ratio {ratio})")
    return np.asarray(_frequencies(width, center, ratio), dtype=np.int64)


def table_bits(counts: np.ndarray, freqs: np.ndarray) -> float:
    """Bits to code symbols with these ``counts`` (per table index) under ``freqs``."""
    used = counts > 0
    return float(-(counts[used] * np.log2(freqs[used] / TOTAL)).sum())


def fit_laplace(counts: np.ndarray) -> tuple[int, int, float]:
    """(center, ratio, estimated bits) of the discrete Laplace table that codes a window's
    symbol ``counts`` (index = symbol - window start) in the fewest bits: the center is the
    median (a Laplace law's maximum-likelihood center), the ratio the closed-form
    maximum-likelihood fit of a two-sided geometric law, refined by the exact cost of a few
    neighbouring scales."""
    counts = np.asarray(counts, dtype=np.int64)
    width = counts.size
    center = int(np.searchsorted(np.cumsum(counts), (int(counts.sum()) + 1) // 2))
    dist = np.abs(np.arange(width) - center)
    mean = float((counts * dist).sum()) / float(counts.sum())
    # ML ratio of P(d) ∝ r^|d| on the integers: r = (sqrt(1 + A²) - 1) / A, A = mean |d|
    r = (math.sqrt(1 + mean * mean) - 1) / mean if mean > 0 else 0.0
    best = None
    for step in SCALE_STEPS if 0 < r < 1 else (1.0,):
        ratio = _ratio(r, step)
        bits = table_bits(counts, laplace_frequencies(width, center, ratio))
        if best is None or bits < best[2]:
            best = (center, ratio, bits)
    return best


def _ratio(r: float, scale_step: float) -> int:
    """The stored ratio of ``r`` with its scale ``-1 / ln r`` multiplied by ``scale_step``."""
    if r <= 0:
        return 1
    scale = -1.0 / math.log(r) * scale_step
    return min(MAX_RATIO, max(1, round(math.exp(-1.0 / scale) * (1 << RATIO_BITS))))
