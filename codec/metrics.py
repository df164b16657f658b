"""Quality metrics on RGB frames in [0, 1] (uint8 inputs are divided by 255).

PSNR is computed per frame and averaged; identical frames are capped at ``PSNR_CAP`` dB so that
averages stay finite. MS-SSIM uses pytorch-msssim (data_range=1); frames whose smaller side is
too small for its four downsamplings fall back to single-scale SSIM, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PSNR_CAP = 100.0
_MSSSIM_MIN_SIDE = 161  # pytorch-msssim: smaller side > (11 - 1) * 2**4


@dataclass(frozen=True)
class Quality:
    psnr: float  # dB, mean over frames
    ssim: float  # MS-SSIM or SSIM, mean over frames
    ssim_kind: str  # "ms-ssim" or "ssim" (fallback for small frames)
    psnr_per_frame: list[float]


def psnr_per_frame(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 pairs -> (T,) PSNR in dB, capped at PSNR_CAP."""
    _check_pair(ref, dist)
    diff = ref.astype(np.float64) - dist.astype(np.float64)
    mse = np.mean((diff / 255.0) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        values = -10.0 * np.log10(mse)
    return np.minimum(values, PSNR_CAP)


def ssim_per_frame(ref: np.ndarray, dist: np.ndarray, batch: int = 8) -> tuple[np.ndarray, str]:
    """(T,) MS-SSIM (or SSIM for small frames) and the kind used."""
    import torch
    from pytorch_msssim import ms_ssim, ssim

    _check_pair(ref, dist)
    multi = min(ref.shape[1], ref.shape[2]) >= _MSSSIM_MIN_SIDE
    win = 11 if min(ref.shape[1], ref.shape[2]) >= 11 else (min(ref.shape[1], ref.shape[2]) | 1) - 2
    out = []
    with torch.no_grad():
        for i in range(0, len(ref), batch):
            a = torch.from_numpy(ref[i : i + batch]).permute(0, 3, 1, 2).double() / 255.0
            b = torch.from_numpy(dist[i : i + batch]).permute(0, 3, 1, 2).double() / 255.0
            if multi:
                v = ms_ssim(a, b, data_range=1.0, size_average=False)
            else:
                v = ssim(a, b, data_range=1.0, size_average=False, win_size=max(win, 3))
            out.append(v.numpy())
    return np.concatenate(out), ("ms-ssim" if multi else "ssim")


def quality(ref: np.ndarray, dist: np.ndarray) -> Quality:
    p = psnr_per_frame(ref, dist)
    s, kind = ssim_per_frame(ref, dist)
    return Quality(float(p.mean()), float(s.mean()), kind, [float(v) for v in p])


def _check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    if ref.shape != dist.shape or ref.ndim != 4 or ref.shape[-1] != 3:
        raise ValueError(f"frame arrays must both be (T, H, W, 3); got {ref.shape}, {dist.shape}")
