"""Subnetworks of one shared network (PFNR / WSN): every weight has a learned score, and a video
uses the top-c fraction of scores in each layer as its binary mask. Weights that earlier videos
use are frozen (their gradient is zeroed, so Adam never moves them) but may be reused; so an
earlier video decodes exactly as before, however many videos come after it.

Masks are a real part of a video's cost, so they are entropy-coded: a mask's bits are split by
context (was the weight already used by an earlier video, or new?) into two streams, each with
its own integer table (``codec.entropy``). Reuse and fresh picks have very different rates, and
two tables capture that at a cost of about H(p) bits per weight in each context.
"""

from __future__ import annotations

import numpy as np
import torch

from codec import entropy
from codec.binio import ByteReader
from codec.errors import ContainerError, EntropyError


def top_fraction(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean mask of the ``round(fraction · n)`` (at least 1) largest ``|scores|``; ties are
    broken by position (lower flat index first), so the mask is deterministic."""
    if not 0 < fraction <= 1:
        raise ValueError(f"capacity must be in (0, 1], got {fraction}")
    flat = scores.detach().abs().flatten()
    k = max(1, round(fraction * flat.numel()))
    # a stable descending sort: equal scores keep index order
    order = torch.sort(-flat, stable=True).indices[:k]
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[order] = True
    return mask.view_as(scores)


class _StraightThrough(torch.autograd.Function):
    """Forward: the binary mask; backward: the gradient passes to the scores unchanged."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, fraction: float) -> torch.Tensor:
        return top_fraction(scores, fraction).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def subnet_mask(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Float 0/1 mask of the top ``fraction`` of ``|scores|``, straight-through to ``scores``."""
    return _StraightThrough.apply(scores, fraction)


def freeze(weight: torch.Tensor, used: torch.Tensor) -> torch.utils.hooks.RemovableHandle:
    """Zero the gradient of ``weight`` wherever ``used`` (bool, same shape) is set. With a fresh
    optimizer and no weight decay, Adam then leaves those entries bit-identical."""
    keep = (~used).to(weight.dtype)
    return weight.register_hook(lambda g: g * keep)


def encode_mask(mask: np.ndarray, used: np.ndarray) -> bytes:
    """A video's mask (bool, any shape) given ``used`` (bool, same shape: the union of earlier
    videos' masks): two entropy streams, the bits at used positions then at the others (C
    order)."""
    mask, used = np.asarray(mask, bool), np.asarray(used, bool)
    if mask.shape != used.shape:
        raise ValueError("mask and used must have the same shape")
    return entropy.encode(mask[used].astype(np.int64)) + entropy.encode(
        mask[~used].astype(np.int64)
    )


def decode_mask(data: bytes, used: np.ndarray, what: str = "mask") -> np.ndarray:
    """Inverse of :func:`encode_mask`; ``used`` must be the same as when encoding."""
    used = np.asarray(used, bool)
    r = ByteReader(data, what)
    try:
        old = entropy.decode_from(r, int(used.sum()))
        new = entropy.decode_from(r, int((~used).sum()))
    except EntropyError as exc:
        raise ContainerError(f"{what}: {exc}") from None
    r.expect_end()
    if ((old != 0) & (old != 1)).any() or ((new != 0) & (new != 1)).any():
        raise ContainerError(f"{what}: mask bits must be 0 or 1")
    mask = np.zeros(used.shape, bool)
    mask[used] = old.astype(bool)
    mask[~used] = new.astype(bool)
    return mask
