"""The ``gridpull`` method: its options (the command-line flags) and how an encode or a mesh
plans, fits, meshes and stores it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from codec.method import FitContext
from codec.options import ENCODE_ONLY, check_budget, parse_count
from codec.registry import register_method
from recon import meshing
from recon.gridpull.codec import GridCodecConfig, GridPullCodec
from recon.gridpull.fit import RESOLUTION, fit_grid
from recon.method import Mesh, SurfaceMethod, budget, check_steps, purpose
from recon.pointcloud import Normalization


@dataclass(frozen=True)
class GridPullOptions:
    size: str = field(default="2.1M", metadata=ENCODE_ONLY)
    """stored grid nodes, ⌊size^⅓⌋ per axis (2.1M: 128³)"""
    steps: int = 800
    """optimisation steps"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of steps"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_steps(self.steps)
        check_budget(self.time_budget)


@register_method
class GridPullMethod(SurfaceMethod):
    name = "gridpull"
    codec = GridPullCodec
    Options = GridPullOptions
    summary = "distance grid fitted directly to the points"
    tiny = {"size": "30k", "steps": 30}
    default = True

    def plan(self, shape: tuple[int, ...], options: GridPullOptions) -> GridCodecConfig:
        target = parse_count(options.size)
        try:
            return GridCodecConfig(resolution=math.floor(round(target ** (1 / 3), 6)))
        except ValueError:
            raise ValueError(f"--size {target}: gridpull stores 8³..512³ nodes") from None

    def params(self, options: GridPullOptions) -> int:
        return self.plan((0, 3), options).resolution ** 3

    def fit(self, points: np.ndarray, config: GridCodecConfig, options: GridPullOptions,
            ctx: FitContext) -> tuple[np.ndarray, dict]:
        if purpose(ctx) == "mesh":  # the grid is the mesh's lattice
            resolution = ctx.extra.get("resolution") or RESOLUTION
        else:
            # fitted at twice the stored resolution (at most 256), then resampled: the stored
            # grid keeps the fit's accuracy without paying for its size
            resolution = max(config.resolution, min(256, 2 * config.resolution))
        return fit_grid(points, budget(options), resolution=resolution, seed=ctx.seed,
                        device=ctx.device, report=ctx.report)

    def to_codec(self, fitted: np.ndarray, norm: Normalization, points: np.ndarray,
                 options: GridPullOptions) -> GridPullCodec:
        return GridPullCodec.from_values(fitted, norm, self.plan(points.shape, options))

    def mesh(self, fitted: np.ndarray, resolution: int | None, points: np.ndarray | None
             ) -> Mesh:
        if resolution is None or resolution == fitted.shape[0]:
            return meshing.marching_cubes(fitted, 0.0, meshing.lattice(fitted.shape[0])[1])
        return meshing.extract(meshing.grid_field(fitted), resolution)
