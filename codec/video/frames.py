"""Frames as training targets, shared by the frame-indexed video models (hnerv, pfnr)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_float(frames_u8: torch.Tensor) -> torch.Tensor:
    return frames_u8.float().div_(255.0)


def pad_frames(frames: np.ndarray, out_h: int, out_w: int, chunk: int = 16) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, out_h, out_w) uint8, edges replicated into the padding. A
    few frames at a time: a float copy of a whole long clip would not fit in memory."""
    t, h, w, _ = frames.shape
    out = torch.empty((t, 3, out_h, out_w), dtype=torch.uint8)
    for i in range(0, t, chunk):
        x = torch.from_numpy(frames[i : i + chunk]).permute(0, 3, 1, 2).float()
        out[i : i + chunk] = F.pad(x, (0, out_w - w, 0, out_h - h), mode="replicate").to(
            torch.uint8)
    return out


def frame_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """``l2`` (MSE) or ``l1+ssim`` (0.7 L1 + 0.3 (1 - SSIM), HNeRV's reference default)."""
    if kind == "l2":
        return F.mse_loss(pred, target)
    from pytorch_msssim import ssim

    win = 11 if min(pred.shape[-2:]) >= 11 else 3
    return 0.7 * F.l1_loss(pred, target) + 0.3 * (
        1 - ssim(pred, target, data_range=1.0, win_size=win)
    )
