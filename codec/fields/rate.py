"""Rate–distortion training of a hash grid's table (``--lmbda`` > 0), for every model built
on ``codec.fields`` (the ``hashgrid`` video codec, the ``sdf`` and ``csp`` surface fields). The
levels hold nearly all of a field's bytes: each level gets a learned quantization step
(``codec.rate.StepSizes``, ``--bits`` sets the first ones like ``level_bits``) and a learned
zero-mean Laplace density (one scale per level: levels differ, and one small density each costs
next to nothing). Training sees the levels through uniform noise, then straight-through
rounding in its last phase; the loss adds ``λ · bits / units`` (pixels of a clip, points of a
cloud; λ ramping in over the first 30 %, ``codec.rate.ramp``). The file stores
``round(entry / step)`` per level (``codec.quant.quantize_step``); the small MLP keeps its
post-training quantization."""

from __future__ import annotations

import torch

from codec.fields.hashgrid import HashGridConfig
from codec.fields.pack import level_views
from codec.quant import QuantizedTensor
from codec.rate import LaplaceDensity, StepSizes


class GridRate(torch.nn.Module):
    """Steps and densities of one hash grid's levels (``grid``: its configuration); ``units``:
    what the bits are counted per (a clip's pixels, a cloud's points)."""

    def __init__(self, grid: HashGridConfig, bits: int, units: int) -> None:
        super().__init__()
        self.config = grid
        self.names = [f"level{lv}" for lv in range(grid.n_levels)]
        # the table starts near zero (Instant-NGP's init), so the first steps assume the
        # range trained tables reach, ±1; training then moves each level's step
        unit = torch.ones(1)
        self.steps = StepSizes({n: unit for n in self.names}, bits)
        self.densities = torch.nn.ModuleList(LaplaceDensity() for _ in self.names)
        self.units = units

    def forward(self, params: torch.Tensor, mode: str, gen: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the flat table ``params`` as training sees it stored, estimated bits per unit)."""
        flat, bits = [], 0.0
        views = level_views(params, self.config)
        for name, v, density in zip(self.names, views, self.densities, strict=True):
            z, values = self.steps.proxied(name, v, mode, gen=gen)
            flat.append(values.reshape(-1))
            bits = bits + density.bits(z)
        return torch.cat(flat), bits / self.units

    def parameter_groups(self, lr: float) -> list[dict]:
        params = [*self.steps.parameters(),
                  *(p for d in self.densities for p in d.density_parameters())]
        return [{"params": params, "lr": lr}]

    def quantize(self, params: torch.Tensor) -> dict[str, QuantizedTensor]:
        """The levels of ``params`` as the file stores them, on the learned steps."""
        views = level_views(params, self.config)
        return {n: self.steps.store(n, v) for n, v in zip(self.names, views, strict=True)}
