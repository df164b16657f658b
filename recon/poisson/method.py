"""The ``poisson`` method: mesh only (no field, nothing to store), no options."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.registry import register_method
from recon.method import Mesh, SurfaceMethod
from recon.poisson.mesh import poisson_mesh


@dataclass(frozen=True)
class PoissonOptions:
    """Screened Poisson takes no options (its settings are the baseline's, ``poisson_mesh``)."""


@register_method
class PoissonMethod(SurfaceMethod):
    name = "poisson"
    codec = None
    Options = PoissonOptions
    summary = "Open3D screened Poisson with estimated normals (the usual baseline)"

    def reconstruct(self, points: np.ndarray) -> Mesh:
        return poisson_mesh(points)
