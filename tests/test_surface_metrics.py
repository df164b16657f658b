"""Surface metrics (exact Chamfer, NC, F-score), `nircodec eval mesh`, and the baselines.

Expectations are analytic where geometry allows: two parallel squares δ apart are exactly δ
apart everywhere; a sphere of radius R shifted by δ is |√(R² − 2Rδ·cosθ + δ²) − R| ≈ δ|cosθ|
from the original, whose mean over the sphere is ≈ δ/2 and mean square ≈ δ²/3.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from codec.errors import InputError
from recon.metrics import mesh_metrics, normalised_pair, sample_surface
from recon.pointcloud import write_mesh
from tests.conftest import run_cli

KEYS = {"cd_l1", "cd_l2", "normal_consistency", "f@0.005", "f@0.01", "hausdorff", "n_samples"}


def sphere(resolution: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere in the unit cube (radius 0.5): (V, 3) float64, (F, 3) int64."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_sphere(radius=1.0, resolution=resolution)
    v, f = np.asarray(m.vertices, np.float64), np.asarray(m.triangles, np.int64)
    return normalised_pair(v, v)[0], f


def square(z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def test_mesh_against_itself_is_perfect():
    v, f = sphere()
    r = mesh_metrics(v, f, v, f, n_samples=20_000)
    assert set(r) == KEYS and r["n_samples"] == 20_000
    assert r["cd_l1"] < 1e-6 and r["cd_l2"] < 1e-12 and r["hausdorff"] < 1e-5
    assert r["f@0.005"] == 1.0 and r["f@0.01"] == 1.0
    assert r["normal_consistency"] > 0.999


def test_parallel_squares_are_exactly_delta_apart():
    delta = 0.007  # between the two thresholds: F@0.005 must be 0 and F@0.01 must be 1
    gv, gf = square()
    pv, pf = square(delta)
    r = mesh_metrics(gv, gf, pv, pf[:, ::-1], n_samples=5_000)  # flipped winding: |cos| = 1
    assert r["cd_l1"] == pytest.approx(delta, rel=1e-4)
    assert r["cd_l2"] == pytest.approx(delta**2, rel=1e-3)
    assert r["hausdorff"] == pytest.approx(delta, rel=1e-4)
    assert r["f@0.005"] == 0.0 and r["f@0.01"] == 1.0
    assert r["normal_consistency"] == pytest.approx(1.0, abs=1e-6)


def test_shifted_sphere_matches_the_analytic_expectation():
    v, f = sphere(40)
    delta, radius = 0.01, 0.5
    # cosθ is uniform on [-1, 1] for a uniform point on a sphere: average on a fine grid
    c = np.linspace(-1, 1, 200_001)
    d = np.abs(np.sqrt(radius**2 - 2 * radius * delta * c + delta**2) - radius)
    r = mesh_metrics(v, f, v + np.array([delta, 0.0, 0.0]), f, n_samples=20_000)
    assert r["cd_l1"] == pytest.approx(d.mean(), rel=0.03)  # ≈ δ/2
    assert r["cd_l2"] == pytest.approx(np.mean(d**2), rel=0.05)  # ≈ δ²/3
    assert r["hausdorff"] == pytest.approx(delta, rel=0.02)
    assert r["f@0.005"] == pytest.approx(0.5, abs=0.03)  # |cosθ| < 1/2 on half the sphere
    assert r["f@0.01"] == 1.0 and r["normal_consistency"] > 0.99


def test_normalisation_by_the_gt_transform_makes_metrics_frame_free():
    gv, gf = sphere()
    rng = np.random.default_rng(3)
    pv = gv * 1.02 + rng.normal(0, 0.003, gv.shape) + np.array([0.01, 0, -0.005])
    ref = mesh_metrics(gv, gf, pv, gf, n_samples=20_000)
    scale, offset = 37.0, np.array([5.0, -3.0, 100.0])
    g_n, p_n, norm = normalised_pair(gv * scale + offset, pv * scale + offset)
    assert norm.scale == pytest.approx(scale, rel=1e-12)
    np.testing.assert_allclose(p_n - g_n, pv - gv, atol=1e-12)  # pred moved by GT's transform
    moved = mesh_metrics(g_n, gf, p_n, gf, n_samples=20_000)
    for key in KEYS:
        assert moved[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-9), key
    assert ref["cd_l1"] > 1e-3  # the comparison is not trivially 0 == 0


def test_seeded_and_area_uniform():
    v, f = sphere()
    pv = v * 1.01
    assert mesh_metrics(v, f, pv, f, 2_000, seed=5) == mesh_metrics(v, f, pv, f, 2_000, seed=5)
    # a square split into a big and a small triangle: samples follow area, not face count
    sv = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.1, 0, 0]], np.float64)
    sf = np.array([[0, 4, 3], [4, 1, 2], [4, 2, 3]])  # areas 0.05, 0.45, 0.5
    pts, face = sample_surface(sv, sf, 20_000, np.random.default_rng(0))
    np.testing.assert_allclose(
        np.bincount(face, minlength=3) / 20_000, [0.05, 0.45, 0.5], atol=0.01
    )
    assert pts.min() >= 0 and pts.max() <= 1 and np.all(pts[:, 2] == 0)


@pytest.mark.parametrize(
    "case",
    ["no faces", "zero area", "bad index", "nan vertex", "no samples"],
)
def test_degenerate_inputs_raise_input_error(case):
    v, f = square()
    gv, gf, n = v, f, 100
    if case == "no faces":
        gf = np.zeros((0, 3), np.int64)
    elif case == "zero area":
        gv = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], np.float64)
    elif case == "bad index":
        gf = f + 2
    elif case == "nan vertex":
        gv = v.copy()
        gv[1, 0] = np.nan
    else:
        n = 0
    with pytest.raises(InputError):
        mesh_metrics(gv, gf, v, f, n_samples=n)


def _write_pair(tmp_path):
    gv, gf = sphere(10)
    gv = gv * 4.0 + np.array([10.0, 0.0, -2.0])  # a file frame far from the unit cube
    pv = gv + np.array([0.04, 0.0, 0.0])  # 0.01 once normalised
    write_mesh(tmp_path / "gt.ply", gv, gf)
    write_mesh(tmp_path / "pred.ply", pv, gf)
    return gv, gf, pv


def test_cli_eval_mesh_json(tmp_path):
    gv, gf, pv = _write_pair(tmp_path)
    r = run_cli(
        "eval",
        "mesh",
        str(tmp_path / "gt.ply"),
        str(tmp_path / "pred.ply"),
        "--json",
        "--samples",
        "5000",
        "--seed",
        "2",
    )
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1
    obj = json.loads(r.stdout)
    assert set(obj) >= KEYS and obj["n_samples"] == 5000 and obj["seed"] == 2
    assert obj["scale"] == "unit cube: GT longest side = 1"
    assert obj["normalization"]["scale"] == pytest.approx(4.0)
    g_n, p_n, _ = normalised_pair(gv, pv)
    expect = mesh_metrics(g_n, gf, p_n, gf, n_samples=5000, seed=2)
    assert obj["cd_l1"] == pytest.approx(expect["cd_l1"], rel=1e-6)


def test_cli_eval_mesh_human_readable_states_the_scale(tmp_path):
    _write_pair(tmp_path)
    r = run_cli(
        "eval", "mesh", str(tmp_path / "gt.ply"), str(tmp_path / "pred.ply"), "--samples", "2000"
    )
    assert r.returncode == 0, r.stderr
    assert "unit cube: GT longest side = 1" in r.stdout and "CD-L1" in r.stdout
    assert "F@0.005" in r.stdout and "normal consistency" in r.stdout


@pytest.mark.parametrize("extra", [[], ["--per-frame"]])
def test_cli_eval_mesh_errors_are_one_line(tmp_path, extra):
    _write_pair(tmp_path)
    pred = str(tmp_path / ("pred.ply" if extra else "missing.ply"))
    r = run_cli("eval", "mesh", str(tmp_path / "gt.ply"), pred, *extra)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nircodec: error: "), r.stderr
    assert r.stdout == ""


def test_poisson_reconstructs_a_sphere():
    from recon.poisson import poisson_mesh

    v, f = sphere(40)
    pts, _ = sample_surface(v, f, 5_000, np.random.default_rng(0))
    scale, offset = 3.0, np.array([1.0, 2.0, -5.0])  # output comes back in the input's frame
    pv, pf = poisson_mesh(pts * scale + offset, depth=6)
    assert pv.dtype == np.float64 and pf.dtype == np.int64 and pf.shape[1] == 3
    r = mesh_metrics(v, f, (pv - offset) / scale, pf, n_samples=20_000)
    assert r["cd_l1"] < 0.01 and r["normal_consistency"] > 0.95
    pv2, pf2 = poisson_mesh(pts * scale + offset, depth=6)
    assert np.array_equal(pv, pv2) and np.array_equal(pf, pf2)  # single-threaded: reproducible


def test_poisson_rejects_bad_options():
    from recon.poisson import poisson_mesh

    pts = np.random.default_rng(0).random((100, 3))
    for kwargs in ({"depth": 0}, {"k": 1}, {"trim": 1.0}, {"n_threads": 0}):
        with pytest.raises(InputError):
            poisson_mesh(pts, **kwargs)


def test_draco_bytes_round_trip():
    DracoPy = pytest.importorskip("DracoPy")
    from scipy.spatial import cKDTree

    from recon.baselines import draco_bytes

    v, f = sphere(20)
    data = draco_bytes(v, f)
    assert isinstance(data, bytes) and 0 < len(data) < v.nbytes + f.nbytes
    mesh = DracoPy.decode(data)
    assert np.asarray(mesh.faces).shape == f.shape
    # 11-bit quantization over the longest side (1): each vertex moves at most ~√3 / 2^12
    dist, _ = cKDTree(np.asarray(mesh.points, np.float64)).query(v)
    assert dist.max() < 1.0 / 2**11


def test_draco_missing_is_an_input_error(monkeypatch):
    import sys

    from recon.baselines import draco_bytes

    monkeypatch.setitem(sys.modules, "DracoPy", None)  # makes `import DracoPy` fail
    v, f = square()
    with pytest.raises(InputError, match="pip install DracoPy"):
        draco_bytes(v, f)
