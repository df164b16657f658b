"""The ``sdf`` method: its options (the command-line flags) and how an encode or a mesh plans,
fits, meshes and stores it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codec.method import FitContext
from codec.options import ENCODE_ONLY, check_bits, check_budget, check_lmbda, parse_count
from codec.registry import register_method
from recon import meshing
from recon.method import LMBDA, Mesh, SurfaceMethod, budget, check_steps, priced
from recon.neural import SurfaceField, SurfaceFieldConfig
from recon.pointcloud import Normalization
from recon.sdf.codec import NeuralSDFCodec
from recon.sdf.fit import field_config, fit_sdf, sdf


@dataclass(frozen=True)
class SDFOptions:
    size: str = field(default="200k", metadata=ENCODE_ONLY)
    """parameters of hash grid + MLP, e.g. 200k"""
    steps: int = 400
    """optimisation steps"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of steps"""
    bits: int = field(default=8, metadata=ENCODE_ONLY)
    """weight bit depth (with --lmbda: the grid's first learned steps)"""
    lmbda: float = field(default=LMBDA, metadata=ENCODE_ONLY)
    """rate weight: loss + LMBDA x the grid's estimated bits per input point (larger =
    smaller file; 0: distortion only, quantized at --bits after training)"""
    coord_quant: int = 0
    """snap coordinates to an N-per-axis lattice before the grid (CQ-NIR); 0 = off"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_steps(self.steps)
        check_budget(self.time_budget)
        check_bits(self.bits)
        check_lmbda(self.lmbda)
        if self.coord_quant and not 2 <= self.coord_quant <= 1 << 20:
            raise ValueError("--coord-quant must be 0 (off) or in 2..1048576")


@register_method
class SDFMethod(SurfaceMethod):
    name = "sdf"
    codec = NeuralSDFCodec
    Options = SDFOptions
    summary = "hash-grid neural SDF (Neural-Pull)"
    tiny = {"size": "20k", "steps": 30}

    def plan(self, shape: tuple[int, ...], options: SDFOptions) -> SurfaceFieldConfig:
        return field_config(parse_count(options.size), options.coord_quant)

    def fit(self, points: np.ndarray, config: SurfaceFieldConfig, options: SDFOptions,
            ctx: FitContext) -> tuple[SurfaceField, dict]:
        return fit_sdf(points, config, budget(options), seed=ctx.seed, device=ctx.device,
                       report=ctx.report, lmbda=priced(options, ctx), bits=options.bits)

    def to_codec(self, fitted: SurfaceField, norm: Normalization, points: np.ndarray,
                 options: SDFOptions) -> NeuralSDFCodec:
        return NeuralSDFCodec.from_field(fitted, norm, bits=options.bits)

    def mesh(self, fitted: SurfaceField, resolution: int | None, points: np.ndarray | None
             ) -> Mesh:
        return meshing.extract(sdf(fitted), resolution or 256)
