"""Rate–distortion training of the hash-grid field (``--lmbda`` > 0). The grid's levels hold
nearly all of its bytes: each level gets a learned quantization step (``codec.rate.StepSizes``,
``--bits`` sets the first ones like ``level_bits``) and a learned zero-mean Laplace density
(one scale per level: levels differ, and one small density each costs next to nothing beside
a batch of 65k pixels). Training sees the levels through uniform noise, then straight-through
rounding in the "qat" phase; the loss adds ``λ · bits / pixels`` (λ ramping in over the first
30 %, ``codec.rate.ramp``). The file stores ``round(entry / step)`` per level
(``codec.quant.quantize_step``); the small MLP keeps its post-training 8-bit quantization."""

from __future__ import annotations

import torch

from codec.fields.pack import level_views
from codec.quant import QuantizedTensor
from codec.rate import LaplaceDensity, StepSizes
from codec.video.hashgrid.network import VideoField


class GridRate(torch.nn.Module):
    """Steps and densities of one field's grid levels; ``pixels``: the clip's pixels."""

    def __init__(self, field: VideoField, bits: int, pixels: int) -> None:
        super().__init__()
        self.names = [f"level{lv}" for lv in range(field.grid.config.n_levels)]
        # the table starts near zero (Instant-NGP's init), so the first steps assume the
        # range trained tables reach, ±1; training then moves each level's step
        unit = torch.ones(1)
        self.steps = StepSizes({n: unit for n in self.names}, bits)
        self.densities = torch.nn.ModuleList(LaplaceDensity() for _ in self.names)
        self.pixels = pixels

    def forward(self, field: VideoField, mode: str, gen: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the grid table as training sees it, estimated bits per pixel of the levels)."""
        flat, bits = [], 0.0
        views = level_views(field.grid.params, field.grid.config)
        for name, v, density in zip(self.names, views, self.densities, strict=True):
            z, values = self.steps.proxied(name, v, mode, gen=gen)
            flat.append(values.reshape(-1))
            bits = bits + density.bits(z)
        return torch.cat(flat), bits / self.pixels

    def parameter_groups(self, lr: float) -> list[dict]:
        params = [*self.steps.parameters(),
                  *(p for d in self.densities for p in d.density_parameters())]
        return [{"params": params, "lr": lr}]

    def quantize(self, field: VideoField) -> dict[str, QuantizedTensor]:
        views = level_views(field.grid.params, field.grid.config)
        return {n: self.steps.store(n, v) for n, v in zip(self.names, views, strict=True)}
