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


def yuv_psnr_per_frame(ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Y-PSNR, YUV 6:1:1 PSNR) per frame, on BT.601 limited-range YCbCr at full chroma
    resolution; the 6:1:1 value is (6 PSNR_Y + PSNR_U + PSNR_V) / 8."""
    _check_pair(ref, dist)
    out = []
    for a, b in zip(ref, dist, strict=True):
        ya, yb = _ycbcr(a), _ycbcr(b)
        mse = np.mean((ya - yb) ** 2, axis=(1, 2))
        with np.errstate(divide="ignore"):
            p = np.minimum(10 * np.log10(255.0**2 / mse), PSNR_CAP)
        out.append((p[0], (6 * p[0] + p[1] + p[2]) / 8))
    arr = np.asarray(out, float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack(
        [
            16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
            128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255,
            128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255,
        ]
    )


class LpipsUnavailable(Exception):
    """LPIPS cannot run here (backbone weights not cached, or frames too small)."""


def load_lpips(random_backbone: bool = False):
    """LPIPS (AlexNet). Never downloads: the ImageNet AlexNet weights must already be in the
    torch hub cache, else :class:`LpipsUnavailable`. ``random_backbone`` builds the same
    network with a randomly initialised backbone (for tests; values are not meaningful)."""
    import os

    import torch

    try:
        import lpips
        from torchvision.models import AlexNet_Weights
    except ImportError as exc:
        raise LpipsUnavailable(f"lpips not installed ({exc})") from None
    if not random_backbone:
        name = os.path.basename(AlexNet_Weights.IMAGENET1K_V1.url)
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", name)
        if not os.path.exists(cached):
            raise LpipsUnavailable("weights not cached")
    import warnings

    with warnings.catch_warnings():  # torchvision's deprecation notes about `pretrained`
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=random_backbone, verbose=False)
    return model.eval()


def lpips_per_frame(ref: np.ndarray, dist: np.ndarray, model, batch: int = 4) -> np.ndarray:
    """(T,) LPIPS distances (lower is better) with a model from :func:`load_lpips`."""
    import torch

    _check_pair(ref, dist)
    if min(ref.shape[1], ref.shape[2]) < 64:
        raise LpipsUnavailable("frames under 64 px are too small for AlexNet LPIPS")
    out = []
    with torch.no_grad():
        for i in range(0, len(ref), batch):
            a = torch.from_numpy(ref[i : i + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1
            b = torch.from_numpy(dist[i : i + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1
            out.append(model(a, b).reshape(-1).numpy())
    return np.concatenate(out).astype(float)


def quality(ref: np.ndarray, dist: np.ndarray) -> Quality:
    p = psnr_per_frame(ref, dist)
    s, kind = ssim_per_frame(ref, dist)
    return Quality(float(p.mean()), float(s.mean()), kind, [float(v) for v in p])


def _check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    if ref.shape != dist.shape or ref.ndim != 4 or ref.shape[-1] != 3:
        raise ValueError(f"frame arrays must both be (T, H, W, 3); got {ref.shape}, {dist.shape}")
