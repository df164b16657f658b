"""Quality metrics on RGB frames in [0, 1] (uint8 inputs are divided by 255).

PSNR is computed per frame and averaged; identical frames are capped at ``PSNR_CAP`` dB so that
averages stay finite. MS-SSIM uses pytorch-msssim (data_range=1); frames whose smaller side is
too small for its four downsamplings fall back to single-scale SSIM, and the result says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from codec.errors import InputError
from codec.video.io import rgb_to_ycbcr

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
    mse = np.empty(len(ref))
    for i in range(0, len(ref), 8):  # a few frames at a time: float copies of a long clip
        diff = ref[i : i + 8].astype(np.float64) - dist[i : i + 8]  # would not fit in memory
        mse[i : i + 8] = np.mean((diff / 255.0) ** 2, axis=(1, 2, 3))
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
        ya, yb = rgb_to_ycbcr(a), rgb_to_ycbcr(b)
        mse = np.mean((ya - yb) ** 2, axis=(1, 2))
        with np.errstate(divide="ignore"):
            p = np.minimum(10 * np.log10(255.0**2 / mse), PSNR_CAP)
        out.append((p[0], (6 * p[0] + p[1] + p[2]) / 8))
    arr = np.asarray(out, float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


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


def quality_stream(ref: Iterable[np.ndarray], dist: Iterable[np.ndarray], chunk: int = 4
                   ) -> Quality:
    """:func:`quality` over two streams of (H, W, 3) uint8 frames, ``chunk`` frames at a time
    (for clips too long to hold); both must have the same length."""
    psnr, ssim, kind = [], [], "ssim"
    a_it, b_it = iter(ref), iter(dist)
    while True:
        a = [f for _, f in zip(range(chunk), a_it, strict=False)]
        b = [f for _, f in zip(range(len(a) or 1), b_it, strict=False)]
        if len(a) != len(b):
            raise ValueError("the two frame streams have different lengths")
        if not a:
            break
        a_arr, b_arr = np.stack(a), np.stack(b)
        psnr.extend(psnr_per_frame(a_arr, b_arr).tolist())
        s, kind = ssim_per_frame(a_arr, b_arr)
        ssim.extend(s.tolist())
    if not psnr:
        raise ValueError("no frames to compare")
    return Quality(float(np.mean(psnr)), float(np.mean(ssim)), kind, psnr)


def _check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    if ref.shape != dist.shape or ref.ndim != 4 or ref.shape[-1] != 3:
        raise ValueError(f"frame arrays must both be (T, H, W, 3); got {ref.shape}, {dist.shape}")


def evaluate(ref: np.ndarray, dist: np.ndarray, lpips: bool = True) -> dict[str, Any]:
    """Every metric, per frame and averaged, over the first min(len) frames of both."""
    if ref.shape[1:] != dist.shape[1:]:
        raise InputError(
            f"frame sizes differ: {ref.shape[2]}x{ref.shape[1]} vs {dist.shape[2]}x{dist.shape[1]}"
        )
    n = min(len(ref), len(dist))
    ref, dist = ref[:n], dist[:n]
    per: dict[str, list[float]] = {}
    per["psnr"] = psnr_per_frame(ref, dist).tolist()
    y, yuv = yuv_psnr_per_frame(ref, dist)
    per["psnr_y"], per["psnr_yuv611"] = y.tolist(), yuv.tolist()
    ssim, kind = ssim_per_frame(ref, dist)
    per["ms_ssim"] = ssim.tolist()
    status = "skipped"
    if lpips:
        try:
            per["lpips"] = lpips_per_frame(ref, dist, load_lpips()).tolist()
            status = "ok"
        except LpipsUnavailable as exc:
            status = f"unavailable ({exc})"
    out: dict[str, Any] = {"frames": n, "width": int(ref.shape[2]), "height": int(ref.shape[1])}
    out.update({k: float(np.mean(v)) for k, v in per.items()})
    out["ssim_kind"] = kind
    out["lpips"] = out.get("lpips")
    out["lpips_status"] = status
    out["per_frame"] = per
    return out
