"""Point clouds in, meshes out: reading, validation, normalisation into the unit cube, writing.

Every method works in a normalised frame (bounding-box centre at the origin, longest side 1);
:class:`Normalization` keeps the transform so that meshes go back to the input's frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.errors import InputError

POINT_FORMATS = (".ply", ".pcd", ".xyz", ".xyzn", ".pts", ".npy")
MESH_FORMATS = (".ply", ".obj", ".stl", ".off")
MIN_POINTS = 10
MAX_POINTS = 50_000_000  # beyond this a 2-core machine would swap long before finishing


@dataclass(frozen=True)
class Normalization:
    """``normalised = (x - center) / scale``: bounding-box centre to 0, longest side to 1."""

    center: tuple[float, float, float]
    scale: float

    @classmethod
    def fit(cls, points: np.ndarray) -> Normalization:
        """points: (N, 3) finite, not all identical."""
        lo, hi = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
        scale = float(np.max(hi - lo))
        if not scale > 0:
            raise InputError("the points are all identical: nothing to reconstruct")
        return cls(tuple(float(v) for v in (lo + hi) / 2), scale)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - np.asarray(self.center)) / self.scale

    def invert(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) * self.scale + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_dict(cls, d) -> Normalization:
        try:
            center = tuple(float(v) for v in d["center"])
            scale = float(d["scale"])
        except (TypeError, KeyError, ValueError):
            raise InputError("bad normalisation record") from None
        if len(center) != 3 or not np.all(np.isfinite(center)) or not (
            np.isfinite(scale) and scale > 0
        ):
            raise InputError("bad normalisation record")
        return cls(center, scale)


def _o3d():
    """open3d with its own console warnings off: errors reach users as one line from us."""
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    return o3d


def _check_magic(path, suffix: str) -> None:
    if suffix == ".ply":
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"ply\n", b"ply\r"):
                raise InputError(f"{str(path)!r}: not a PLY file (bad magic number)")


def _suffix(path: str | os.PathLike, allowed: tuple[str, ...], what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise InputError(
            f"{str(path)!r}: unsupported {what} format {suffix or '(none)'!r}; "
            f"use one of {', '.join(allowed)}"
        )
    return suffix


def _check_file(path: str | os.PathLike) -> None:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{str(path)!r}: no such file")
    if p.is_dir():
        raise InputError(f"{str(path)!r} is a directory")
    if p.stat().st_size == 0:
        raise InputError(f"{str(path)!r} is empty")


def is_point_cloud_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in POINT_FORMATS


def read_points(path: str | os.PathLike) -> np.ndarray:
    """(N, 3) float64 points from .ply/.pcd/.xyz/.xyzn/.pts (open3d) or .npy ((N, ≥3) array).

    A .ply holding a mesh contributes its vertices. Rejects NaN/Inf, empty and degenerate
    clouds with one-line errors."""
    suffix = _suffix(path, POINT_FORMATS, "point cloud")
    _check_file(path)
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{str(path)!r}: not a readable .npy array ({exc})") from None
        if arr.ndim != 2 or arr.shape[1] < 3 or not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"{str(path)!r}: expected an (N, 3) numeric array, got {arr.shape}")
        pts = arr[:, :3].astype(np.float64)
    else:
        _check_magic(path, suffix)
        o3d = _o3d()
        pcd = o3d.io.read_point_cloud(str(path), format="auto", print_progress=False)
        pts = np.asarray(pcd.points, dtype=np.float64)
        if len(pts) == 0 and suffix == ".ply":  # a mesh .ply without a point element?
            mesh = o3d.io.read_triangle_mesh(str(path))
            pts = np.asarray(mesh.vertices, dtype=np.float64)
        if len(pts) == 0:
            raise InputError(f"{str(path)!r}: no points could be read (corrupt or empty file)")
    return validate_points(pts, str(path))


def validate_points(pts: np.ndarray, name: str = "point cloud") -> np.ndarray:
    """Checks for finite, non-degenerate (N, 3) points; returns them as float64."""
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"{name}: expected (N, 3) points, got shape {pts.shape}")
    bad = ~np.all(np.isfinite(pts), axis=1)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} point(s) have NaN or infinite coordinates")
    if len(pts) < MIN_POINTS:
        raise InputError(f"{name}: {len(pts)} points; at least {MIN_POINTS} are needed")
    if len(pts) > MAX_POINTS:
        raise InputError(f"{name}: {len(pts):,} points is more than {MAX_POINTS:,}; subsample")
    centred = pts - pts.mean(axis=0)
    extent = float(np.max(np.abs(centred)))
    if extent == 0:
        raise InputError(f"{name}: the points are all identical: nothing to reconstruct")
    # rank of the cloud: a line (or a point) spans no surface
    sv = np.linalg.svd(centred[:: max(1, len(pts) // 100_000)] / extent, compute_uv=False)
    if sv[1] <= 1e-9 * sv[0]:
        raise InputError(f"{name}: the points are collinear: they span no surface")
    return pts


def read_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, triangles (F, 3) int64) via open3d."""
    suffix = _suffix(path, MESH_FORMATS, "mesh")
    _check_file(path)
    _check_magic(path, suffix)
    o3d = _o3d()
    mesh = o3d.io.read_triangle_mesh(str(path), enable_post_processing=False)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.triangles, dtype=np.int64)
    if len(v) == 0 or len(f) == 0:
        raise InputError(f"{str(path)!r}: no triangles could be read (corrupt or not a mesh)")
    if not np.all(np.isfinite(v)):
        raise InputError(f"{str(path)!r}: the mesh has NaN or infinite vertices")
    return v, f


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray) -> None:
    """Write .ply (binary) or .obj atomically: a temp file beside ``path``, then a rename."""
    import tempfile

    from codec.atomic import atomic_write

    suffix = _suffix(path, (".ply", ".obj"), "mesh output")
    o3d = _o3d()
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
        o3d.utility.Vector3iVector(np.asarray(triangles, np.int32)),
    )
    with atomic_write(path) as out, tempfile.TemporaryDirectory() as tmp:
        # open3d writes by name only: write into a private directory, then copy the bytes in
        staged = os.path.join(tmp, "mesh" + suffix)
        ok = o3d.io.write_triangle_mesh(staged, mesh, write_ascii=False, compressed=False,
                                        write_vertex_normals=False, write_vertex_colors=False,
                                        write_triangle_uvs=False)
        if not ok:
            raise InputError(f"{str(path)!r}: could not write the mesh")
        with open(staged, "rb") as fh:
            out.write(fh.read())
