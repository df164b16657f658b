"""Python API for surfaces: point cloud → mesh, point cloud → .nirc, .nirc → mesh.

    from recon.api import reconstruct, encode_surface, decode_surface
    reconstruct("cloud.ply", "mesh.ply", method="gridpull")
    encode_surface("cloud.ply", "shape.nirc", model="sdf", size="200k")
    decode_surface("shape.nirc", "mesh.ply", resolution=256)

Every mesh comes back in the input's coordinate frame.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from codec.errors import InputError
from recon.pointcloud import Normalization, read_points, write_mesh

METHODS = ("gridpull", "sdf", "csp", "poisson")
MODELS = ("gridpull", "sdf", "csp")
DEFAULT_SIZE = {"gridpull": "2.1M", "sdf": "200k", "csp": "200k"}
Report = Callable[[float, dict], None]


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and not 16 <= resolution <= 1024:
        raise InputError(f"--resolution must be in 16..1024, got {resolution}")


def _check_output(output, suffixes: tuple[str, ...], *inputs) -> None:
    from codec.api import check_output_path

    out = os.fspath(output)
    if not out.lower().endswith(suffixes):
        raise InputError(f"{out!r}: the output must end with {' or '.join(suffixes)}")
    check_output_path(out, *inputs)


def fit_field(method: str, points: np.ndarray, *, seed: int = 0, size: int | None = None,
              coord_quant: int = 0, steps: int | None = None, time_budget: float | None = None,
              grid_resolution: int | None = None, report: Report | None = None):
    """Fit ``method`` to normalised points → (fitted object, statistics). The object is a
    (R, R, R) grid for gridpull (R = ``grid_resolution``, default 256) and a SurfaceField for
    sdf / csp."""
    kw: dict[str, Any] = {"seed": seed}
    if steps is not None:
        kw["steps"] = steps
    if time_budget is not None:
        kw["time_budget"] = time_budget
    if coord_quant and method != "sdf":
        raise InputError("--coord-quant applies to the sdf method only")
    try:
        if method == "gridpull":
            from recon import gridpull

            if grid_resolution is not None:
                kw["resolution"] = grid_resolution
            return gridpull.fit(points, gridpull.GridPullOptions(**kw), report)
        if size is not None:
            kw["size"] = size
        if method == "sdf":
            from recon import sdf

            return sdf.fit(points, sdf.SDFOptions(coord_quant=coord_quant, **kw), report)
        if method == "csp":
            from recon import csp

            return csp.fit(points, csp.CSPOptions(**kw), report)
    except ValueError as exc:  # option values out of range
        raise InputError(str(exc)) from None
    raise InputError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def mesh_of(method: str, fitted, resolution: int | None, points: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Mesh (normalised frame) of a fitted field; csp uses the normalised ``points`` to choose
    its shell distance (``recon.csp.fitted_level``)."""
    from recon import meshing

    if method == "gridpull":
        if resolution is None or resolution == fitted.shape[0]:
            return meshing.marching_cubes(fitted, 0.0, meshing.lattice(fitted.shape[0])[1])
        from recon.gridpull import grid_field

        return meshing.extract(grid_field(fitted), resolution)
    if method == "sdf":
        from recon.sdf import sdf

        return meshing.extract(sdf(fitted), resolution or 256)
    from recon import csp

    level = None if points is None else csp.fitted_level(fitted, points, resolution or 256)
    return csp.mesh(fitted, resolution or 256, level=level)


def reconstruct(points_path, output, *, method: str = "gridpull", resolution: int | None = None,
                seed: int = 0, coord_quant: int = 0, steps: int | None = None,
                report: Report | None = None) -> dict[str, Any]:
    """Point cloud file → mesh file (.ply/.obj) in the input frame. Returns statistics."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    _check_resolution(resolution)
    _check_output(output, (".ply", ".obj"), points_path)
    t0 = time.perf_counter()
    pts = read_points(points_path)
    if method == "poisson":
        if coord_quant or steps is not None or resolution is not None:
            raise InputError("poisson takes none of --resolution, --steps, --coord-quant")
        from recon.baselines import poisson_mesh

        v, f = poisson_mesh(pts)
        stats: dict[str, Any] = {}
    else:
        norm = Normalization.fit(pts)
        # gridpull's grid is the mesh lattice: fit it at the requested resolution
        grid_res = resolution if method == "gridpull" else None
        fitted, stats = fit_field(method, norm.apply(pts), seed=seed, coord_quant=coord_quant,
                                  steps=steps, grid_resolution=grid_res, report=report)
        v, f = mesh_of(method, fitted, resolution, norm.apply(pts))
        if len(f) == 0:
            raise InputError("the fitted field has no surface inside the box (nothing to mesh)")
        v = norm.invert(v)
    write_mesh(output, v, f)
    return {"input": os.fspath(points_path), "output": os.fspath(output), "method": method,
            "points": len(pts), "vertices": len(v), "triangles": len(f),
            "seconds": time.perf_counter() - t0, "fit": _jsonable(stats)}


def encode_surface(points_path, output, *, model: str = "gridpull", size: str | int | None = None,
                   bits: int | None = None, seed: int = 0, coord_quant: int = 0,
                   steps: int | None = None, time_budget: float | None = None,
                   report: Report | None = None) -> dict[str, Any]:
    """Point cloud → fitted field → ``.nirc``. ``size``: parameter budget (gridpull: stored grid
    nodes, resolution = ⌊size^⅓⌋; default 2.1M ≈ 128³)."""
    from codec.api import parse_count
    from codec.container import write_container
    from recon import surface_codec as sc

    if model not in MODELS:
        raise InputError(f"unknown surface model {model!r}; choose from {', '.join(MODELS)}")
    target = parse_count(size if size is not None else DEFAULT_SIZE[model])
    if bits is not None and not 2 <= bits <= 16:
        raise InputError("--bits must be in 2..16")
    _check_output(output, (".nirc",), points_path)
    t0 = time.perf_counter()
    pts = read_points(points_path)
    norm = Normalization.fit(pts)
    unit = norm.apply(pts)
    config = None
    if model == "gridpull":
        if bits is not None:
            raise InputError("--bits does not apply to gridpull (its step is 1/8 of a cell)")
        resolution = math.floor(round(target ** (1 / 3), 6))
        try:
            config = sc.GridCodecConfig(resolution=resolution)
        except ValueError:
            raise InputError(f"--size {target}: gridpull stores 8³..512³ nodes") from None
        # fitted at twice the stored resolution (at most 256), then resampled: the stored
        # grid keeps the fit's accuracy without paying for its size
        fitted, stats = fit_field(model, unit, seed=seed, steps=steps,
                                  time_budget=time_budget, report=report,
                                  grid_resolution=max(resolution, min(256, 2 * resolution)))
    else:
        fitted, stats = fit_field(model, unit, seed=seed, size=target,
                                  coord_quant=coord_quant, steps=steps, time_budget=time_budget,
                                  report=report)
    codec = codec_of(model, fitted, norm, unit, grid_config=config, bits=bits or 8)
    header, sections = codec.to_container()
    nbytes = write_container(output, codec.codec_id, header, sections)
    return {"input": os.fspath(points_path), "output": os.fspath(output), "model": model,
            "points": len(pts), "params": codec.params(), "bytes": nbytes,
            "encode_seconds": time.perf_counter() - t0, "fit": _jsonable(stats)}


def codec_of(model: str, fitted, norm: Normalization, points: np.ndarray, *,
             grid_config=None, bits: int = 8):
    """The surface codec holding a fitted field (``fit_field``'s result). ``points``: the
    normalised cloud (csp stores the shell distance it needs, ``recon.csp.fitted_level``);
    ``grid_config``: gridpull's stored grid (default 128³)."""
    from recon import surface_codec as sc

    if model == "gridpull":
        return sc.GridPullCodec.from_values(fitted, norm, grid_config or sc.GridCodecConfig())
    if model == "sdf":
        return sc.NeuralSDFCodec.from_field(fitted, norm, bits=bits)
    from recon import csp

    return sc.CSPCodec.from_field(fitted, norm, bits=bits, level=csp.fitted_level(fitted, points))


def read_surface(path):
    """The surface codec stored in a ``.nirc`` (InputError for video files)."""
    from codec import registry
    from codec.container import ContainerReader

    with ContainerReader(path) as reader:
        entry = registry.by_id(reader.codec_id)
        if entry.kind != "surface":
            raise InputError(f"{os.fspath(path)}: holds a {entry.name} {entry.kind} file, "
                             "not a surface")
        return entry.cls.from_container(reader)


def decode_surface(path, output=None, *, resolution: int | None = None):
    """``.nirc`` → mesh in the input frame; written to ``output`` (.ply/.obj) when given,
    else returned as (vertices, triangles)."""
    _check_resolution(resolution)
    if output is not None:
        _check_output(output, (".ply", ".obj"), path)
    codec = read_surface(path)
    v, f = codec.mesh(resolution)
    if output is None:
        return v, f
    write_mesh(output, v, f)
    return None


def _jsonable(stats: dict) -> dict:
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in stats.items()
            if isinstance(v, (int, float, str, np.floating, np.integer))}
