"""Rate–distortion sweeps of surfaces: nircodec's coded fields at several sizes against the
anchor a user would reach for, a screened-Poisson mesh stored with Draco at several
quantization levels; bytes against CD-L1 (and normal consistency, F-score).

An input is a mesh or a point cloud under a stated condition. A mesh is normalised (longest
side 1, centred) and sampled uniformly by area (``points`` points, seed ``seed``); its
distances are measured against that mesh (:func:`recon.metrics.mesh_metrics`). A point
cloud is normalised and used as it is, and measured against its own points
(:func:`recon.metrics.cloud_metrics`, no normal consistency). Conditions: ``clean``;
``noisy[:σ]`` adds Gaussian noise of σ (default 0.005, in the unit frame); ``sparse[:N]``
keeps N points (default 3000).

Every nircodec point is a real ``.nirc`` (``recon.api.encode_surface``) decoded by the real
decoder; every anchor point is the Draco bitstream of the Poisson mesh, decoded by Draco and
measured. BD-rate is taken on the CD axis (quality = −10·log10 CD-L1, "CD dB"). The sweep
runs on the engine of :mod:`codec.sweep` (one Ray task per field point; one for each input's
Poisson + Draco ladder).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import InputError
from codec.rd import budget_field, budget_of, check_reference, encode_options
from codec.sweep import SweepKind, run_points

ANCHOR = "poisson-draco"
DRACO_BITS = (6, 7, 8, 9, 10, 11, 12, 14)  # quantization bits of the anchor's ladder
DRACO_LEVEL = 10  # compression level (SURFACE.md's setting)
POINTS = 30_000
SIGMA = 0.005
SPARSE = 3_000
THRESHOLD = 0.01  # the F-score's


def parse_condition(text: str) -> tuple[str, float]:
    """``clean``, ``noisy[:σ]`` or ``sparse[:N]`` → (name, σ or N)."""
    name, _, value = text.strip().partition(":")
    defaults = {"clean": 0.0, "noisy": SIGMA, "sparse": SPARSE}
    if name not in defaults or (name == "clean" and value):
        raise InputError(f"--conditions: {text!r} is not clean, noisy[:SIGMA] or sparse[:N]")
    try:
        x = float(value) if value else defaults[name]
    except ValueError:
        raise InputError(f"--conditions: {text!r}: {value!r} is not a number") from None
    if name == "noisy" and not 0 < x < 0.5:
        raise InputError(f"--conditions: σ must be in (0, 0.5), got {value}")
    if name == "sparse" and not (x == int(x) and 10 <= x <= 10_000_000):
        raise InputError(f"--conditions: N must be a whole number in 10..10M, got {value}")
    return name, x


@dataclass
class SurfacePoint:
    """A surface point (see :class:`codec.rd.RdPoint` for what a kind of point provides)."""

    curve: str
    label: str
    bytes: int
    bits_per_point: float  # 8 · bytes / the input's points
    cd_l1: float
    normal_consistency: float | None
    fscore: float  # F@0.01
    triangles: int
    encode_seconds: float
    decode_seconds: float

    QUALITY = "CD"
    TABLE = ("| curve | point | bytes | bits/point | CD-L1 | NC | F@0.01 | encode s |",
             "|---|---|---:|---:|---:|---:|---:|---:|")
    NOTE = ("CD-L1 in the unit frame (longest side of the input 1); BD on the CD axis uses "
            "quality = −10·log10 CD-L1 (BD-CD in dB: positive = lower CD). NC: normal "
            "consistency (n/a against a point cloud).")

    def rate(self) -> float:
        return self.bytes

    def quality(self) -> float:
        return -10 * math.log10(max(self.cd_l1, 1e-12))

    def row(self) -> str:
        nc = "n/a" if self.normal_consistency is None else f"{self.normal_consistency:.4f}"
        return (f"| {self.curve} | {self.label} | {self.bytes:,} | {self.bits_per_point:.3f} | "
                f"{self.cd_l1:.6f} | {nc} | {self.fscore:.4f} | {self.encode_seconds:.1f} |")

    @staticmethod
    def results(pts: list[SurfacePoint]) -> dict[str, list]:
        return {"bytes": [p.bytes for p in pts],
                "bits-per-point": [p.bits_per_point for p in pts],
                "cd-l1": [p.cd_l1 for p in pts],
                "normal-consistency": [p.normal_consistency for p in pts],
                "f-score@0.01": [p.fscore for p in pts],
                "encoding_time": [p.encode_seconds for p in pts],
                "decoding_time": [p.decode_seconds for p in pts]}

    @staticmethod
    def plot(curves: dict[str, list[SurfacePoint]], path: Path, log_x: bool = True) -> None:
        """CD-L1 and F-score against bytes, one line per curve."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from codec.atomic import atomic_write

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
        for name, pts in curves.items():
            style = "-o" if name == ANCHOR else "-s"
            x = [p.bytes for p in pts]
            axes[0].plot(x, [p.cd_l1 for p in pts], style, label=name, ms=4)
            axes[1].plot(x, [p.fscore for p in pts], style, label=name, ms=4)
        for ax, ylabel in zip(axes, ("CD-L1 (unit frame, lower is better)", "F-score @0.01"),
                              strict=True):
            ax.set_xlabel("bytes (file)")
            ax.set_ylabel(ylabel)
            ax.set_xscale("log")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        axes[0].set_yscale("log")
        fig.tight_layout()
        with atomic_write(path) as fh:
            fig.savefig(fh, format="png")
        plt.close(fig)


@dataclass
class SurfaceSpec:
    input: str
    models: dict[str, list[str]]  # method -> size ladder
    anchors: list[str]
    reference: str
    condition: str = "clean"
    points: int = POINTS
    samples: int = 100_000  # metric samples each way
    epochs: dict[str, float] | None = None  # method -> steps; missing: default
    seed: int = 0

    def epochs_of(self, model: str) -> float:
        """``model``'s steps (``--epochs`` sets them for surface models)."""
        return budget_of(model, self.epochs)

    def describe(self, curve: str) -> str:
        if curve == ANCHOR:
            return (f"Open3D screened Poisson mesh (normals estimated), stored with Draco "
                    f"(level {DRACO_LEVEL}) at several quantization bits; bytes = Draco "
                    "bitstream")
        return (f"nircodec {curve}, {self.epochs_of(curve):g} {budget_field(curve)}, seed "
                f"{self.seed}; bytes = .nirc file size")


@dataclass
class Surface:
    """What a task receives: the points to reconstruct and what they are measured against."""

    points: np.ndarray  # (N, 3) float64, unit frame
    gt_v: np.ndarray | None  # GT mesh (unit frame), or None: measured against ``gt_points``
    gt_f: np.ndarray | None
    gt_points: np.ndarray


def load_surface(spec: SurfaceSpec) -> Surface:
    """The input (mesh or cloud), normalised, sampled under ``spec.condition``."""
    from recon.metrics import sample_surface
    from recon.pointcloud import (
        MESH_FORMATS,
        POINT_FORMATS,
        Normalization,
        read_mesh,
        read_points,
    )

    path = Path(spec.input)
    suffix = path.suffix.lower()
    name, x = parse_condition(spec.condition)
    rng = np.random.default_rng(spec.seed)
    gt_v = gt_f = None
    if suffix in MESH_FORMATS:
        try:
            v, f = read_mesh(path)
        except InputError:
            if suffix not in POINT_FORMATS:
                raise
            v, f = None, None  # a .ply of points
        if v is not None and len(f):
            norm = Normalization.fit(v)
            gt_v, gt_f = norm.apply(v), f
            n = int(x) if name == "sparse" else spec.points
            pts, _ = sample_surface(gt_v, gt_f, n, rng)
            gt_points = pts
    if gt_v is None:
        cloud = read_points(path)
        gt_points = Normalization.fit(cloud).apply(cloud)
        pts = gt_points
        if name == "sparse" and len(pts) > x:
            pts = pts[np.sort(rng.choice(len(pts), int(x), replace=False))]
    if name == "noisy":
        pts = pts + rng.normal(0.0, x, pts.shape)
    return Surface(np.ascontiguousarray(pts, np.float64), gt_v, gt_f, gt_points)


def measure(surface: Surface, v: np.ndarray, f: np.ndarray, samples: int, seed: int
            ) -> dict[str, Any]:
    """CD-L1, normal consistency (None against a cloud) and F@0.01 of a mesh (unit frame)."""
    from recon.metrics import cloud_metrics, fscore_key, mesh_metrics

    if len(f) == 0:
        raise InputError("the decoded mesh is empty (no surface found)")
    if surface.gt_v is not None:
        m = mesh_metrics(surface.gt_v, surface.gt_f, v, f, n_samples=samples, seed=seed)
    else:
        m = cloud_metrics(surface.gt_points, v, f, n_samples=samples, seed=seed)
    return {"cd_l1": m["cd_l1"], "normal_consistency": m["normal_consistency"],
            "fscore": m[fscore_key(THRESHOLD)]}


def scored(surface: Surface, spec: SurfaceSpec, curve: str, label: str, nbytes: int,
           mesh: tuple[np.ndarray, np.ndarray], encode_s: float, decode_s: float
           ) -> SurfacePoint:
    v, f = mesh
    m = measure(surface, v, f, spec.samples, spec.seed)
    return SurfacePoint(curve, label, nbytes, 8 * nbytes / len(surface.points), m["cd_l1"],
                        m["normal_consistency"], m["fscore"], len(f), encode_s, decode_s)


def anchor_point(surface: Surface, spec: SurfaceSpec, label: str, poisson: list
                 ) -> SurfacePoint:
    """The Poisson mesh (made once, kept in ``poisson``) as Draco ``q{bits}`` bytes,
    decoded by Draco and measured; its encode time includes the Poisson reconstruction."""
    import DracoPy

    from recon.baselines import draco_bytes
    from recon.poisson.mesh import poisson_mesh

    if not poisson:
        t0 = time.perf_counter()
        poisson.append((poisson_mesh(surface.points), time.perf_counter() - t0))
    (v, f), poisson_s = poisson[0]
    t0 = time.perf_counter()
    data = draco_bytes(v, f, int(label[1:]), DRACO_LEVEL)
    encode_s = poisson_s + time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = DracoPy.decode(data)
    mesh = (np.asarray(decoded.points, np.float64),
            np.asarray(decoded.faces, np.int64).reshape(-1, 3))
    return scored(surface, spec, ANCHOR, label, len(data), mesh, encode_s,
                  time.perf_counter() - t0)


def field_point(surface: Surface, spec: SurfaceSpec, model: str, label: str, folder: Path,
                threads: int, device: str) -> tuple[SurfacePoint, bytes]:
    """``model`` at size ``label``: a real .nirc (encode_surface), decoded and measured."""
    from recon.api import decode_surface, encode_surface

    cloud = folder / "points.npy"
    np.save(cloud, surface.points.astype(np.float32))
    path = folder / "point.nirc"
    options = encode_options(model, label, spec.epochs_of(model))
    res = encode_surface(cloud, path, model=model, options=options, seed=spec.seed,
                         device=device, threads=threads)
    t0 = time.perf_counter()
    mesh = decode_surface(path)
    point = scored(surface, spec, model, label, path.stat().st_size, mesh,
                   res["encode_seconds"], time.perf_counter() - t0)
    return point, path.read_bytes()


def surface_task(surface: Surface, spec: SurfaceSpec, curve: str, labels: list[str],
                 threads: int, device: str, models: list) -> list:
    """Ray task: the points ``labels`` of ``curve`` (a field method, or the anchor's Draco
    ladder on one Poisson mesh)."""
    # the object store hands out read-only arrays; Open3D wants its own writable ones
    surface = Surface(*(None if a is None else np.array(a) for a in
                        (surface.points, surface.gt_v, surface.gt_f, surface.gt_points)))
    poisson: list = []

    def one(label: str, folder: Path) -> tuple[SurfacePoint, bytes | None]:
        if curve == ANCHOR:
            return anchor_point(surface, spec, label, poisson), None
        return field_point(surface, spec, curve, label, folder, threads, device)

    return run_points(one, labels, threads, models)


class SurfaceSweep(SweepKind):
    point = SurfacePoint
    task = staticmethod(surface_task)

    def check(self, spec: SurfaceSpec) -> None:
        for a in spec.anchors:
            if a != ANCHOR:
                raise InputError(f"unknown surface anchor {a!r} (known: {ANCHOR})")
        check_reference(spec)
        if spec.anchors:
            try:
                import DracoPy  # noqa: F401
            except ImportError:
                raise InputError(f"the {ANCHOR} anchor needs DracoPy: pip install DracoPy"
                                 ) from None
        parse_condition(spec.condition)

    def load(self, spec: SurfaceSpec) -> tuple[Surface, str]:
        s = load_surface(spec)
        h = hashlib.sha256(s.points.tobytes())
        for a in (s.gt_points, s.gt_v, s.gt_f):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        return s, f"{h.hexdigest()}|{spec.seed}|{spec.samples}"

    def jobs(self, spec: SurfaceSpec) -> list[tuple[str, str]]:
        jobs = [(m, s) for m, sizes in spec.models.items() for s in sizes]
        return jobs + [(a, f"q{b}") for a in spec.anchors for b in DRACO_BITS]

    def ladder(self, spec: SurfaceSpec, curve: str) -> bool:
        return curve == ANCHOR



SURFACE = SurfaceSweep()
