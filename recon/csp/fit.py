"""CSP: a closest-surface-point field for open or closed surfaces (Venkatesh et al., ICCV 2021),
on the shared hash-grid field (``recon.neural``), fitted to a point cloud without normals.

The network predicts an offset o(q) (3 outputs); the closest surface point is c(q) = q + o(q),
the unsigned distance u(q) = ‖o(q)‖ and the normal (q − c(q)) / u(q), with no backward pass.

Training regresses c(q) onto a target per query q: q's nearest input point moved, within that
point's tangent plane (PCA over its neighbours), to the foot of q. The nearest input point alone
is off the true closest point by up to half the point spacing, and the field learns that
quantisation (spot, 30k points: mean u on the GT surface 1.41e-3 vs 0.46e-3 with the planes).
The loss is the L2 distance, not its square: squared, the far and ambiguous queries (near the
medial axis, where the target jumps) dominate and cost near-surface accuracy (1.14e-3).

Meshing keeps open surfaces open (``recon.csp.extract``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from codec.fit import Budget, Report, Step, cosine, run
from recon.meshing import BOX
from recon.neural import FieldTrainer, SurfaceField, SurfaceFieldConfig, plan_field
from recon.sampling import QueryPool, nearest, neighbour_scatter


@dataclass(frozen=True)
class Recipe:
    """CSP's training recipe (not options: tuned once, README)."""

    finest: int = 128
    """Cells across the box at the finest hash-grid level. Finer levels in a 200k budget are
    hashed so heavily that they add noise (spot: surface error 0.57e-3 at 256 vs 0.46e-3)."""
    batch: int = 8192
    lr: float = 1e-2
    """Adam (betas 0.9/0.99, eps 1e-15), cosine decay to ``lr · final_lr``."""
    final_lr: float = 0.03
    sigma_k: int = 8
    """Near-surface query noise σ per point = distance to its k-th neighbour; wider clouds spend
    the field on far queries (spot: surface error 0.57e-3 with k = 16 vs 0.46e-3)."""
    uniform: float = 0.05
    """Fraction of each batch drawn uniformly in the box, so that u is right far from the
    points too (the block pruning of meshing trusts it)."""
    plane_k: int = 16
    """Neighbours for the tangent planes of the targets; 0 = nearest input point as target."""


RECIPE = Recipe()
REPORT_EVERY = 20
"""Steps between the points where a checkpoint may be taken."""


def field_config(size: int, recipe: Recipe = RECIPE) -> SurfaceFieldConfig:
    """The largest offset field within ``size`` parameters (ValueError when none fits)."""
    return plan_field(size, finest=recipe.finest, n_outputs=3)


def tangent_planes(points: np.ndarray, tree: cKDTree, k: int) -> tuple[np.ndarray, np.ndarray]:
    """points (N, 3) → unoriented PCA normals (N, 3) over k neighbours, reach (N,): how far a
    target may move from its point, half the distance to the 4th neighbour (about the radius
    of the point's Voronoi cell). A full distance let the planes of a rim reach across small
    openings: the teapot's spout tip closed."""
    d, idx = tree.query(points, k=min(k, len(points) - 1) + 1, workers=-1)
    _, vecs = np.linalg.eigh(neighbour_scatter(points, idx)[1])
    return vecs[:, :, 0], 0.5 * d[:, min(4, d.shape[1] - 1)]


def plane_targets(
    q: np.ndarray, points: np.ndarray, idx: np.ndarray, normals: np.ndarray, reach: np.ndarray
) -> np.ndarray:
    """q (M, 3) float64, idx (M,) nearest input point → targets (M, 3) float32: q projected onto
    that point's tangent plane, at most ``reach`` from it (far queries would land off the
    surface)."""
    p, n = points[idx], normals[idx]
    v = q - p
    tan = v - np.einsum("mi,mi->m", v, n)[:, None] * n
    length = np.linalg.norm(tan, axis=1, keepdims=True)
    return (p + tan * np.minimum(1.0, reach[idx, None] / np.maximum(length, 1e-12))).astype(
        np.float32
    )


class CSPTrainer(FieldTrainer):
    """One step: the L2 distance between c(q) = q + o(q) and the targets, on a batch of
    near-surface queries and a ``uniform`` fraction of far ones."""

    def __init__(self, points: np.ndarray, config: SurfaceFieldConfig, recipe: Recipe,
                 seed: int, device: torch.device | str = "cpu") -> None:
        points = np.asarray(points, np.float64)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            self.field = SurfaceField(config).to(device)
        tree = cKDTree(points)
        pool = QueryPool.build(points, per_point=20, k=recipe.sigma_k, seed=seed, tree=tree)
        far = np.random.default_rng(seed).uniform(-BOX, BOX, (max(1, len(pool) // 4), 3))
        far_idx = nearest(tree, far)[1]
        near_t, far_t = pool.targets, points[far_idx].astype(np.float32)
        if recipe.plane_k:
            normals, reach = tangent_planes(points, tree, recipe.plane_k)
            near_t = plane_targets(
                pool.queries.astype(np.float64), points, pool.target_index, normals, reach
            )
            far_t = plane_targets(far, points, far_idx, normals, reach)
        self.queries = torch.from_numpy(np.concatenate([pool.queries, far.astype(np.float32)])
                                        ).to(device)
        self.targets = torch.from_numpy(np.concatenate([near_t, far_t])).to(device)
        self.n_near, self.n_far = len(pool), round(recipe.batch * recipe.uniform)
        self.batch = recipe.batch
        self.optim = torch.optim.Adam(self.field.parameters(), lr=recipe.lr, betas=(0.9, 0.99),
                                      eps=1e-15)
        self.gen = torch.Generator(device=device).manual_seed(seed)  # batches drawn there

    def step(self, at: Step) -> dict | None:
        gen = self.gen
        pick = torch.cat([
            torch.randint(0, self.n_near, (self.batch - self.n_far,), generator=gen,
                          device=gen.device),
            torch.randint(self.n_near, len(self.queries), (self.n_far,), generator=gen,
                          device=gen.device),
        ])
        q, t = self.queries[pick], self.targets[pick]
        field, bits = self.view(at)
        # the epsilon keeps the gradient of the norm finite where c(q) hits its target exactly
        dist = (((q + field(q) - t) ** 2).sum(1) + 1e-12).sqrt().mean()
        loss = self.priced(dist, bits, at)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if not at.report:
            return None
        stats = {"step": at.step + 1, "loss": dist.item()}
        return stats if bits is None else {**stats, "bits/point": bits.item()}


def fit_csp(points: np.ndarray, config: SurfaceFieldConfig, budget: Budget, *,
            recipe: Recipe = RECIPE, seed: int = 0, device: torch.device | str = "cpu",
            report: Report | None = None, lmbda: float = 0.0, bits: int = 8
            ) -> tuple[SurfaceField, dict]:
    """points: (N, 3) normalised → (field of ``config`` on the CPU: (n, 3) → offsets (n, 3),
    statistics), trained on ``device``. At least one step, however short a time budget.
    ``lmbda`` > 0 prices the grid during training (``recon.neural.FieldTrainer``; the field's
    ``stored`` levels are then what a file keeps)."""
    t_start = time.perf_counter()
    trainer = CSPTrainer(points, config, recipe, seed, device)
    trainer.price_rate(lmbda, bits, len(points))
    result = run(trainer, budget, optim=trainer.optim, schedule=cosine(recipe.final_lr),
                 phases=trainer.phases(), report=report, report_every=REPORT_EVERY,
                 tag="csp", min_steps=1)
    trainer.finish()  # meshing and coding run on the CPU
    stats = {"steps": result.steps, "params": config.n_params(),
             "queries": len(trainer.queries), "seconds": time.perf_counter() - t_start,
             **result.last}
    return trainer.field, stats
