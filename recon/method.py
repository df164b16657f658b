"""The surface side of :class:`codec.method.Method`: what ``recon.api`` needs to turn a point
cloud into a mesh (``nircodec mesh``) or into a ``.nirc`` file (``nircodec encode``).

A field method (gridpull, sdf, csp) plans its codec's config from its options, fits normalised
points (``recon.pointcloud.Normalization``) into a *fitted* object (a distance grid, a
:class:`recon.neural.SurfaceField`), meshes that object and stores it as its codec::

    config = method.plan((n, 3), options)              # ValueError for impossible sizes
    fitted, stats = method.fit(unit, config, options, ctx)
    v, f = method.mesh(fitted, resolution, unit)      # normalised frame
    codec = method.to_codec(fitted, norm, unit, options)

``ctx.extra["purpose"]`` says what the fit is for ("encode" or "mesh") and
``ctx.extra["resolution"]`` the lattice the mesh is wanted on (None: the method's own). A
mesh-only method (``codec = None``, e.g. poisson) implements :meth:`reconstruct` instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from codec.fit import Budget
from codec.method import FitContext, Method
from codec.options import check_count
from recon.pointcloud import Normalization

Mesh = tuple[np.ndarray, np.ndarray]  # vertices (V, 3) float64, triangles (F, 3) int64


class SurfaceMethod(Method):
    """A surface method; subclasses set ``name``, ``codec``, ``Options``, ``summary``."""

    kind: ClassVar[str] = "surface"

    def plan(self, shape: tuple[int, ...], options: Any) -> Any:
        """The codec's config for a cloud of ``shape`` (points, 3) under ``options``."""
        return None

    def fit(self, points: np.ndarray, config: Any, options: Any, ctx: FitContext
            ) -> tuple[Any, dict]:
        """points: (N, 3) normalised → (fitted object, training statistics)."""
        raise NotImplementedError

    def to_codec(self, fitted: Any, norm: Normalization, points: np.ndarray, options: Any):
        """The codec storing ``fitted`` with ``norm``; ``points``: the normalised cloud."""
        raise NotImplementedError

    def mesh(self, fitted: Any, resolution: int | None, points: np.ndarray | None) -> Mesh:
        """Mesh (normalised frame) of ``fitted`` on a ``resolution``³ lattice (None: the
        method's default); ``points``: the normalised cloud it was fitted to, if known."""
        raise NotImplementedError

    def reconstruct(self, points: np.ndarray) -> Mesh:
        """Mesh-only methods: points (N, 3) → mesh, both in the input's frame."""
        raise NotImplementedError


LMBDA = 0.0
"""Default ``--lmbda`` of the hash-grid surface fields (sdf, csp)."""


def priced(options: Any, ctx: FitContext) -> float:
    """The rate weight a fit trains with: ``options.lmbda`` for an encode, 0 for a mesh (no
    file to price)."""
    return options.lmbda if ctx.extra.get("purpose") == "encode" else 0.0


def check_steps(steps: int) -> None:
    check_count(steps, "--steps", 1)


def budget(options: Any) -> Budget:
    """A surface fit's budget: ``options.time_budget`` seconds when set, else ``steps``."""
    return Budget.of(options.steps, options.time_budget)
