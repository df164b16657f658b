"""The ``csp`` method: its options (the command-line flags) and how an encode or a mesh plans,
fits, meshes and stores it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codec.method import FitContext
from codec.options import ENCODE_ONLY, check_bits, check_budget, check_lmbda, parse_count
from codec.registry import register_method
from recon.csp.codec import CSPCodec
from recon.csp.extract import fitted_level, mesh
from recon.csp.fit import field_config, fit_csp
from recon.method import LMBDA, Mesh, SurfaceMethod, budget, check_steps, priced
from recon.neural import SurfaceField, SurfaceFieldConfig
from recon.pointcloud import Normalization


@dataclass(frozen=True)
class CSPOptions:
    size: str = field(default="200k", metadata=ENCODE_ONLY)
    """parameters of hash grid + MLP, e.g. 200k"""
    steps: int = 1000
    """optimisation steps"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of steps"""
    bits: int = field(default=8, metadata=ENCODE_ONLY)
    """weight bit depth (with --lmbda: the grid's first learned steps)"""
    lmbda: float = field(default=LMBDA, metadata=ENCODE_ONLY)
    """rate weight: loss + LMBDA x the grid's estimated bits per input point (larger =
    smaller file; 0: distortion only, quantized at --bits after training)"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_steps(self.steps)
        check_budget(self.time_budget)
        check_bits(self.bits)
        check_lmbda(self.lmbda)


@register_method
class CSPMethod(SurfaceMethod):
    name = "csp"
    codec = CSPCodec
    Options = CSPOptions
    summary = "closest-surface-point field, keeps open surfaces open"
    tiny = {"size": "20k", "steps": 30}

    def plan(self, shape: tuple[int, ...], options: CSPOptions) -> SurfaceFieldConfig:
        return field_config(parse_count(options.size))

    def fit(self, points: np.ndarray, config: SurfaceFieldConfig, options: CSPOptions,
            ctx: FitContext) -> tuple[SurfaceField, dict]:
        return fit_csp(points, config, budget(options), seed=ctx.seed, device=ctx.device,
                       report=ctx.report, lmbda=priced(options, ctx), bits=options.bits)

    def to_codec(self, fitted: SurfaceField, norm: Normalization, points: np.ndarray,
                 options: CSPOptions) -> CSPCodec:
        # the file keeps the shell distance these points need (sparse clouds: wider)
        return CSPCodec.from_field(fitted, norm, bits=options.bits,
                                   level=fitted_level(fitted, points))

    def mesh(self, fitted: SurfaceField, resolution: int | None, points: np.ndarray | None
             ) -> Mesh:
        resolution = resolution or 256
        level = None if points is None else fitted_level(fitted, points, resolution)
        return mesh(fitted, resolution, level=level)
