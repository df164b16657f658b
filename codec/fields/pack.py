"""Quantization of a hash grid + MLP field for a file, shared by every field codec (the video
``hashgrid`` codec, the neural SDF and CSP surface codecs).

Grid: one tensor per level (entries, F), all levels with the quantization step of the widest
one (``level_bits``). MLP: tcnn's padded rows/columns are left out; each matrix at 8 bits with
per-tensor or per-channel parameters, whichever codes better (``quantize_best``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from codec.errors import ContainerError
from codec.fields import FusedMLP, HashGrid
from codec.fields.hashgrid import HashGridConfig
from codec.fields.mlp import MLPConfig, split_params
from codec.quant import QuantizedTensor, fake_quantize, quantize, quantize_best

MLP_BITS = 8


def level_views(params: torch.Tensor, grid: HashGridConfig) -> list[torch.Tensor]:
    """The flat table as one (entries, F) view per level."""
    geo = grid.geometry  # cached on the config: no recomputation per training step
    return [params[geo.level_slice(lv)].view(-1, grid.n_features_per_level)
            for lv in range(grid.n_levels)]


def level_bits(levels: Sequence, bits: int) -> list[int]:
    """Bit depth per grid level so that every level gets (about) the quantization step of the
    widest one at ``bits``: equal steps spend bits where values are large. Measured on bikes
    against ``bits`` for every level: 29 % fewer bytes at −0.1 dB (README)."""
    ranges = [float(v.max() - v.min()) for v in levels]
    step = max(ranges) / ((1 << bits) - 1)
    if step <= 0:
        return [bits] * len(levels)
    return [max(2, min(16, math.ceil(math.log2(r / step + 1)))) if r > 0 else 2 for r in ranges]


def fake_quantize_levels(params: torch.Tensor, grid: HashGridConfig, bits: int) -> torch.Tensor:
    """Straight-through quantization per level, with the steps the file will use."""
    views = level_views(params, grid)
    depths = level_bits([v.detach() for v in views], bits)
    return torch.cat([fake_quantize(v, b, None, "ste").reshape(-1)
                      for v, b in zip(views, depths, strict=True)])


def quantize_field(grid: HashGrid, mlp: FusedMLP, bits: int
                   ) -> tuple[dict[str, QuantizedTensor], dict[str, QuantizedTensor]]:
    """({"level{l}": ...}, {"w{i}": ...}) ready for ``pack_tensors``."""
    views = [v.detach().cpu().numpy() for v in level_views(grid.params, grid.config)]
    grid_q = {f"level{lv}": quantize(v, b)
              for lv, (v, b) in enumerate(zip(views, level_bits(views, bits), strict=True))}
    mats = split_params(mlp.params.detach().cpu(), mlp.config)
    mlp_q = {f"w{i}": quantize_best(m[:r, :c].numpy(), MLP_BITS)
             for i, (m, (r, c)) in enumerate(zip(mats, mlp.config.stored_shapes, strict=True))}
    return grid_q, mlp_q


def check_field_tensors(name: str, grid: HashGridConfig, mlp: MLPConfig,
                        grid_q: dict[str, QuantizedTensor], mlp_q: dict[str, QuantizedTensor]):
    """ContainerError unless the tensors have exactly the configuration's shapes."""
    geo = grid.geometry
    want = {f"level{lv}": (geo.sizes[lv], grid.n_features_per_level)
            for lv in range(grid.n_levels)}
    if {n: q.shape for n, q in grid_q.items()} != want:
        raise ContainerError(f"{name}: grid tensors do not match the configuration")
    shapes = {f"w{i}": tuple(s) for i, s in enumerate(mlp.stored_shapes)}
    if {n: q.shape for n, q in mlp_q.items()} != shapes:
        raise ContainerError(f"{name}: MLP tensors do not match the configuration")


def load_field(grid: HashGrid, mlp: FusedMLP, grid_q: dict[str, QuantizedTensor],
               mlp_q: dict[str, QuantizedTensor]) -> None:
    """Copy dequantized tensors into the modules' parameters (padding stays zero)."""
    table = np.concatenate([grid_q[f"level{lv}"].dequantize().reshape(-1)
                            for lv in range(grid.config.n_levels)])
    flat = torch.zeros_like(mlp.params)
    for i, m in enumerate(split_params(flat, mlp.config)):
        q = torch.from_numpy(mlp_q[f"w{i}"].dequantize())
        m[: q.shape[0], : q.shape[1]] = q
    with torch.no_grad():
        grid.params.copy_(torch.from_numpy(table))
        mlp.params.copy_(flat)
