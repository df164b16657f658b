"""Multiresolution hash encoding with tiny-cuda-nn's exact semantics, in plain PyTorch.

The function and the parameter layout follow tcnn's ``GridEncoding`` (``otype: "HashGrid"``):

* level ``l`` has scale ``s_l = 2^(l · log2(per_level_scale)) · base_resolution − 1`` (float32
  maths, as tcnn) and resolution ``r_l = ceil(s_l) + 1``;
* a point ``x ∈ [0, 1]^D`` lands at ``p = s_l · x + 0.5`` (one rounding, like ``fmaf``); its cell
  is ``floor(p)`` and the interpolation weights use ``p − floor(p)`` (or its smoothstep);
* a level stores ``next_multiple(r_l^D, 8)`` entries, capped at ``2^log2_hashmap_size``; a level
  whose dense grid fits is indexed densely (``Σ c_d · r_l^d``), otherwise with tcnn's
  coherent-prime hash (``XOR c_d · π_d``, ``π = 1, 2654435761, 805459861, 3674653429``); both
  wrap modulo the level size in uint32 arithmetic;
* parameters are one flat tensor: levels one after another, each ``entries × features``;
* the output is ``(N, n_levels · n_features_per_level)``, level-major.

``HashGridFunction`` computes all levels in one pass, chunk by chunk with points innermost, and
has a hand-written backward (table and, when asked, input gradients; one 1-D scatter per
feature). That is what makes it several times faster on CPU than the usual per-level autograd
loop (``tools/bench_hashgrid.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
U32 = 0xFFFFFFFF
INTERPOLATIONS = ("linear", "smoothstep")
MAX_TABLE_ENTRIES = 1 << 28  # per level; tcnn caps dense levels at 2^31 − 1 too, we refuse earlier


@dataclass(frozen=True)
class HashGridConfig:
    """Hyper-parameters of a hash encoding; names and defaults as tiny-cuda-nn's ``HashGrid``."""

    n_input_dims: int = 3
    """Input dimensions D, 1–4; inputs are expected in [0, 1] (tcnn does not clamp either)."""
    n_levels: int = 16
    n_features_per_level: int = 2
    """1, 2, 4 or 8 (tcnn's choices)."""
    log2_hashmap_size: int = 19
    base_resolution: int = 16
    per_level_scale: float = 2.0
    interpolation: str = "linear"
    """"linear" or "smoothstep"."""

    def __post_init__(self) -> None:
        if not 1 <= self.n_input_dims <= 4:
            raise ValueError(f"hash grid: n_input_dims must be 1-4, got {self.n_input_dims}")
        if not 1 <= self.n_levels <= 32:
            raise ValueError(f"hash grid: n_levels must be 1-32, got {self.n_levels}")
        if self.n_features_per_level not in (1, 2, 4, 8):
            raise ValueError("hash grid: n_features_per_level must be 1, 2, 4 or 8")
        if not 1 <= self.log2_hashmap_size <= 28:
            raise ValueError("hash grid: log2_hashmap_size must be 1-28")
        if self.base_resolution < 1 or not self.per_level_scale >= 1.0:
            raise ValueError("hash grid: need base_resolution >= 1 and per_level_scale >= 1")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"hash grid: interpolation must be one of {INTERPOLATIONS}")

    @property
    def n_output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    def to_tcnn(self) -> dict[str, Any]:
        """The encoding config tinycudann takes for the same function."""
        return {
            "otype": "HashGrid",
            "n_levels": self.n_levels,
            "n_features_per_level": self.n_features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution,
            "per_level_scale": float(self.per_level_scale),
            "interpolation": "Smoothstep" if self.interpolation == "smoothstep" else "Linear",
        }

    @cached_property
    def geometry(self) -> GridGeometry:
        return GridGeometry.of(self)

    @property
    def n_params(self) -> int:
        return self.geometry.n_params


@dataclass(frozen=True)
class GridGeometry:
    """Per-level scale, resolution, size and offset, computed in float32 like tcnn's host code."""

    scales: tuple[float, ...]  # float32 values
    resolutions: tuple[int, ...]
    sizes: tuple[int, ...]  # entries per level
    offsets: tuple[int, ...]  # first entry of each level, n_levels + 1 values
    hashed: tuple[bool, ...]
    n_features: int

    @classmethod
    def of(cls, cfg: HashGridConfig) -> GridGeometry:
        d = cfg.n_input_dims
        log2_scale = np.log2(np.float32(cfg.per_level_scale), dtype=np.float32)
        scales, res, sizes, hashed, offsets = [], [], [], [], [0]
        for level in range(cfg.n_levels):
            s = np.exp2(np.float32(level) * log2_scale, dtype=np.float32)
            s = np.float32(s * np.float32(cfg.base_resolution) - np.float32(1.0))
            r = int(np.ceil(s)) + 1
            dense = min(r**d, 0x7FFFFFFF)
            size = min(-(-dense // 8) * 8, 1 << cfg.log2_hashmap_size)
            if size > MAX_TABLE_ENTRIES:
                raise ValueError(f"hash grid: level {level} needs {size} entries")
            scales.append(float(s))
            res.append(r)
            sizes.append(size)
            hashed.append(r**d > size)
            offsets.append(offsets[-1] + size)
        return cls(tuple(scales), tuple(res), tuple(sizes), tuple(offsets), tuple(hashed),
                   cfg.n_features_per_level)

    @property
    def n_params(self) -> int:
        return self.offsets[-1] * self.n_features

    def level_slice(self, level: int) -> slice:
        f = self.n_features
        return slice(self.offsets[level] * f, self.offsets[level + 1] * f)


def _level_groups(geo: GridGeometry) -> list[tuple[bool, list[int]]]:
    """Runs of consecutive levels that are all dense or all hashed (usually: one of each)."""
    groups: list[tuple[bool, list[int]]] = []
    for level, h in enumerate(geo.hashed):
        if groups and groups[-1][0] == h:
            groups[-1][1].append(level)
        else:
            groups.append((h, [level]))
    return groups


def _corners(lo_terms: list[torch.Tensor], steps: list, op, out: torch.Tensor) -> None:
    """Write all 2^D corner indices into ``out`` (Lg, C, n).

    lo_terms[d]: (Lg, n) term of the lower neighbour in dimension d; the upper one is the lower
    plus steps[d] (a scalar or (Lg, 1)). Corner ``c`` uses the upper term of dimension ``d`` iff bit
    ``d`` of ``c`` is set. ``op`` combines dimensions (XOR for the hash, + for dense indexing).
    """
    corners = [lo_terms[0], lo_terms[0] + steps[0]]
    if len(lo_terms) == 1:
        out[:, 0], out[:, 1] = corners
        return
    for d in range(1, len(lo_terms)):
        hi = lo_terms[d] + steps[d]
        last = d == len(lo_terms) - 1
        nxt = []
        for half, t in enumerate((lo_terms[d], hi)):
            for k, c in enumerate(corners):
                if last:
                    op(c, t, out=out[:, half * len(corners) + k])
                else:
                    nxt.append(op(c, t))
        corners = nxt


def corner_indices(x: torch.Tensor, cfg: HashGridConfig):
    """Table rows and cell positions of every corner.

    x: (n, D) → rows (L, C, n) int64 global entry indices (C = 2^D corners, tcnn's order: corner
    ``c`` takes the upper neighbour in dimension ``d`` iff bit ``d`` is set), frac (L, D, n) the
    position inside the cell before the interpolation function, scales (L,) float32.

    Points are the innermost dimension everywhere so every elementwise op runs on long contiguous
    rows. uint32 arithmetic is done in int64: the hash only needs the low log2(size) bits, which
    wrap-around never changes, and the dense index is reduced modulo 2^32 once.
    """
    geo = cfg.geometry
    dims = cfg.n_input_dims
    dev = x.device
    xt = x.t().unsqueeze(0)  # (1, D, n)
    scales = torch.tensor(geo.scales, dtype=torch.float32, device=dev)
    if x.dtype == torch.float64:
        pos = xt * scales.double().view(-1, 1, 1) + 0.5
    else:  # float32 product + 0.5 rounded once, as fmaf does
        pos = torch.addcmul(torch.full((), 0.5, dtype=torch.float64, device=dev),
                            xt.double(), scales.double().view(-1, 1, 1)).to(x.dtype)
    cell = torch.floor(pos)
    frac = pos - cell  # (L, D, n)
    lo = cell.to(torch.int64)
    in_range = bool(((x >= 0) & (x <= 1)).all())
    rows = torch.empty(cfg.n_levels, 2**dims, x.shape[0], dtype=torch.int64, device=dev)
    for hashed, levels in _level_groups(geo):
        sel = slice(levels[0], levels[-1] + 1)
        out = rows[sel]
        sizes = torch.tensor(geo.sizes[sel], dtype=torch.int64, device=dev).view(-1, 1, 1)
        offsets = torch.tensor(geo.offsets[sel], dtype=torch.int64, device=dev).view(-1, 1, 1)
        if hashed:  # sizes are powers of two
            _corners([lo[sel, d] * PRIMES[d] for d in range(dims)], list(PRIMES[:dims]),
                     torch.bitwise_xor, out)
            out.bitwise_and_(sizes - 1)
        else:
            res = torch.tensor(geo.resolutions[sel], dtype=torch.int64, device=dev).view(-1, 1)
            strides = [res**d for d in range(dims)]
            _corners([lo[sel, d] * strides[d] for d in range(dims)], strides, torch.add, out)
            if in_range:
                # for x in [0, 1] the +1 corner at the upper border overshoots a dense level by
                # less than its size (it wraps, as in tcnn): one conditional subtraction suffices
                out.sub_(sizes * (out >= sizes))
            else:
                out.bitwise_and_(U32).remainder_(sizes)
        out.add_(offsets)
    return rows, frac, scales


def _smooth(f: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolation function and its derivative."""
    if kind == "smoothstep":
        return f * f * (3.0 - 2.0 * f), 6.0 * f * (1.0 - f)
    return f, torch.ones_like(f)


def corner_weights(w: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """w: (L, D, n) upper weights → (L, C, n) products in corner order; with ``dim``, the
    derivative with respect to ``w[:, dim]`` (that factor replaced by −1 / +1)."""
    dims = w.shape[1]
    lo_w = [1.0 - w[:, d] for d in range(dims)]
    hi_w = [w[:, d] for d in range(dims)]
    if dim is not None:
        lo_w[dim] = torch.full_like(lo_w[dim], -1.0)
        hi_w[dim] = torch.ones_like(hi_w[dim])
    corners = [lo_w[0], hi_w[0]]
    for d in range(1, dims):
        corners = [c * t for t in (lo_w[d], hi_w[d]) for c in corners]
    return torch.stack(corners, dim=1)


CHUNK = 16384  # points per pass: keeps the (L, C, n) index/weight tensors in cache on CPU
SAVE_LIMIT = 1 << 25  # corner taps (L·C·N) kept from forward for backward: ≤ 384 MB


def _taps(x: torch.Tensor, cfg: HashGridConfig, dtype: torch.dtype):
    """rows (L, C, n), weights (L, C, n), upper weights w (L, D, n), dw/dfrac, scales (L,)."""
    rows, frac, scales = corner_indices(x, cfg)
    w, dw = _smooth(frac, cfg.interpolation)
    return rows, corner_weights(w).to(dtype), w, dw, scales


def _gather(params: torch.Tensor, rows: torch.Tensor, fdim: int) -> torch.Tensor:
    """table[rows]: (L, C, n) → (L, C, n, F). Two float32 features move as one 8-byte element."""
    if fdim == 2 and params.dtype == torch.float32 and params.data_ptr() % 8 == 0:
        pairs = params.view(torch.float64).index_select(0, rows.view(-1))
        return pairs.view(torch.float32).view(*rows.shape, 2)
    return params.view(-1, fdim).index_select(0, rows.view(-1)).view(*rows.shape, fdim)


class HashGridFunction(torch.autograd.Function):
    """out (N, L·F) = Σ_corners weight · table[row]; first-order gradients for table and x.

    Rows and weights of a batch are kept for backward while they fit ``SAVE_LIMIT`` elements;
    larger batches recompute them chunk by chunk in backward (as tcnn does)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, params: torch.Tensor, cfg: HashGridConfig):
        fdim = cfg.n_features_per_level
        keep = ctx.needs_input_grad[1] and not ctx.needs_input_grad[0] and (
            cfg.n_levels * 2**cfg.n_input_dims * x.shape[0] <= SAVE_LIMIT
        )
        out = params.new_empty(fdim, cfg.n_levels, x.shape[0])  # (F, L, N)
        saved = []
        for start in range(0, x.shape[0], CHUNK):
            rows, weights, *_ = _taps(x[start : start + CHUNK].detach(), cfg, params.dtype)
            feats = _gather(params, rows, fdim)  # (L, C, n, F)
            for f in range(fdim):
                torch.sum(weights * feats[..., f], dim=1, out=out[f, :, start : start + CHUNK])
            if keep:
                saved.append((rows, weights))
        ctx.cfg, ctx.saved = cfg, saved
        ctx.save_for_backward(x, params)
        return out.permute(2, 1, 0).reshape(x.shape[0], -1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        cfg = ctx.cfg
        x, params = ctx.saved_tensors
        fdim = cfg.n_features_per_level
        want_x, want_p = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # feature-major accumulator: one 1-D scatter per feature beats a scatter of short rows
        grad_fm = params.new_zeros(fdim, params.numel() // fdim) if want_p else None
        grad_x = torch.empty_like(x) if want_x else None
        g_all = grad_out.reshape(x.shape[0], cfg.n_levels, fdim).permute(2, 1, 0).contiguous()
        for i, start in enumerate(range(0, x.shape[0], CHUNK)):
            sl = slice(start, start + CHUNK)
            if ctx.saved and not want_x:
                rows, weights = ctx.saved[i]
            else:
                rows, weights, w, dw, scales = _taps(x[sl].detach(), cfg, params.dtype)
            g = g_all[:, :, sl].unsqueeze(2)  # (F, L, 1, n)
            if want_p:
                flat = rows.view(-1)
                for f in range(fdim):
                    grad_fm[f].scatter_add_(0, flat, (weights * g[f]).view(-1))
            if want_x:
                feats = _gather(params, rows, fdim)
                dot = sum(feats[..., f] * g[f] for f in range(fdim))  # (L, C, n)
                for d in range(w.shape[1]):
                    per_level = (corner_weights(w, d) * dot).sum(1) * dw[:, d]  # (L, n)
                    grad_x[sl, d] = (per_level * scales.view(-1, 1)).sum(0)
        ctx.saved = None
        grad_params = grad_fm.t().reshape(-1) if want_p else None
        return grad_x, grad_params, None


def hash_grid_encode(x: torch.Tensor, params: torch.Tensor, cfg: HashGridConfig) -> torch.Tensor:
    """x: (N, D) in [0, 1], params: (n_params,) → (N, n_levels · n_features_per_level)."""
    if x.ndim != 2 or x.shape[1] != cfg.n_input_dims:
        raise ValueError(f"hash grid: expected input (N, {cfg.n_input_dims}), got {tuple(x.shape)}")
    if params.numel() != cfg.n_params:
        raise ValueError(f"hash grid: expected {cfg.n_params} parameters, got {params.numel()}")
    return HashGridFunction.apply(x, params, cfg)


def init_params(cfg: HashGridConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """tcnn's initialisation: U(−1e-4, 1e-4) for every entry."""
    return (torch.rand(cfg.n_params, generator=generator) * 2.0 - 1.0) * 1e-4
