"""Surface quality: Chamfer (L1, L2), normal consistency, F-scores and Hausdorff between meshes.

Follows the evaluation protocol of ``shared/design/SURFACE.md``: both meshes are sampled
uniformly by area with a fixed seed, and every sample is measured against the *other mesh's
triangles* (exact point-to-triangle distance through Open3D's ``RaycastingScene``), never
against the other mesh's samples, so a perfect reconstruction scores 0 rather than a floor set
by the sample spacing. Numbers are only comparable in one frame: callers normalise both meshes
by the GT's transform (:func:`normalised_pair`) and state that scale.
"""

from __future__ import annotations

import numpy as np

from codec.errors import InputError
from recon.pointcloud import Normalization

DEFAULT_THRESHOLDS = (0.005, 0.01)
MAX_SAMPLES = 10_000_000  # ~1 GB of float64 temporaries per mesh: beyond that, a typo


def normalised_pair(
    gt_v: np.ndarray, pred_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Normalization]:
    """Both vertex sets in the GT's unit-cube frame (GT longest side 1, GT bbox centred).

    gt_v: (V, 3), pred_v: (W, 3). Returns (gt (V, 3) float64, pred (W, 3) float64, transform);
    the prediction is moved by the *GT's* transform so that its errors are not normalised away.
    """
    norm = Normalization.fit(np.asarray(gt_v, np.float64))
    return norm.apply(gt_v), norm.apply(pred_v), norm


def _check_mesh(v: np.ndarray, f: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, np.float64)
    f = np.asarray(f)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InputError(f"{name} mesh: expected (V, 3) vertices, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"{name} mesh has no triangles (faces of shape {f.shape})")
    if not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"{name} mesh: triangle indices must be integers, got {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{name} mesh: triangle indices outside 0..{len(v) - 1}")
    if not np.all(np.isfinite(v)):
        raise InputError(f"{name} mesh has NaN or infinite vertices")
    return v, f.astype(np.int64)


def _face_geometry(v: np.ndarray, f: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(areas (F,), unit normals (F, 3)); drops nothing, raises when the total area is 0."""
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    norm = np.linalg.norm(cross, axis=1)
    if not norm.sum() > 0:
        raise InputError(f"{name} mesh has zero surface area (all triangles are degenerate)")
    normals = np.divide(cross, norm[:, None], out=np.zeros_like(cross), where=norm[:, None] > 0)
    return 0.5 * norm, normals


def sample_surface(
    v: np.ndarray, f: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform by area on the mesh (v (V, 3), f (F, 3)).

    Returns (points (n, 3) float64, face index (n,) int64) — the face index lets callers look
    up each sample's face normal. Meshes must be validated (non-zero total area).
    """
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    cdf = np.cumsum(np.linalg.norm(cross, axis=1))
    # inverse-CDF face choice: one uniform per sample, zero-area faces are never picked
    face = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    face = np.minimum(face, len(f) - 1)  # guards u*total rounding up to exactly cdf[-1]
    uv = rng.random((n, 2))
    flip = uv.sum(axis=1) > 1  # fold the unit square onto the triangle: keeps it uniform
    uv[flip] = 1 - uv[flip]
    a, b, c = v[f[face, 0]], v[f[face, 1]], v[f[face, 2]]
    return a + uv[:, :1] * (b - a) + uv[:, 1:] * (c - a), face


class _Closest:
    """Exact closest points on one mesh, answered by an Open3D ``RaycastingScene`` (float32)."""

    def __init__(self, v: np.ndarray, f: np.ndarray, keep: np.ndarray):
        import open3d as o3d

        self._o3d = o3d
        # zero-area triangles carry no surface and no normal; keeping them would let one be
        # "closest" and give |cos| = 0 for a point that lies on a good face next to it
        self.face_ids = np.flatnonzero(keep)
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(v, np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(f[keep], np.uint32)),
        )

    def query(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points (n, 3) → (distance (n,) float64, closest face index (n,) into the full f)."""
        q = self._o3d.core.Tensor(np.ascontiguousarray(points, np.float32))
        ans = self.scene.compute_closest_points(q)
        closest = ans["points"].numpy().astype(np.float64)
        prim = ans["primitive_ids"].numpy().astype(np.int64)  # indexes the faces *added*
        return np.linalg.norm(points - closest, axis=1), self.face_ids[prim]


def mesh_metrics(
    gt_v: np.ndarray,
    gt_f: np.ndarray,
    pred_v: np.ndarray,
    pred_f: np.ndarray,
    n_samples: int = 100_000,
    seed: int = 0,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
) -> dict[str, float | int]:
    """Compare a predicted mesh with the GT mesh; both already in the same (normalised) frame.

    gt_v (V, 3) float, gt_f (F, 3) int, pred_v (W, 3) float, pred_f (G, 3) int. ``n_samples``
    points are drawn on each mesh (seeded, uniform by area) and measured exactly against the
    other mesh's triangles.

    Returns ``cd_l1`` (0.5 * sum of both mean distances), ``cd_l2`` (same, squared distances),
    ``normal_consistency`` (mean over both directions of |cos| between a sample's face normal and
    the closest triangle's normal), ``f@<t>`` per threshold (2PR/(P+R); precision = fraction of
    pred samples closer than t to GT, recall = fraction of GT samples closer than t to pred),
    ``hausdorff`` (largest sampled distance either way) and ``n_samples``. Distances are in the
    input frame's units; float32 inside Open3D limits them to ~1e-7 of the coordinates.
    """
    gt_v, gt_f = _check_mesh(gt_v, gt_f, "GT")
    pred_v, pred_f = _check_mesh(pred_v, pred_f, "predicted")
    n_samples, thresholds = _check_sampling(n_samples, thresholds)
    gt_area, gt_n = _face_geometry(gt_v, gt_f, "GT")
    pred_area, pred_n = _face_geometry(pred_v, pred_f, "predicted")

    # distances are translation invariant: centring first keeps float32 precise for meshes
    # given far from the origin (un-normalised scans in metres from a survey origin, say)
    offset = 0.5 * (gt_v.min(axis=0) + gt_v.max(axis=0))
    gt_v, pred_v = gt_v - offset, pred_v - offset

    rng = np.random.default_rng(seed)
    gt_pts, gt_face = sample_surface(gt_v, gt_f, n_samples, rng)
    pred_pts, pred_face = sample_surface(pred_v, pred_f, n_samples, rng)
    d_gt, near_pred = _Closest(pred_v, pred_f, pred_area > 0).query(gt_pts)  # GT → pred
    d_pred, near_gt = _Closest(gt_v, gt_f, gt_area > 0).query(pred_pts)  # pred → GT

    # |cos|: meshes from marching cubes or Poisson may have either orientation
    cos_gt = np.abs(np.einsum("ij,ij->i", gt_n[gt_face], pred_n[near_pred]))
    cos_pred = np.abs(np.einsum("ij,ij->i", pred_n[pred_face], gt_n[near_gt]))

    return _scores(d_gt, d_pred, 0.5 * float(cos_gt.mean() + cos_pred.mean()), thresholds,
                   n_samples)


def _check_sampling(n_samples: int, thresholds: tuple[float, ...]
                    ) -> tuple[int, tuple[float, ...]]:
    n_samples = int(n_samples)
    if not 1 <= n_samples <= MAX_SAMPLES:
        raise InputError(f"the number of samples must be in 1..{MAX_SAMPLES:,}, got {n_samples}")
    thresholds = tuple(float(t) for t in thresholds)
    if not all(np.isfinite(t) and t > 0 for t in thresholds):
        raise InputError(f"F-score thresholds must be positive, got {thresholds}")
    return n_samples, thresholds


def _scores(d_gt: np.ndarray, d_pred: np.ndarray, nc: float | None,
            thresholds: tuple[float, ...], n_samples: int) -> dict[str, float | int | None]:
    """The metrics of distances GT → prediction and prediction → GT."""
    out: dict[str, float | int | None] = {
        "cd_l1": 0.5 * float(d_gt.mean() + d_pred.mean()),
        "cd_l2": 0.5 * float(np.mean(d_gt**2) + np.mean(d_pred**2)),
        "normal_consistency": nc,
    }
    for t in thresholds:
        precision, recall = float(np.mean(d_pred < t)), float(np.mean(d_gt < t))
        total = precision + recall
        out[fscore_key(t)] = 2 * precision * recall / total if total > 0 else 0.0
    out["hausdorff"] = float(max(d_gt.max(), d_pred.max()))
    out["n_samples"] = n_samples
    return out


def fscore_key(t: float) -> str:
    """Result key for the F-score at threshold t: 0.005 → "f@0.005" (shortest exact repr)."""
    return f"f@{float(t)!r}"


def cloud_metrics(
    gt_points: np.ndarray,
    pred_v: np.ndarray,
    pred_f: np.ndarray,
    n_samples: int = 100_000,
    seed: int = 0,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
) -> dict[str, float | int | None]:
    """:func:`mesh_metrics` against a point cloud when there is no GT mesh: distances from
    (at most ``n_samples`` of) the cloud's points to the predicted triangles, and from
    ``n_samples`` points sampled on the prediction to the nearest cloud point. A cloud has
    no faces: ``normal_consistency`` is None."""
    from scipy.spatial import cKDTree

    gt = np.asarray(gt_points, np.float64)
    pred_v, pred_f = _check_mesh(pred_v, pred_f, "predicted")
    n_samples, thresholds = _check_sampling(n_samples, thresholds)
    pred_area, _ = _face_geometry(pred_v, pred_f, "predicted")
    offset = 0.5 * (gt.min(axis=0) + gt.max(axis=0))
    gt, pred_v = gt - offset, pred_v - offset
    rng = np.random.default_rng(seed)
    if len(gt) > n_samples:
        gt = gt[rng.choice(len(gt), n_samples, replace=False)]
    pred_pts, _ = sample_surface(pred_v, pred_f, n_samples, rng)
    d_gt, _ = _Closest(pred_v, pred_f, pred_area > 0).query(gt)
    d_pred = cKDTree(gt).query(pred_pts)[0]
    return _scores(d_gt, d_pred, None, thresholds, n_samples)
