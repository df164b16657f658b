"""Open3D screened Poisson: the quality baseline a user would reach for.

Settings follow ``shared/design/SURFACE.md``: normals from k=30 neighbours oriented by consistent
tangent planes, Poisson depth 9, lowest 2% of densities trimmed.
"""

from __future__ import annotations

import numpy as np

from codec.errors import InputError
from recon.pointcloud import validate_points


def poisson_mesh(
    points: np.ndarray,
    depth: int = 9,
    k: int = 30,
    trim: float = 0.02,
    seed: int | None = 0,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Screened Poisson surface of an unoriented point cloud.

    points: (N, 3) float. Returns (vertices (V, 3) float64, triangles (F, 3) int64) in the
    frame of ``points``. ``trim`` removes the vertices whose Poisson density is below that
    quantile (the bubble Poisson closes over holes and open boundaries), with their triangles.
    ``seed`` seeds Open3D's global generator where Open3D has one. ``n_threads=1`` (default)
    makes the result bit-reproducible: Open3D 0.20's multithreaded Poisson (``-1`` = all
    cores) returns slightly different vertices run to run, for ~25% less time on 2 cores.
    """
    import open3d as o3d

    pts = validate_points(points, "Poisson input")
    if not 1 <= int(depth) <= 12:  # depth 12 is already ~16M octree cells: a typo beyond
        raise InputError(f"Poisson depth must be in 1..12, got {depth}")
    if not 3 <= int(k) <= len(pts):
        raise InputError(f"the normal neighbourhood k must be in 3..{len(pts)}, got {k}")
    if not 0 <= trim < 1:
        raise InputError(f"the density trim quantile must be in [0, 1), got {trim}")
    if not (n_threads == -1 or n_threads >= 1):
        raise InputError(f"n_threads must be -1 (all cores) or at least 1, got {n_threads}")
    if seed is not None and hasattr(o3d.utility, "random"):  # added in Open3D 0.16
        o3d.utility.random.seed(int(seed))

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(int(k)))
    # Poisson needs a consistent inside/outside; the tangent-plane MST propagates one sign
    # (the global sign may come out inward, which Poisson tolerates: the surface is the same)
    pcd.orient_normals_consistent_tangent_plane(int(k))
    mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        pcd, depth=int(depth), n_threads=int(n_threads)
    )
    dens = np.asarray(densities)  # (V,) float64, one per output vertex
    if trim > 0 and len(dens):
        mesh.remove_vertices_by_mask(dens < np.quantile(dens, trim))
    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.triangles, np.int64)
    if len(f) == 0:
        raise InputError("Poisson reconstruction produced no triangles (too few or flat points?)")
    return v, f
