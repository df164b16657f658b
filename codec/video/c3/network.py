"""The c3 model's architecture: latent grids per group of frames, their fixed upsampling and
the synthesis network (C3, Kim et al. CVPR 2024; Cool-chic, Orange).

A group of ``gop`` frames has one single-channel latent grid per level ``l`` (0 = finest) of
shape ``(ceil(T / ts_l), ceil(H / 2**l), ceil(W / 2**l))``: spatial stride ``2**l`` and
temporal stride ``ts_l = min(2**l, gop)``, so the finest level holds one latent a pixel and the
levels together about 1.14 a pixel. A frame's synthesis input is every level upsampled to the
frame: bilinear in space (``align_corners=False``, by ``2**l``, then cropped), nearest in time
(frame ``f`` reads slice ``f // ts_l``). The synthesis network maps the L values of a pixel to
RGB with 1x1 convolutions (two hidden layers of ``width``, ReLU), then refines with two 3x3
residual convolutions on the three colour channels (Cool-chic's layout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MAX_LEVELS = 10


@dataclass(frozen=True)
class C3Config:
    """Everything the decoder needs to rebuild the networks and the latent shapes."""

    gop: int = 8
    """Frames per group: the unit of random access and of the latent grids."""
    levels: int = 7
    """Latent grids per group, strides 1 .. 2**(levels - 1) in space."""
    width: int = 16
    """Hidden channels of the synthesis network's 1x1 layers."""
    arm_width: int = 16
    """Hidden units of each of the context model's two hidden layers."""

    def __post_init__(self) -> None:
        if not (1 <= self.gop <= 256 and 1 <= self.levels <= MAX_LEVELS
                and 1 <= self.width <= 256 and 1 <= self.arm_width <= 64):
            raise ValueError(f"c3 config out of range: {self}")

    def time_stride(self, level: int) -> int:
        return min(1 << level, self.gop)

    def latent_shapes(self, frames: int, height: int, width: int) -> list[tuple[int, int, int]]:
        """(T_l, H_l, W_l) of each level of a group of ``frames`` frames."""
        return [(-(-frames // self.time_stride(lv)), -(-height // (1 << lv)),
                 -(-width // (1 << lv))) for lv in range(self.levels)]

    def synthesis_shapes(self) -> dict[str, tuple[int, ...]]:
        w, n = self.width, self.levels
        return {"syn.0.weight": (w, n, 1, 1), "syn.0.bias": (w,),
                "syn.1.weight": (w, w, 1, 1), "syn.1.bias": (w,),
                "syn.2.weight": (3, w, 1, 1), "syn.2.bias": (3,),
                "syn.3.weight": (3, 3, 3, 3), "syn.3.bias": (3,),
                "syn.4.weight": (3, 3, 3, 3), "syn.4.bias": (3,)}

    def n_params(self) -> int:
        from codec.video.c3.context import arm_shapes

        shapes = {**self.synthesis_shapes(), **arm_shapes(self)}
        return sum(math.prod(s) for s in shapes.values())

    def macs_per_pixel(self) -> dict[str, float]:
        """Multiply-adds a decoded pixel costs: synthesis, upsampling (4 a level, bilinear)
        and the context model (its MACs per latent times latents per pixel)."""
        from codec.video.c3.context import CONTEXT_SIZE

        w, n = self.width, self.levels
        synthesis = n * w + w * w + 3 * w + 2 * 27 * 3
        per_latent = CONTEXT_SIZE * self.arm_width + self.arm_width ** 2 + 2 * self.arm_width
        latents = sum(1 / (4 ** lv * self.time_stride(lv)) for lv in range(n))
        return {"synthesis": synthesis, "upsampling": 4 * n,
                "context": per_latent * latents,
                "total": synthesis + 4 * n + per_latent * latents}


def plan_config(target: int, gop: int = 8, levels: int = 7) -> C3Config:
    """The widest synthesis (context model of 16 units) whose networks fit ``target``
    parameters; at least width 4."""
    best = C3Config(gop=gop, levels=levels, width=4)
    for width in range(4, 129):
        cfg = C3Config(gop=gop, levels=levels, width=width)
        if cfg.n_params() > target:
            break
        best = cfg
    return best


class Synthesis(torch.nn.Module):
    """(N, L, H, W) upsampled latents → (N, 3, H, W) RGB (unclamped)."""

    def __init__(self, config: C3Config) -> None:
        super().__init__()
        w, n = config.width, config.levels
        self.syn = torch.nn.ModuleList([
            torch.nn.Conv2d(n, w, 1), torch.nn.Conv2d(w, w, 1), torch.nn.Conv2d(w, 3, 1),
            torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate"),
            torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")])
        with torch.no_grad():  # residual refinements start as the identity
            for conv in self.syn[3:]:
                conv.weight.mul_(0.1)
                conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c0, c1, c2, r0, r1 = self.syn
        # the 1x1 layers as matrix products over channels-last pixels: 2.5x faster on a CPU
        h = x.permute(0, 2, 3, 1)
        h = F.relu(F.linear(h, c0.weight[:, :, 0, 0], c0.bias))
        h = F.relu(F.linear(h, c1.weight[:, :, 0, 0], c1.bias))
        rgb = F.linear(h, c2.weight[:, :, 0, 0], c2.bias).permute(0, 3, 1, 2)
        rgb = rgb + r0(rgb)
        return rgb + r1(F.relu(rgb))


def upsample(levels: list[torch.Tensor], frames: int, height: int, width: int,
             config: C3Config) -> torch.Tensor:
    """Latent grids of one group, (T_l, H_l, W_l) each → (frames, L, height, width)."""
    out = []
    for lv, grid in enumerate(levels):
        x = grid[:, None]
        if lv:
            x = F.interpolate(x, scale_factor=float(1 << lv), mode="bilinear",
                              align_corners=False)
        x = x[..., :height, :width]
        ts = config.time_stride(lv)
        if ts > 1:
            x = x.repeat_interleave(ts, dim=0)
        out.append(x[:frames])
    return torch.cat(out, dim=1)
