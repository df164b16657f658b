"""The neural surface field shared by the SDF and CSP methods: a tcnn-exact 3-D hash grid and a
small bias-free MLP (``codec.fields``) over normalised coordinates, plus the coordinate
quantization of CQ-NIR as an option.

Coordinates: normalised points live in [-BOX, BOX]³ (``recon.meshing.BOX``); the grid sees
``(x + BOX) / (2 BOX)`` in [0, 1]³. With ``coord_quant = N`` each coordinate is first snapped to
the nearest node of an N-per-axis lattice over the box (no gradient flows through the snap).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from codec.fields import (
    FusedMLP,
    HashGrid,
    HashGridConfig,
    MLPConfig,
    hash_grid_encode,
    largest_within,
)
from codec.fields.rate import GridRate
from codec.fit import Phase, Step, Trainer
from codec.quant import QuantizedTensor
from codec.rate import ramp
from recon.meshing import BOX


@dataclass(frozen=True)
class SurfaceFieldConfig:
    """Architecture of a surface field (everything a decoder needs besides the tensors)."""

    n_levels: int = 12
    n_features_per_level: int = 2
    log2_hashmap_size: int = 15
    base_resolution: int = 16
    per_level_scale: float = 1.37
    n_neurons: int = 64
    n_hidden_layers: int = 1
    n_outputs: int = 1
    """1: signed distance; 3: offset to the closest surface point (CSP)."""
    sphere_prior: float = 0.0
    """> 0: the output is added to ``‖x‖ − sphere_prior`` (SDF: the fit starts from a sphere)."""
    coord_quant: int = 0
    """CQ-NIR: snap coordinates to an N-per-axis lattice over the box first (0 = off)."""

    def __post_init__(self) -> None:
        if self.n_outputs not in (1, 3):
            raise ValueError("n_outputs must be 1 or 3")
        if not (0 <= self.coord_quant <= 1 << 20):
            raise ValueError("coord_quant must be in 0..2**20")
        if not (math.isfinite(self.sphere_prior) and 0 <= self.sphere_prior < 1):
            raise ValueError("sphere_prior must be in [0, 1)")

    def grid(self) -> HashGridConfig:
        return HashGridConfig(3, self.n_levels, self.n_features_per_level,
                              self.log2_hashmap_size, self.base_resolution, self.per_level_scale)

    def mlp(self) -> MLPConfig:
        return MLPConfig(self.n_levels * self.n_features_per_level, self.n_outputs,
                         self.n_neurons, self.n_hidden_layers)

    def n_params(self) -> int:
        return self.grid().n_params + sum(r * c for r, c in self.mlp().stored_shapes)


def plan_field(target: int, finest: int = 512, **overrides: Any) -> SurfaceFieldConfig:
    """The largest table and level count (8–16) within ``target`` parameters; levels span 16 to
    ``finest`` cells across the box."""
    return largest_within(target, (
        SurfaceFieldConfig(n_levels=levels, log2_hashmap_size=log2,
                           per_level_scale=(finest / 16) ** (1 / (levels - 1)), **overrides)
        for log2 in range(8, 22) for levels in range(8, 17)))


class SurfaceField(torch.nn.Module):
    """(n, 3) normalised points → (n, n_outputs)."""

    def __init__(self, config: SurfaceFieldConfig, backend: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.grid = HashGrid(config.grid(), backend)
        self.mlp = FusedMLP(config.mlp(), backend)
        self.stored: dict[str, QuantizedTensor] | None = None
        """The grid's levels as a file stores them, from a rate-trained fit (None: quantized
        at --bits)."""

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        """Grid input in [0, 1]³, snapped to the CQ-NIR lattice when configured."""
        n = self.config.coord_quant
        if n:
            with torch.no_grad():
                step = 2 * BOX / (n - 1)
                x = torch.round((x + BOX) / step) * step - BOX
        return ((x + BOX) / (2 * BOX)).clamp(0, 1)

    def forward(self, x: torch.Tensor, grid_params: torch.Tensor | None = None) -> torch.Tensor:
        u = self.unit(x)
        feats = self.grid(u) if grid_params is None else hash_grid_encode(
            u, grid_params, self.grid.config)
        out = self.mlp(feats)
        if self.config.sphere_prior > 0:
            out = out + (x.norm(dim=1, keepdim=True) - self.config.sphere_prior)
        return out


RATE_LR = 1e-2
"""Adam's learning rate for the learned steps and densities of rate-trained fields."""
STE = Phase("ste", 0.9)
"""Rate-trained fields see their grid straight-through rounded in the last 10 % (noise
before)."""


class FieldTrainer(Trainer):
    """A trainer of a :class:`SurfaceField` (``self.field``) that draws its batches from its
    own generator (``self.gen``): a checkpoint keeps both, every 50 steps. With
    :meth:`price_rate` (``--lmbda`` > 0), the grid is rate-trained (``codec.fields.rate``):
    steps see it through the quantization proxy (:meth:`view`) and add λ · its estimated bits
    per input point (:meth:`priced`)."""

    safe_every = 50
    field: SurfaceField
    gen: torch.Generator
    optim: torch.optim.Optimizer
    rate: GridRate | None = None
    lmbda: float = 0.0

    def price_rate(self, lmbda: float, bits: int, points: int) -> None:
        """Price the grid at ``lmbda`` · bits per point (its steps start at ``bits``)."""
        if not lmbda:
            return
        device = self.field.grid.params.device
        self.rate = GridRate(self.field.config.grid(), bits, points).to(device)
        self.lmbda = lmbda
        for group in self.rate.parameter_groups(RATE_LR):
            self.optim.add_param_group(group)

    def view(self, at: Step) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                      torch.Tensor | None]:
        """(the field as this step sees it, its grid's estimated bits per point or None)."""
        if self.rate is None:
            return self.field, None
        table, bits = self.rate(self.field.grid.params,
                                "ste" if at.phase == STE.name else "noise", self.gen)
        return (lambda x: self.field(x, table)), bits

    def priced(self, loss: torch.Tensor, bits: torch.Tensor | None, at: Step) -> torch.Tensor:
        return loss if bits is None else loss + ramp(self.lmbda, at.progress) * bits

    def phases(self, *others: Phase) -> tuple[Phase, ...]:
        """The fit's phases: ``others`` and, when rate-trained, straight-through rounding."""
        return others if self.rate is None else (*others, STE)

    def finish(self) -> SurfaceField:
        """The trained field, on the CPU in eval mode, with the grid levels a file stores
        when it was rate-trained (``stored``)."""
        if self.rate is not None:
            self.field.stored = self.rate.quantize(self.field.grid.params)
        return self.field.eval().cpu()

    def state(self) -> dict:
        return {"field": self.field.state_dict(), "gen": self.gen.get_state(),
                "rate": None if self.rate is None else self.rate.state_dict()}

    def load(self, state: dict) -> None:
        self.field.load_state_dict(state["field"])
        self.gen.set_state(state["gen"])
        if self.rate is not None:
            self.rate.load_state_dict(state["rate"])
