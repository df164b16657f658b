"""PFNR network: one NeRV-style network shared by many videos, each video a masked subnetwork.

    input   [PE(t / T) (2L values), PE(video) (2V values)]           t = frame, T = frames
    stem    GELU(A1 ·) -> GELU(A2 ·), reshaped to (C0, h0, w0)
    block i 3×3 conv (C_i -> C_{i+1}·s_i²) -> PixelShuffle(s_i) -> GELU
            block ``fso_block`` is a Fourier subnetwork operator instead: rFFT2 of its input,
            the lowest modes (m rows from each end, m columns) mixed across channels by a
            factorized complex weight (a C_i × C_{i+1} channel matrix times a per-output
            C_{i+1} × 2m × m spectral filter), irFFT2 straight to the upscaled size, GELU
    head    3×3 conv (C_last -> 3), sigmoid                            (one per video)

Shared tensors (stem, blocks, FSO weights) carry scores; a video uses ``w · mask`` with its own
mask (``subnet.py``). Biases are per video (cheap, and they keep a video's
activations its own), as is the head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

MASK_UNITS = ("weight", "kernel")


def expand_mask(mask, shape: tuple[int, ...]):
    """A mask over units (``PFNRConfig.unit_shapes``) as a mask over the weights of a tensor
    of ``shape`` (numpy or torch; a copy with kernel units)."""
    if tuple(mask.shape) == tuple(shape):
        return mask
    ones = (1,) * (len(shape) - mask.ndim)
    full = mask.reshape(*mask.shape, *ones)
    if isinstance(mask, torch.Tensor):
        return full.expand(shape)
    return np.broadcast_to(full, shape).copy()


def unit_of(mask, unit_shape: tuple[int, ...]):
    """Inverse of :func:`expand_mask`: one value per unit (the first weight of each)."""
    index = tuple(slice(None) if i < len(unit_shape) else 0 for i in range(mask.ndim))
    return mask[index]


@dataclass(frozen=True)
class PFNRConfig:
    """Architecture of a PFNR library (every video in it shares it)."""

    embed_hw: list[int] = field(default_factory=lambda: [2, 4])
    """[h0, w0]: spatial size of the stem's output."""
    strides: list[int] = field(default_factory=lambda: [4, 2, 2, 2])
    channels: int = 32
    """C0: channels after the stem; C_{i+1} = max(round(C_i / 1.2), min_channels)."""
    min_channels: int = 8
    stem_width: int = 64
    frame_levels: int = 8
    """L: sin/cos pairs of the frame position."""
    video_levels: int = 4
    """V: sin/cos pairs of the video index."""
    fso_block: int = 1
    """Which block is the Fourier subnetwork operator (-1: none); its input must be at least
    2 rows high."""
    fso_modes: int = 4
    """m: kept modes along each axis."""
    mask_unit: str = "weight"
    """What one mask bit selects in the 3×3 conv blocks: one "weight", or one "kernel" (all 9
    weights from one input channel to one output channel: 9× fewer mask bits). Other shared
    tensors are masked per weight."""

    def __post_init__(self) -> None:
        if self.mask_unit not in MASK_UNITS:
            raise ValueError(f"mask_unit must be one of {', '.join(MASK_UNITS)}")
        if len(self.embed_hw) != 2 or min(self.embed_hw) < 1 or not self.strides:
            raise ValueError("embed_hw needs two positive sizes and strides at least one")
        if min(self.strides) < 1 or min(self.channels, self.min_channels, self.stem_width) < 1:
            raise ValueError("strides and widths must be positive")
        if not -1 <= self.fso_block < len(self.strides):
            raise ValueError("fso_block must index a block (or be -1)")
        if self.fso_block >= 0:
            h, w = self.embed_hw
            for s in self.strides[: self.fso_block]:
                h, w = h * s, w * s
            # m rows from each end must not overlap, m columns fit the half spectrum
            if not 1 <= self.fso_modes <= min(h // 2, w // 2 + 1):
                raise ValueError(f"fso_modes must be in 1..{min(h // 2, w // 2 + 1)} for a "
                                 f"{h}x{w} input")

    @property
    def widths(self) -> list[int]:
        c = [self.channels]
        for _ in self.strides:
            c.append(max(round(c[-1] / 1.2), self.min_channels))
        return c

    @property
    def out_size(self) -> tuple[int, int]:
        s = math.prod(self.strides)
        return self.embed_hw[0] * s, self.embed_hw[1] * s

    def shared_shapes(self) -> dict[str, tuple[int, ...]]:
        """Masked tensors shared by all videos, in their fixed order."""
        c, (h0, w0), m = self.widths, self.embed_hw, self.fso_modes
        d_in = 2 * (self.frame_levels + self.video_levels)
        shapes = {"stem0": (self.stem_width, d_in), "stem1": (c[0] * h0 * w0, self.stem_width)}
        for i, s in enumerate(self.strides):
            if i == self.fso_block:
                shapes[f"fso{i}.mix"] = (c[i], c[i + 1], 2)  # real, imaginary
                shapes[f"fso{i}.filter"] = (c[i + 1], 2 * m, m, 2)
            else:
                shapes[f"block{i}"] = (c[i + 1] * s * s, c[i], 3, 3)
        return shapes

    def unit_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the shared tensors' masks and scores: a conv block's (out, in) with kernel
        masks, the tensor's own shape otherwise."""
        kernel = self.mask_unit == "kernel"
        return {n: s[:2] if kernel and n.startswith("block") else s
                for n, s in self.shared_shapes().items()}

    def video_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each video's own tensors (unmasked): biases of every layer and the head."""
        c = self.widths
        shapes = {"stem0.bias": (self.stem_width,), "stem1.bias": (c[0] * math.prod(
            self.embed_hw),)}
        for i, s in enumerate(self.strides):
            shapes[f"block{i}.bias"] = (c[i + 1] * (1 if i == self.fso_block else s * s),)
        shapes["head.weight"], shapes["head.bias"] = (3, c[-1], 3, 3), (3,)
        return shapes


def position_encoding(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(n,) values -> (n, 2·levels): sin and cos of π·2^l·x for l < levels."""
    freqs = math.pi * (2.0 ** torch.arange(levels, dtype=torch.float64, device=x.device))
    ang = x.double()[:, None] * freqs
    return torch.cat([ang.sin(), ang.cos()], dim=1).float()


def inputs(config: PFNRConfig, frames: torch.Tensor, count: int, video: int) -> torch.Tensor:
    """Network input for frame indices ``frames`` (n,) of a ``count``-frame video ``video``."""
    t = (frames.double() + 0.5) / count
    k = torch.full_like(t, video + 0.5) / 8  # the video code repeats every 16 videos per level
    return torch.cat([position_encoding(t, config.frame_levels),
                      position_encoding(k, config.video_levels)], dim=1)


def spectral_up(x: torch.Tensor, mix: torch.Tensor, filt: torch.Tensor, size: tuple[int, int],
                modes: int) -> torch.Tensor:
    """The FSO: x (n, Ci, h, w) -> (n, Co, H, W) through the lowest ``modes`` frequencies."""
    n, h = x.shape[0], x.shape[2]
    spec = torch.fft.rfft2(x, norm="forward")  # (n, Ci, h, w//2+1)
    low = torch.cat([spec[..., :modes, :modes], spec[..., h - modes :, :modes]], dim=-2)
    mix_c = torch.complex(mix[..., 0], mix[..., 1])  # (Ci, Co)
    filt_c = torch.complex(filt[..., 0], filt[..., 1])  # (Co, 2m, m)
    y = torch.einsum("nixy,io->noxy", low, mix_c) * filt_c
    big_h, big_w = size
    out = torch.zeros(n, y.shape[1], big_h, big_w // 2 + 1, dtype=y.dtype, device=y.device)
    out[..., :modes, :modes] = y[..., :modes, :]
    out[..., big_h - modes :, :modes] = y[..., modes:, :]
    return torch.fft.irfft2(out, s=size, norm="forward")


def forward(config: PFNRConfig, shared: dict[str, torch.Tensor], own: dict[str, torch.Tensor],
            x: torch.Tensor) -> torch.Tensor:
    """x: (n, 2(L+V)) inputs -> (n, 3, H, W) frames in [0, 1]. ``shared`` are the (already
    masked) shared tensors, ``own`` the video's biases and head."""
    h0, w0 = config.embed_hw
    y = F.gelu(F.linear(x, shared["stem0"], own["stem0.bias"]))
    y = F.gelu(F.linear(y, shared["stem1"], own["stem1.bias"]))
    y = y.view(-1, config.channels, h0, w0)
    for i, s in enumerate(config.strides):
        if i == config.fso_block:
            size = (y.shape[-2] * s, y.shape[-1] * s)
            y = spectral_up(y, shared[f"fso{i}.mix"], shared[f"fso{i}.filter"], size,
                            config.fso_modes)
            y = F.gelu(y + own[f"block{i}.bias"].view(1, -1, 1, 1))
        else:
            y = F.conv2d(y, shared[f"block{i}"], own[f"block{i}.bias"], padding=1)
            y = F.gelu(F.pixel_shuffle(y, s))
    y = F.conv2d(y, own["head.weight"], own["head.bias"], padding=1)
    return torch.sigmoid(y)


def init_tensors(shapes: dict[str, tuple[int, ...]], generator: torch.Generator
                 ) -> dict[str, torch.Tensor]:
    """PyTorch's default uniform(±1/sqrt(fan_in)) for weights, zeros for biases; the FSO's
    complex weights start at unit scale over their fan-in."""
    out = {}
    for name, shape in shapes.items():
        if name.endswith(".bias"):
            out[name] = torch.zeros(shape)
            continue
        fan_in = shape[0] if name.endswith(".mix") else (
            1 if name.endswith(".filter") else math.prod(shape[1:]))
        bound = 1 / math.sqrt(fan_in)
        out[name] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
    return out
