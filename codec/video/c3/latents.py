"""Coding one group's latent grids: every latent is ``value − mean`` under the table the
integer context model (:mod:`.context`) derives from latents coded before it, in one
sequential rANS stream (``codec.entropy.indexed``).

Order: levels coarse to fine; within a level, slices in time; within a slice, the first
checkerboard pass's cells in raster order, then the second's. The encoder derives every
context at once (all latents are known to it); the decoder derives them a half-slice at a
time, from the same integers with the same arithmetic, so both get the same tables.

A group's payload is ``u32 CRC32`` of its latents (each level coarse to fine, row-major, as
little-endian int32) followed by the stream: a decoder that derived a different table anywhere,
or read a damaged stream, gets different latents and says so instead of rendering garbage.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import torch

from codec.entropy.indexed import SequenceDecoder
from codec.errors import ContainerError, EntropyError
from codec.video.c3.context import (
    CONTEXT_SIZE,
    SCALES,
    IntegerContext,
    level_contexts,
    odd_cells,
    parent_window,
)

MAX_LATENT = (1 << 20) - 1  # a stored latent; far beyond what training produces


def _order(grid_shape: tuple[int, int, int]) -> np.ndarray:
    """Flat indices of a level's cells in coding order."""
    t, h, w = grid_shape
    odd = odd_cells(h, w).numpy().ravel()
    per = np.concatenate([np.flatnonzero(~odd), np.flatnonzero(odd)])
    return (np.arange(t)[:, None] * (h * w) + per[None, :]).ravel()


def encode_group(levels: list[np.ndarray], context: IntegerContext, strides: list[int]
                 ) -> bytes:
    """``levels``: int64 (T_l, H_l, W_l) grids, finest first; ``strides``: their temporal
    strides."""
    values, index, means = [], [], []
    coarser = None
    for lv in reversed(range(len(levels))):
        grid = np.asarray(levels[lv], np.int64)
        if np.abs(grid).max(initial=0) > MAX_LATENT:
            raise ValueError("a latent is out of the storable range")
        g = torch.from_numpy(grid.astype(np.float64))
        parent = parent_window(coarser, grid.shape, strides[lv],
                               strides[lv + 1] if lv + 1 < len(levels) else 1)
        ctx = level_contexts(g, parent).reshape(-1, CONTEXT_SIZE)
        order = _order(grid.shape)
        idx, mu = context(ctx[torch.from_numpy(order)])
        values.append(grid.ravel()[order])
        index.append(idx)
        means.append(mu)
        coarser = g
    stream = SCALES.encode_sequence(np.concatenate(values), np.concatenate(index),
                                    np.concatenate(means))
    return struct.pack("<I", _checksum(levels)) + stream


def _checksum(levels: list[np.ndarray]) -> int:
    crc = 0
    for grid in reversed(levels):
        crc = zlib.crc32(np.ascontiguousarray(grid, "<i4").tobytes(), crc)
    return crc


def decode_group(data: bytes, context: IntegerContext, shapes: list[tuple[int, int, int]],
                 strides: list[int], what: str) -> list[np.ndarray]:
    """Inverse of :func:`encode_group` for latent grids of ``shapes`` (finest first)."""
    total = sum(int(np.prod(s)) for s in shapes)
    if len(data) < 4:
        raise ContainerError(f"{what}: latent stream is truncated")
    try:
        dec = SequenceDecoder(SCALES, data[4:], total)
        out: list[np.ndarray | None] = [None] * len(shapes)
        coarser = None
        for lv in reversed(range(len(shapes))):
            t, h, w = shapes[lv]
            grid = torch.zeros(t, h, w, dtype=torch.float64)
            # each fine cell's row of the parent level's terms (one row a coarse cell)
            if coarser is not None:
                hc, wc = coarser.shape[1:]
                terms = context.window_terms(coarser, "parent")
                ti = torch.arange(t) * strides[lv] // strides[lv + 1]
                rows = ((ti[:, None, None] * hc + torch.arange(h)[None, :, None] // 2) * wc
                        + torch.arange(w)[None, None, :] // 2)
            odd = odd_cells(h, w).ravel()
            cells = [torch.nonzero(~odd)[:, 0], torch.nonzero(odd)[:, 0]]
            zero = torch.zeros(1, h, w, dtype=torch.float64)
            for s in range(t):
                base = context.window_terms(grid[s - 1 : s] if s else zero, "prev")
                if coarser is not None:
                    base += terms[rows[s].ravel()]
                flat = grid[s].view(-1)
                for second, at in enumerate(cells):
                    a1 = base[at]
                    if second:
                        a1 += context.own_terms(grid[s], at)
                    idx, mu = context.head(a1)
                    vals = dec.next(idx, mu)
                    if np.abs(vals).max(initial=0) > MAX_LATENT:
                        raise EntropyError("a decoded latent is out of range")
                    flat[at] = torch.from_numpy(vals.astype(np.float64))
            out[lv] = grid.numpy().astype(np.int64)
            coarser = grid
        dec.finish()
    except EntropyError as exc:
        raise ContainerError(f"{what}: {exc}") from None
    if _checksum(out) != struct.unpack("<I", data[:4])[0]:
        raise ContainerError(f"{what}: decoded latents fail their checksum (damaged stream)")
    return out
