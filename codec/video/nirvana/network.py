"""NIRVANA-style group network: one small network per group of G frames, predicting 32×32 patches
of all G frames from the patch's centre coordinate (shapes below for P = 32, f = P / 4).

    centre (N, 2) in [-1, 1]
      -> SIREN: sin(w0 · L0 c), sin(L1 ·), …                      (N, W)
      -> linear L_out, reshaped                                    (N, C, f, f)
      -> 3×3 conv to G·4H channels -> PixelShuffle(2) -> GELU      (N, G·H, 2f, 2f)
      -> grouped 3×3 conv (G groups) -> PixelShuffle(2) -> GELU    (N, G·H, 4f, 4f)
      -> grouped 3×3 conv (G groups) -> tanh · ½ + ½                (N, G·3, P, P)

Every weight tensor is stored as integer latents times one learned step per tensor
(``w = step · z``); while training, ``z`` sees uniform noise of one unit (or straight-through
rounding at the end), so the network learns weights that survive rounding, and the rate model
(``codec/rate.py``) prices ``z``. The reference adds a fixed sinusoidal code per frame
before the grouped convs; here each frame's branch already has its own conv weights and
biases, so that constant would only shift the first conv's bias (except at the zero-padded
border) and is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class NirvanaConfig:
    """Architecture of every group's network (all groups share it)."""

    gop: int = 3
    """G: frames per group."""
    patch: int = 32
    """P: side of a patch in pixels (a multiple of 4)."""
    siren_width: int = 32
    """W: width of the SIREN layers."""
    siren_layers: int = 2
    """SIREN layers before the output layer (the first uses w0)."""
    w0: float = 30.0
    stem_channels: int = 8
    """C: channels of the stem's f×f feature map (f = P / 4)."""
    head_channels: int = 8
    """H: channels per frame in the upsampling convs."""

    def __post_init__(self) -> None:
        if not 1 <= self.gop <= 64:
            raise ValueError(f"gop must be in 1..64, got {self.gop}")
        if self.patch % 4 or not 8 <= self.patch <= 256:
            raise ValueError(f"patch must be a multiple of 4 in 8..256, got {self.patch}")
        if min(self.siren_width, self.siren_layers, self.stem_channels, self.head_channels) < 1:
            raise ValueError("widths and layer counts must be positive")
        if not (math.isfinite(self.w0) and 0 < self.w0 <= 1000):
            raise ValueError("w0 must be in (0, 1000]")

    @property
    def feat(self) -> int:
        return self.patch // 4

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Stored tensors in their fixed order (the order of the group payload)."""
        w, c, h, g, f = (self.siren_width, self.stem_channels, self.head_channels, self.gop,
                         self.feat)
        shapes: dict[str, tuple[int, ...]] = {}
        fan_in = 2
        for i in range(self.siren_layers):
            shapes[f"siren{i}.weight"], shapes[f"siren{i}.bias"] = (w, fan_in), (w,)
            fan_in = w
        shapes["stem.weight"], shapes["stem.bias"] = (c * f * f, w), (c * f * f,)
        shapes["up0.weight"], shapes["up0.bias"] = (g * h * 4, c, 3, 3), (g * h * 4,)  # G stacked
        shapes["up1.weight"], shapes["up1.bias"] = (g * h * 4, h, 3, 3), (g * h * 4,)
        shapes["head.weight"], shapes["head.bias"] = (g * 3, h, 3, 3), (g * 3,)
        return shapes

    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())


def plan_config(target: int, gop: int = 3, patch: int = 32) -> NirvanaConfig:
    """The largest network of at most ``target`` parameters per group, growing the stem and
    head channels c together and the SIREN width as 4c (c in 2..64)."""
    best = None
    for c in range(2, 65):
        cfg = NirvanaConfig(gop=gop, patch=patch, siren_width=4 * c, stem_channels=c,
                            head_channels=c)
        n = cfg.n_params()
        if n <= target and (best is None or n > best[0]):
            best = (n, cfg)
    if best is None:
        least = NirvanaConfig(gop=gop, patch=patch, siren_width=8, stem_channels=2,
                              head_channels=2).n_params()
        raise ValueError(f"--size {target} is too small for a nirvana group network of "
                         f"{gop} frames (at least {least} parameters)")
    return best[1]


def forward(config: NirvanaConfig, weights: dict[str, torch.Tensor],
            centres: torch.Tensor) -> torch.Tensor:
    """centres: (N, 2) -> patches (N, G, 3, P, P) in [0, 1], with ``weights`` from
    :meth:`NirvanaConfig.param_shapes` (float32)."""
    g, f = config.gop, config.feat
    x = centres
    for i in range(config.siren_layers):
        x = F.linear(x, weights[f"siren{i}.weight"], weights[f"siren{i}.bias"])
        x = torch.sin(config.w0 * x if i == 0 else x)
    x = F.linear(x, weights["stem.weight"], weights["stem.bias"])
    # channels-last: PyTorch's CPU grouped-conv backward is 4-10x faster in that layout
    x = x.view(-1, config.stem_channels, f, f).contiguous(memory_format=torch.channels_last)
    # the G branches share the stem, so the first grouped conv is one conv with stacked weights
    x = F.conv2d(x, weights["up0.weight"], weights["up0.bias"], padding=1)
    x = F.gelu(F.pixel_shuffle(x, 2))
    x = F.conv2d(x, weights["up1.weight"], weights["up1.bias"], padding=1, groups=g)
    x = F.gelu(F.pixel_shuffle(x, 2))
    x = F.conv2d(x, weights["head.weight"], weights["head.bias"], padding=1, groups=g)
    x = torch.tanh(x) * 0.5 + 0.5
    return x.view(-1, g, 3, config.patch, config.patch)


def init_weights(config: NirvanaConfig, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """SIREN initialisation (first layer U(±1/fan_in), later U(±sqrt(6/fan_in)/w0)·w0 — i.e.
    the SIREN paper's) and PyTorch's default for the linear/conv layers."""
    out = {}
    shapes = config.param_shapes()
    for name, shape in shapes.items():
        layer = name.split(".")[0]
        fan_in = math.prod(shapes[f"{layer}.weight"][1:])
        if layer.startswith("siren"):
            bound = 1 / fan_in if layer == "siren0" else math.sqrt(6 / fan_in)
        else:
            bound = 1 / math.sqrt(fan_in)
        out[name] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
    return out


def patch_centres(config: NirvanaConfig, rows: int, cols: int) -> torch.Tensor:
    """(rows·cols, 2) patch centres (x, y) in [-1, 1], row-major."""
    ys = (torch.arange(rows, dtype=torch.float64) + 0.5) / rows * 2 - 1
    xs = (torch.arange(cols, dtype=torch.float64) + 0.5) / cols * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((xx.reshape(-1), yy.reshape(-1)), dim=1).float()


def to_patches(frames: torch.Tensor, p: int) -> torch.Tensor:
    """(G, 3, R·p, K·p) -> (R·K, G, 3, p, p), row-major patches."""
    g, c, hh, ww = frames.shape
    r, k = hh // p, ww // p
    x = frames.view(g, c, r, p, k, p).permute(2, 4, 0, 1, 3, 5)
    return x.reshape(r * k, g, c, p, p)


def from_patches(patches: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Inverse of :func:`to_patches`: (R·K, G, 3, p, p) -> (G, 3, R·p, K·p)."""
    _, g, c, p, _ = patches.shape
    x = patches.view(rows, cols, g, c, p, p).permute(2, 3, 0, 4, 1, 5)
    return x.reshape(g, c, rows * p, cols * p)
