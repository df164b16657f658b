"""Python API for surfaces: point cloud → mesh, point cloud → .nirc, .nirc → mesh.

    from recon.api import reconstruct, encode_surface, decode_surface
    reconstruct("cloud.ply", "mesh.ply", method="gridpull")
    encode_surface("cloud.ply", "shape.nirc", model="sdf", options={"size": "200k"})
    decode_surface("shape.nirc", "mesh.ply", resolution=256)

Methods come from the registry (``codec.registry.methods("surface")``, each a
:class:`recon.method.SurfaceMethod`); ``options`` is a method's options dataclass or a dict of
its fields (the command-line flags). Every mesh comes back in the input's coordinate frame.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from codec import registry
from codec.checkpoint import checkpointing, file_identity
from codec.container import ContainerReader
from codec.encode import (
    check_output_path,
    fit_precision,
    options_of,
    plan,
    start_fit,
    write_codec,
)
from codec.errors import InputError
from codec.method import Report
from codec.options import specs
from recon.method import Mesh, SurfaceMethod
from recon.pointcloud import Normalization, read_points, write_mesh


def surface_method(name: str | None = None) -> SurfaceMethod:
    """The surface method called ``name`` (None: the default one)."""
    return registry.method(name or registry.default_method("surface"), "surface")


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and not 16 <= resolution <= 1024:
        raise InputError(f"--resolution must be in 16..1024, got {resolution}")


def _check_output(output, suffixes: tuple[str, ...], *inputs) -> None:
    out = os.fspath(output)
    if not out.lower().endswith(suffixes):
        raise InputError(f"{out!r}: the output must end with {' or '.join(suffixes)}")
    check_output_path(out, *inputs)


def _mesh_options(method: SurfaceMethod, options: Any) -> Any:
    """``method``'s options for a mesh: those about the stored file (``ENCODE_ONLY``: size,
    bits) keep their defaults."""
    if isinstance(options, dict):
        given = [s.flag for s in specs(method.Options)
                 if s.encode_only and options.get(s.name) is not None]
        if given:
            raise InputError(f"{', '.join(given)}: not {method.name} mesh options (they are "
                             "about the encoded file)")
    return options_of(method, options)


def fit_field(method: str | SurfaceMethod | None, points: np.ndarray, *, options: Any = None,
              purpose: str = "mesh", resolution: int | None = None, seed: int = 0,
              threads: int | None = None, report: Report | None = None) -> tuple[Any, dict]:
    """Fit a field method to normalised points (N, 3) → (fitted object, statistics): a
    (R, R, R) grid for gridpull (R = ``resolution`` or 256 for a mesh, twice the stored
    resolution for an encode), a :class:`recon.neural.SurfaceField` for sdf and csp."""
    m = method if isinstance(method, SurfaceMethod) else surface_method(method)
    opts = options_of(m, options)
    return _fit(m, opts, points, purpose=purpose, resolution=resolution, seed=seed,
                threads=threads, report=report)


def _fit(method: SurfaceMethod, opts: Any, points: np.ndarray, *, purpose: str,
         resolution: int | None, seed: int, threads: int | None, report: Report | None,
         device: str = "auto", precision: str = "fp32") -> tuple[Any, dict]:
    if method.codec is None:
        raise InputError(f"{method.name} fits no field (it makes meshes only)")
    config = plan(method, points.shape, opts)
    ctx = start_fit(method, seed=seed, device=device, threads=threads, report=report,
                    precision=precision)
    ctx.extra.update(purpose=purpose, resolution=resolution)
    with fit_precision(ctx):
        return method.fit(points, config, opts, ctx)


def mesh_of(method: str | SurfaceMethod | None, fitted, resolution: int | None,
            points: np.ndarray | None = None) -> Mesh:
    """Mesh (normalised frame) of a fitted field; csp uses the normalised ``points`` to choose
    its shell distance (``recon.csp.fitted_level``)."""
    m = method if isinstance(method, SurfaceMethod) else surface_method(method)
    return m.mesh(fitted, resolution, points)


def codec_of(model: str | SurfaceMethod | None, fitted, norm: Normalization,
             points: np.ndarray, options: Any = None):
    """The surface codec holding a fitted field (``fit_field``'s result). ``points``: the
    normalised cloud (csp stores the shell distance it needs); ``options``: the method's (size
    and bits of the stored field; default: the defaults)."""
    m = model if isinstance(model, SurfaceMethod) else surface_method(model)
    return m.to_codec(fitted, norm, points, options_of(m, options))


def reconstruct(points_path, output, *, method: str | None = None, options: Any = None,
                resolution: int | None = None, seed: int = 0, threads: int | None = None,
                report: Report | None = None) -> dict[str, Any]:
    """Point cloud file → mesh file (.ply/.obj) in the input frame. Returns statistics.
    ``options``: the method's, without those about encoded files (size, bits)."""
    m = surface_method(method)
    opts = _mesh_options(m, options)
    _check_resolution(resolution)
    if m.codec is None and resolution is not None:
        raise InputError(f"{m.name} takes no --resolution (it meshes no lattice)")
    _check_output(output, (".ply", ".obj"), points_path)
    t0 = time.perf_counter()
    pts = read_points(points_path)
    if m.codec is None:  # mesh only
        v, f = m.reconstruct(pts)
        stats: dict[str, Any] = {}
    else:
        norm = Normalization.fit(pts)
        unit = norm.apply(pts)
        fitted, stats = _fit(m, opts, unit, purpose="mesh", resolution=resolution, seed=seed,
                             threads=threads, report=report)
        v, f = m.mesh(fitted, resolution, unit)
        if len(f) == 0:
            raise InputError("the fitted field has no surface inside the box (nothing to mesh; "
                             "a single open sheet has no inside: --method csp keeps it open)")
        v = norm.invert(v)
    write_mesh(output, v, f)
    return {"input": os.fspath(points_path), "output": os.fspath(output), "method": m.name,
            "points": len(pts), "vertices": len(v), "triangles": len(f),
            "seconds": time.perf_counter() - t0, "fit": _jsonable(stats)}


def encode_surface(points_path, output, *, model: str | None = None, options: Any = None,
                   seed: int = 0, device: str = "auto", threads: int | None = None,
                   report: Report | None = None, checkpoint_every: float | None = None,
                   resume: bool = False, precision: str = "fp32") -> dict[str, Any]:
    """Point cloud → fitted field → ``.nirc``. ``options``: the method's (gridpull: ``size``
    stored grid nodes, resolution = ⌊size^⅓⌋, default ``auto``: the fitted lattice).
    ``checkpoint_every`` (seconds) saves the training state to ``OUTPUT.ckpt``; ``resume``
    continues from it."""
    m = surface_method(model)
    if m.codec is None:
        raise InputError(f"{m.name} makes meshes only (nircodec mesh); encode with "
                         f"{', '.join(x.name for x in registry.methods('surface') if x.codec)}")
    opts = options_of(m, options)
    _check_output(output, (".nirc",), points_path)
    t0 = time.perf_counter()
    pts = read_points(points_path)
    norm = Normalization.fit(pts)
    unit = norm.apply(pts)

    def key() -> dict[str, Any]:
        return {"command": "encode", "model": m.name, "input": file_identity(points_path),
                "options": m.key_options(opts), "seed": seed}

    with checkpointing(output, checkpoint_every, resume, key):
        fitted, stats = _fit(m, opts, unit, purpose="encode", resolution=None, seed=seed,
                             threads=threads, report=report, device=device,
                             precision=precision)
        codec = m.to_codec(fitted, norm, unit, opts)
        nbytes = write_codec(output, codec)
    return {"input": os.fspath(points_path), "output": os.fspath(output), "model": m.name,
            "points": len(pts), "params": codec.params(), "bytes": nbytes,
            "encode_seconds": time.perf_counter() - t0, "fit": _jsonable(stats)}


def read_surface(path):
    """The surface codec stored in a ``.nirc`` (InputError for video files)."""
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
