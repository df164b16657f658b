"""The ``gridpull`` method: its options (the command-line flags) and how an encode or a mesh
plans, fits, meshes and stores it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from codec.method import FitContext
from codec.options import ENCODE_ONLY, check_budget, parse_count
from codec.registry import register_method
from recon import meshing
from recon.gridpull.codec import GridCodecConfig, GridPullCodec, for_error
from recon.gridpull.fit import fit_grid
from recon.method import Mesh, SurfaceMethod, budget, check_steps
from recon.pointcloud import Normalization

MAX_GRID = 512


@dataclass(frozen=True)
class GridPullOptions:
    size: str = field(default="auto", metadata=ENCODE_ONLY)
    """stored grid nodes, ⌊size^⅓⌋ per axis (2.1M: 128³); auto: the fitted grid's own"""
    steps: int = 800
    """optimisation steps"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of steps"""
    grid: int | None = None
    """nodes per axis of the fitted grid (default: from the point spacing, 16..256)"""
    noise: float | None = None
    """noise σ of the points, a fraction of their longest side (default: estimated; 0: clean)"""
    error: float | None = field(default=None, metadata=ENCODE_ONLY)
    """target mean distance of the stored surface from the fitted one, a fraction of the
    longest side (e.g. 2e-4): stores the coarsest grid and step within it (overrides --size)"""

    def __post_init__(self) -> None:
        if self.size != "auto":
            parse_count(self.size)
        check_steps(self.steps)
        check_budget(self.time_budget)
        if self.grid is not None and not 8 <= self.grid <= MAX_GRID:
            raise ValueError(f"--grid must be in 8..{MAX_GRID}")
        if self.noise is not None and not 0 <= self.noise <= 0.1:
            raise ValueError("--noise must be in [0, 0.1] (a fraction of the longest side)")
        if self.error is not None and not 1e-6 <= self.error <= 0.05:
            raise ValueError("--error must be in [1e-6, 0.05] (a fraction of the longest side)")


@register_method
class GridPullMethod(SurfaceMethod):
    name = "gridpull"
    codec = GridPullCodec
    Options = GridPullOptions
    summary = "distance grid fitted directly to the points"
    tiny = {"size": "30k", "steps": 30}
    default = True

    def plan(self, shape: tuple[int, ...], options: GridPullOptions) -> GridCodecConfig:
        """The stored grid's config; for ``--size auto`` a 128³ stand-in until the fit has
        chosen its lattice (``to_codec``)."""
        if options.size == "auto":
            return GridCodecConfig()
        target = parse_count(options.size)
        try:
            return GridCodecConfig(resolution=math.floor(round(target ** (1 / 3), 6)))
        except ValueError:
            raise ValueError(f"--size {target}: gridpull stores 8³..512³ nodes") from None

    def params(self, options: GridPullOptions) -> int:
        return self.plan((0, 3), options).resolution ** 3

    def fit(self, points: np.ndarray, config: GridCodecConfig, options: GridPullOptions,
            ctx: FitContext) -> tuple[np.ndarray, dict]:
        # the lattice follows the points (recon.gridpull.fit.plan_fit); a mesh asked for at
        # another resolution, and a stored grid of another size, are resampled from it
        return fit_grid(points, budget(options), resolution=options.grid, noise=options.noise,
                        seed=ctx.seed, device=ctx.device, report=ctx.report)

    def to_codec(self, fitted: np.ndarray, norm: Normalization, points: np.ndarray,
                 options: GridPullOptions) -> GridPullCodec:
        config = self.plan(points.shape, options)
        if options.error is not None:
            config = for_error(fitted, options.error, config)
        elif options.size == "auto":
            config = replace(config, resolution=fitted.shape[0])
        return GridPullCodec.from_values(fitted, norm, config)

    def mesh(self, fitted: np.ndarray, resolution: int | None, points: np.ndarray | None
             ) -> Mesh:
        return meshing.grid_mesh(fitted, resolution)
