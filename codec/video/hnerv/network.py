"""HNeRV: a ConvNeXt encoder makes a tiny embedding per frame; a conv + PixelShuffle decoder
turns it back into the frame. Only the decoder and the embeddings are stored.

Follows the reference (Chen et al., CVPR 2023): decoder = 1x1 conv + GELU, then one block per
stride (k x k conv -> PixelShuffle(s) -> GELU) with kernels min(1 + 2i, 5) and channels divided
by 1.2 per block (at least 12), then a 3x3 head with tanh * 0.5 + 0.5.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

MIN_CHANNELS = 12
REDUCE = 1.2
STRIDE_CHOICES = (5, 4, 3, 2)


@dataclass
class HNeRVConfig:
    """Everything needed to rebuild the decoder (stored in the file header)."""

    strides: list[int] = field(default_factory=lambda: [5, 4, 2, 2])
    """Upsampling factor of each decoder block (their product is the embedding's cell size)."""
    embed_dim: int = 16
    """Channels d of each frame's embedding."""
    embed_hw: list[int] = field(default_factory=lambda: [2, 4])
    """Embedding height and width; the decoder outputs embed_hw * prod(strides) pixels."""
    channels: int = 32
    """Width after the first 1x1 conv (the reference's c2); solved from the size target."""
    enc_dim: int = 64
    """Encoder width (encoder is not stored)."""
    min_channels: int = MIN_CHANNELS
    """Floor of the block widths (12 in the reference; lowered only for tiny size targets)."""

    def __post_init__(self) -> None:
        ok = (
            isinstance(self.strides, list)
            and 1 <= len(self.strides) <= 8
            and all(isinstance(s, int) and 1 <= s <= 8 for s in self.strides)
            and isinstance(self.embed_hw, list)
            and len(self.embed_hw) == 2
            and all(isinstance(v, int) and 1 <= v <= 4096 for v in self.embed_hw)
            and isinstance(self.embed_dim, int)
            and 1 <= self.embed_dim <= 256
            and isinstance(self.channels, int)
            and 1 <= self.channels <= 4096
            and isinstance(self.enc_dim, int)
            and 1 <= self.enc_dim <= 1024
            and isinstance(self.min_channels, int)
            and 1 <= self.min_channels <= 4096
        )
        if not ok:
            raise ValueError("invalid HNeRV config")
        h, w = self.out_size
        if h * w > 8192 * 8192:
            raise ValueError("HNeRV config describes absurdly large frames")

    @property
    def cell(self) -> int:
        return math.prod(self.strides)

    @property
    def out_size(self) -> tuple[int, int]:
        """(height, width) of decoded (padded) frames."""
        return self.embed_hw[0] * self.cell, self.embed_hw[1] * self.cell

    def block_channels(self) -> list[int]:
        chans = [self.channels]
        for _ in self.strides:
            chans.append(max(round(chans[-1] / REDUCE), self.min_channels))
        return chans

    def kernels(self) -> list[int]:
        return [min(1 + 2 * i, 5) for i in range(len(self.strides))]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Decoder parameter names and shapes (computed, nothing allocated)."""
        chans, ks = self.block_channels(), self.kernels()
        shapes = {
            "stem.weight": (self.channels, self.embed_dim, 1, 1),
            "stem.bias": (self.channels,),
        }
        for i, s in enumerate(self.strides):
            shapes[f"blocks.{i}.weight"] = (chans[i + 1] * s * s, chans[i], ks[i], ks[i])
            shapes[f"blocks.{i}.bias"] = (chans[i + 1] * s * s,)
        shapes["head.weight"] = (3, chans[-1], 3, 3)
        shapes["head.bias"] = (3,)
        return shapes

    def decoder_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes().values())

    def embed_params(self, frames: int) -> int:
        return frames * self.embed_dim * self.embed_hw[0] * self.embed_hw[1]


def plan_strides(
    width: int, height: int, target_params: int = 100_000, target_cells: int = 8
) -> tuple[list[int], list[int]]:
    """Strides and embedding size for a frame: about ``target_cells`` embedding positions
    (the reference's best was 2x4), little padding, and a decoder whose narrowest version
    (12 channels everywhere) leaves most of ``target_params`` for width."""
    best = None
    for n in range(2, 7):
        for combo in itertools.combinations_with_replacement(STRIDE_CHOICES, n):
            cell = math.prod(combo)
            if cell > 2 * max(width, height):
                continue
            eh, ew = math.ceil(height / cell), math.ceil(width / cell)
            strides = sorted(combo, reverse=True)
            narrow = HNeRVConfig(strides=strides, embed_hw=[eh, ew], channels=MIN_CHANNELS)
            pad = (eh * ew * cell * cell) / (width * height) - 1
            cost = (
                pad
                + 0.35 * abs(math.log2(eh * ew / target_cells))
                + 0.01 * n
                + 0.5 * max(0.0, math.log2(narrow.decoder_params() / (0.3 * target_params)))
            )
            if best is None or cost < best[0]:
                best = (cost, strides, [eh, ew])
    return best[1], best[2]


def solve_channels(config: HNeRVConfig, frames: int, target_params: int) -> HNeRVConfig:
    """Largest width c2 whose decoder + embeddings fit ``target_params``, as the reference
    solves for it. When even c2 = 12 does not fit, the floor of the block widths is lowered
    (a uniformly narrow decoder) rather than failing."""
    embed = config.embed_params(frames)

    def fits(c: int, floor: int) -> bool:
        cfg = replace(config, channels=c, min_channels=floor)
        return cfg.decoder_params() + embed <= target_params

    floor = MIN_CHANNELS
    if not fits(MIN_CHANNELS, MIN_CHANNELS):
        floor = 1
        while floor < MIN_CHANNELS and fits(floor + 1, floor + 1):
            floor += 1
        return replace(config, channels=floor, min_channels=floor)
    lo, hi = MIN_CHANNELS, 4096
    while lo < hi:  # parameters grow monotonically with the width
        mid = (lo + hi + 1) // 2
        if fits(mid, floor):
            lo = mid
        else:
            hi = mid - 1
    return replace(config, channels=lo, min_channels=floor)


class HNeRVDecoder(nn.Module):
    """embeddings (B, d, h, w) -> frames (B, 3, h*cell, w*cell) in [0, 1]"""

    def __init__(self, config: HNeRVConfig) -> None:
        super().__init__()
        self.config = config
        chans, ks = config.block_channels(), config.kernels()
        self.stem = nn.Conv2d(config.embed_dim, config.channels, 1)
        self.blocks = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1] * s * s, ks[i], padding=ks[i] // 2)
            for i, s in enumerate(config.strides)
        )
        self.head = nn.Conv2d(chans[-1], 3, 3, padding=1)
        # Same variance as PyTorch's default uniform init, but Gaussian: trained weights stay
        # closer to a bell shape, which costs fewer bits per weight after quantization.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, (3 * m.weight[0].numel()) ** -0.5)

    def forward(self, embed: torch.Tensor, weights: dict[str, torch.Tensor] | None = None):
        """``weights`` optionally replaces parameters by name (quantization-aware training)."""
        p = dict(self.named_parameters()) if weights is None else weights
        x = F.gelu(F.conv2d(embed, p["stem.weight"], p["stem.bias"]))
        for i, s in enumerate(self.config.strides):
            conv = self.blocks[i]
            x = F.conv2d(x, p[f"blocks.{i}.weight"], p[f"blocks.{i}.bias"], padding=conv.padding)
            x = F.gelu(F.pixel_shuffle(x, s))
        x = F.conv2d(x, p["head.weight"], p["head.bias"], padding=1)
        return torch.tanh(x) * 0.5 + 0.5


class _LayerNorm2d(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class HNeRVEncoder(nn.Module):
    """frames (B, 3, H, W) in [0, 1] -> embeddings (B, d, H/cell, W/cell); used while encoding
    only (never stored)."""

    def __init__(self, config: HNeRVConfig) -> None:
        super().__init__()
        dim = config.enc_dim
        layers: list[nn.Module] = []
        for i, s in enumerate(config.strides):
            if i == 0:
                layers += [nn.Conv2d(3, dim, s, stride=s), _LayerNorm2d(dim)]
            else:
                layers += [_LayerNorm2d(dim), nn.Conv2d(dim, dim, s, stride=s)]
            layers.append(_ConvNeXtBlock(dim))
        layers.append(nn.Conv2d(dim, config.embed_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)


class HNeRV(nn.Module):
    """Encoder + decoder, trained end to end on one video.

    Each frame's embedding is the encoder's output plus a free per-frame offset. The offsets
    start as small noise that tells frames apart from the first step: consecutive frames look
    alike, and without them the encoder can settle on near-identical embeddings for all
    frames (a decoder that only learns the average frame). Only the sum is stored.
    """

    def __init__(self, config: HNeRVConfig, frames: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = HNeRVEncoder(config)
        self.decoder = HNeRVDecoder(config)
        h, w = config.embed_hw
        self.offsets = nn.Parameter(torch.randn(frames, config.embed_dim, h, w) * 0.5)

    def embed(self, frames: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, H, W), index (B,) -> embeddings (B, d, h, w)"""
        return self.encoder(frames) + self.offsets[index]

    def forward(self, frames: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.embed(frames, index))
