"""Surfaces end to end: analytic shapes fit, points → .nirc → mesh, input frames, bad inputs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from codec.errors import InputError
from codec.fit import Budget
from recon import api, gridpull, meshing, sdf
from recon.metrics import mesh_metrics
from recon.pointcloud import Normalization, read_mesh, read_points, validate_points
from tests.conftest import run_cli


def sphere_points(n: int, r: float = 0.4, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).standard_normal((n, 3))
    return r * p / np.linalg.norm(p, axis=1, keepdims=True)


def torus_points(n: int, big: float = 0.3, small: float = 0.12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0, 2 * np.pi, (2, 4 * n))
    # rejection sampling: uniform by area (the outer rim has more area than the inner one)
    keep = rng.uniform(0, big + small, 4 * n) < big + small * np.cos(v)
    u, v = u[keep][:n], v[keep][:n]
    ring = big + small * np.cos(v)
    return np.stack([ring * np.cos(u), ring * np.sin(u), small * np.sin(v)], 1)


def sphere_mesh(r: float = 0.4):
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_sphere(radius=r, resolution=60)
    return np.asarray(m.vertices), np.asarray(m.triangles)


def torus_mesh():
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_torus(torus_radius=0.3, tube_radius=0.12,
                                               radial_resolution=90, tubular_resolution=45)
    return np.asarray(m.vertices), np.asarray(m.triangles)


def test_gridpull_fits_a_torus():
    pts = torus_points(4000)
    norm = Normalization.fit(pts)
    values, stats = gridpull.fit_grid(norm.apply(pts), Budget(steps=100), resolution=64)
    v, f = meshing.marching_cubes(values, 0.0, meshing.lattice(64)[1])
    gv, gf = torus_mesh()
    m = mesh_metrics(gv, gf, norm.invert(v), f, n_samples=20_000)
    assert stats["steps"] == 100
    assert m["cd_l1"] < 0.006  # under half a cell of the 64³ lattice (cell 0.0175 · 0.84)
    assert m["normal_consistency"] > 0.95


def test_sdf_fits_a_sphere():
    pts = sphere_points(3000)
    norm = Normalization.fit(pts)
    field, _ = sdf.fit_sdf(norm.apply(pts), sdf.field_config(20_000), Budget(steps=200),
                           recipe=replace(sdf.RECIPE, batch=2048))
    v, f = meshing.extract(sdf.sdf(field), 64)
    gv, gf = sphere_mesh()
    m = mesh_metrics(gv, gf, norm.invert(v), f, n_samples=20_000)
    assert m["cd_l1"] < 0.004, m


def test_coord_quant_snaps_queries_to_the_lattice():
    import torch

    from recon.neural import SurfaceField, SurfaceFieldConfig

    cfg = SurfaceFieldConfig(n_levels=4, log2_hashmap_size=10, coord_quant=101)
    field = SurfaceField(cfg, backend="torch")
    with torch.no_grad():
        field.grid.params.normal_(0, 1)
    step = 2 * meshing.BOX / 100
    node = torch.tensor([[3 * step - meshing.BOX, -meshing.BOX, 50 * step - meshing.BOX]])
    jitter = (torch.rand(64, 3) - 0.5) * 0.9 * step
    with torch.no_grad():
        assert torch.equal(field(node + jitter), field(node).expand(64, -1))
        assert not torch.equal(field(node), field(node + step))


def test_points_to_nirc_to_mesh_in_the_input_frame(tmp_path):
    # a torus scaled by 7 and moved far away: the mesh must come back where the points are
    pts = torus_points(3000) * 7.0 + np.array([100.0, -20.0, 5.0])
    np.save(tmp_path / "cloud.npy", pts)
    out = tmp_path / "shape.nirc"
    r = run_cli("encode", str(tmp_path / "cloud.npy"), "-o", str(out), "--size", "40k",
                "--steps", "60", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["model"] == "gridpull" and info["bytes"] == out.stat().st_size
    r = run_cli("decode", str(out), "-o", str(tmp_path / "mesh.ply"), "--quiet")
    assert r.returncode == 0, r.stderr
    v, f = read_mesh(tmp_path / "mesh.ply")
    gv, gf = torus_mesh()
    gv = gv * 7.0 + np.array([100.0, -20.0, 5.0])
    gnorm = Normalization.fit(gv)
    m = mesh_metrics(gnorm.apply(gv), gf, gnorm.apply(v), f, n_samples=20_000)
    assert m["cd_l1"] < 0.01
    # the same file decodes to the same mesh, and at another resolution on request
    v2, _ = api.decode_surface(out)
    assert np.array_equal(v2, api.decode_surface(out)[0])
    v3, _ = api.decode_surface(out, resolution=20)
    assert len(v3) < len(v2)


def test_mesh_cli_writes_the_input_frame(tmp_path):
    pts = sphere_points(2000) * 3.0 + 10.0
    np.savetxt(tmp_path / "cloud.xyz", pts)
    r = run_cli("mesh", str(tmp_path / "cloud.xyz"), "-o", str(tmp_path / "m.obj"),
                "--resolution", "48", "--steps", "40", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["triangles"] > 100
    v, _ = read_mesh(tmp_path / "m.obj")
    radius = np.linalg.norm(v - 10.0, axis=1)
    assert abs(np.median(radius) - 1.2) < 0.03


@pytest.mark.parametrize(
    "points, message",
    [
        (np.full((50, 3), 1.0), "identical"),
        (np.arange(150.0).reshape(50, 3), "collinear"),
        (np.ones((5, 3)) * np.arange(5)[:, None], "at least"),
        (np.array([[0, 0, np.nan]] + [[i, i * i, 1] for i in range(20)], float), "NaN"),
    ],
)
def test_degenerate_clouds_are_refused(points, message):
    with pytest.raises(InputError, match=message):
        validate_points(points)


def test_bad_inputs_give_one_line_errors(tmp_path):
    np.save(tmp_path / "few.npy", np.random.default_rng(0).random((4, 3)))
    (tmp_path / "empty.ply").write_bytes(b"")
    (tmp_path / "junk.ply").write_bytes(b"not a ply at all\n")
    np.save(tmp_path / "ok.npy", sphere_points(200))
    cases = [
        ("mesh", str(tmp_path / "missing.ply"), "-o", str(tmp_path / "a.ply")),
        ("mesh", str(tmp_path / "few.npy"), "-o", str(tmp_path / "a.ply")),
        ("mesh", str(tmp_path / "empty.ply"), "-o", str(tmp_path / "a.ply")),
        ("mesh", str(tmp_path / "junk.ply"), "-o", str(tmp_path / "a.ply")),
        ("mesh", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "no" / "a.ply")),
        ("mesh", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "a.stl")),
        ("mesh", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "a.ply"), "--resolution", "5"),
        ("encode", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "a.nirc"), "--model", "hnerv"),
        ("encode", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "a.nirc"), "--size", "10"),
    ]
    for args in cases:
        r = run_cli(*args, "--quiet")
        assert r.returncode == 1, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nircodec: error:"), (args, r.stderr)
    assert not any(p.suffix in (".nirc",) or p.name.startswith("a.") for p in tmp_path.iterdir())


def test_read_points_formats(tmp_path):
    import open3d as o3d

    pts = sphere_points(100)
    np.savetxt(tmp_path / "p.xyz", pts)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    o3d.io.write_point_cloud(str(tmp_path / "p.pcd"), pc)
    o3d.io.write_point_cloud(str(tmp_path / "p.ply"), pc)
    np.save(tmp_path / "p.npy", np.hstack([pts, np.ones((100, 3))]))  # extra columns ignored
    for name in ("p.xyz", "p.pcd", "p.ply", "p.npy"):
        assert np.allclose(read_points(tmp_path / name), pts, atol=1e-6), name


@pytest.mark.parametrize("model, size", [("gridpull", "30k"), ("sdf", "20k"), ("csp", "20k")])
def test_interrupted_encode_resumes_to_the_same_file(model, size, tmp_path):
    # checkpoints are offered every 50 steps: stopped at step 60, resumed from step 50
    cloud = tmp_path / "cloud.npy"
    np.save(cloud, torus_points(2000))
    opts = {"size": size, "steps": 60}
    ref, out = tmp_path / "ref.nirc", tmp_path / "out.nirc"
    ckpt = tmp_path / "out.nirc.ckpt"
    api.encode_surface(cloud, ref, model=model, options=opts, seed=3)

    class Stop(Exception):
        pass

    def stop_after_a_checkpoint(fraction: float, stats: dict) -> None:
        if ckpt.exists():
            raise Stop

    with pytest.raises(Stop):
        api.encode_surface(cloud, out, model=model, options=opts, seed=3,
                           report=stop_after_a_checkpoint, checkpoint_every=0)
    assert ckpt.exists() and not out.exists()
    api.encode_surface(cloud, out, model=model, options=opts, seed=3, checkpoint_every=0,
                       resume=True)
    assert out.read_bytes() == ref.read_bytes()
    assert not ckpt.exists()


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(model="gridpull", options={"bits": 6}), "--bits: not gridpull options"),
        (dict(model="csp", options={"coord_quant": 64}), "--coord-quant: not csp options"),
        (dict(model="sdf", options={"coord_quant": 1}), "--coord-quant must be"),
        (dict(model="gridpull", options={"size": "1000M"}), "8³..512³"),
        (dict(model="sdf", options={"size": "1k"}), "too small"),
        (dict(model="sdf", options={"steps": 0}), "--steps"),
        (dict(model="poisson"), "meshes only"),
        (dict(model="hnerv"), "unknown model"),
    ],
)
def test_bad_encode_options_are_one_line_input_errors(call, message, tmp_path):
    np.save(tmp_path / "cloud.npy", sphere_points(200))
    with pytest.raises(InputError, match=message) as info:
        api.encode_surface(tmp_path / "cloud.npy", tmp_path / "a.nirc", **call)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "a.nirc").exists()


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(method="poisson", options={"steps": 30}), "--steps: not poisson options"),
        (dict(method="poisson", resolution=32), "no --resolution"),
        (dict(method="sdf", options={"size": "20k"}), "--size: not sdf mesh options"),
        (dict(method="csp", options={"bits": 6}), "--bits: not csp mesh options"),
        (dict(method="gridpull", resolution=8), "--resolution must be"),
    ],
)
def test_bad_mesh_options_are_one_line_input_errors(call, message, tmp_path):
    np.save(tmp_path / "cloud.npy", sphere_points(200))
    with pytest.raises(InputError, match=message):
        api.reconstruct(tmp_path / "cloud.npy", tmp_path / "a.ply", **call)


def test_surface_methods_come_from_the_registry():
    from codec import registry

    names = [m.name for m in registry.methods("surface")]
    assert names == ["gridpull", "sdf", "csp", "poisson"]
    assert registry.default_method("surface") == "gridpull"
    for name in names:
        method = registry.method(name, "surface")
        assert method.kind == "surface" and (method.codec is None) == (name == "poisson")
        if method.codec is not None:
            assert registry.get(name).cls is method.codec
