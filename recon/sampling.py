"""Near-surface query sampling for fields fitted to point clouds (Neural-Pull style).

Each query is an input point displaced by Gaussian noise with a per-point σ (the distance to the
point's k-th neighbour, so sparse regions get wider clouds); its target is the nearest input
point, found with a KD-tree in batches. All coordinates are normalised (see
:class:`~recon.pointcloud.Normalization`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


def knn_distance(tree: cKDTree, points: np.ndarray, k: int, batch: int = 200_000) -> np.ndarray:
    """(N,) distance from each of ``points`` to its k-th nearest neighbour in ``tree``
    (the point itself counts as the 0-th when it belongs to the tree)."""
    k = min(k, tree.n - 1)
    out = np.empty(len(points), np.float64)
    for s in range(0, len(points), batch):
        d, _ = tree.query(points[s : s + batch], k=[k + 1], workers=-1)
        out[s : s + batch] = d[:, 0]
    return out


def nearest(tree: cKDTree, queries: np.ndarray, batch: int = 200_000):
    """(distance (M,), index (M,)) of each query's nearest tree point, batched."""
    dist = np.empty(len(queries), np.float64)
    idx = np.empty(len(queries), np.int64)
    for s in range(0, len(queries), batch):
        d, i = tree.query(queries[s : s + batch], k=1, workers=-1)
        dist[s : s + batch], idx[s : s + batch] = d, i
    return dist, idx


@dataclass
class QueryPool:
    """Pre-drawn queries (M, 3) and their targets (M, 3), float32; batches are drawn from it."""

    queries: np.ndarray
    targets: np.ndarray
    target_index: np.ndarray
    """(M,) index of each target in the input points."""
    sigma: np.ndarray
    """(N,) per-point noise scale used."""

    @classmethod
    def build(
        cls,
        points: np.ndarray,
        per_point: int = 20,
        k: int = 50,
        sigma_max: float = 0.05,
        sigma_scale: float = 1.0,
        seed: int = 0,
        tree: cKDTree | None = None,
        max_queries: int = 2_000_000,
    ) -> QueryPool:
        """points: (N, 3) normalised. σ_i = sigma_scale · min(d_k(i), sigma_max); queries
        q = p_i + σ_i · N(0, I), ``per_point`` per point (fewer when N is large)."""
        tree = tree if tree is not None else cKDTree(points)
        rng = np.random.default_rng(seed)
        sigma = sigma_scale * np.minimum(knn_distance(tree, points, k), sigma_max)
        sigma = np.maximum(sigma, 1e-4)
        per_point = max(1, min(per_point, max_queries // len(points)))
        src = np.repeat(np.arange(len(points)), per_point)
        q = points[src] + rng.standard_normal((len(src), 3)) * sigma[src, None]
        _, idx = nearest(tree, q)
        return cls(q.astype(np.float32), points[idx].astype(np.float32), idx, sigma)

    def __len__(self) -> int:
        return len(self.queries)
