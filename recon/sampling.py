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


def nearest(tree: cKDTree, queries: np.ndarray, batch: int = 200_000,
            within: float = np.inf):
    """(distance (M,), index (M,)) of each query's nearest tree point, batched. With
    ``within``, only the distances up to it are exact, the others inf (index ``tree.n``): the
    search prunes everything farther, which makes far queries nearly free."""
    dist = np.empty(len(queries), np.float64)
    idx = np.empty(len(queries), np.int64)
    bound = np.nextafter(within, np.inf)  # scipy's bound is strict; ``within`` itself counts
    for s in range(0, len(queries), batch):
        d, i = tree.query(queries[s : s + batch], k=1, distance_upper_bound=bound, workers=-1)
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


def spacing(tree: cKDTree, k: int = 4, sample: int = 20_000) -> float:
    """Typical point spacing: the median distance from a point to its k-th neighbour (over at
    most ``sample`` points)."""
    pts = _subsample(tree.data, sample)
    return float(np.median(knn_distance(tree, pts, k)))


NOISE_SCALES = (20, 40)
NOISE_GAIN = 1.2
"""The smallest eigenvalue of a k-point covariance underestimates σ² (k-point samples, lowest of
three): × 1.2 on σ, calibrated with Gaussian noise on 30k-point spheres, tori and the shared
meshes: σ 0.001–0.005 reads within 10 %; σ 0.01 reads low (0.007–0.008), its neighbourhoods
then spanning the curvature."""


def noise_level(tree: cKDTree, sample: int = 20_000) -> float:
    """Estimated standard deviation of the points' noise normal to the surface (same units).

    Local PCA: the smallest eigenvalue λ(k) of the covariance of a point's k nearest neighbours
    is σ² plus a curvature term that grows with the patch's area (∝ k², since the patch's
    radius² ∝ k on a surface); medians of λ at two scales give both terms, σ² = λ(k₁) − c·k₁².
    Clean clouds give 0 (the curvature explains everything)."""
    pts = _subsample(tree.data, sample)
    lam = []
    for k in NOISE_SCALES:
        k = min(k, tree.n)
        _, idx = tree.query(pts, k=k, workers=-1)
        cov = neighbour_scatter(tree.data, idx)[1] / k
        lam.append(float(np.median(np.linalg.eigvalsh(cov)[:, 0].clip(0))))
    (k1, k2), (l1, l2) = NOISE_SCALES, lam
    c = max(0.0, (l2 - l1) / (k2**2 - k1**2))
    return NOISE_GAIN * float(np.sqrt(max(0.0, l1 - c * k1**2)))


def neighbour_scatter(points: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neighbourhoods ``points[idx]`` (idx (n, k)) → (centroids (n, 3), scatter matrices
    (n, 3, 3) = Σ (p − centroid)(p − centroid)ᵀ): the local PCA behind normals, planes and the
    noise estimate."""
    nb = points[idx]
    centroid = nb.mean(1)
    d = nb - centroid[:, None]
    return centroid, np.einsum("nki,nkj->nij", d, d)


def _subsample(points: np.ndarray, n: int) -> np.ndarray:
    """At most n of ``points``, evenly strided through the input order (no generator: a
    seeded draw can correlate with noise drawn from the same seed, as in tests)."""
    if len(points) <= n:
        return points
    return points[np.linspace(0, len(points) - 1, n).astype(np.int64)]


def project_to_planes(tree: cKDTree, k: int = 20, batch: int = 100_000) -> np.ndarray:
    """Each point of ``tree`` moved onto the least-squares plane of its k nearest neighbours
    (through their centroid, normal = the covariance's smallest eigenvector) → (N, 3): one
    pass of local smoothing that removes most noise normal to the surface and moves points on
    a flat patch by nothing."""
    pts = tree.data
    out = np.empty_like(pts)
    for s in range(0, len(pts), batch):
        p = pts[s : s + batch]
        _, idx = tree.query(p, k=min(k, tree.n), workers=-1)
        centroid, scatter = neighbour_scatter(pts, idx)
        normal = np.linalg.eigh(scatter)[1][:, :, 0]
        out[s : s + batch] = p - ((p - centroid) * normal).sum(1, keepdims=True) * normal
    return out
