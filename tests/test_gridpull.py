"""GridPull adapts to its points: lattice from the spacing, noise estimated and smoothed, no
bubbles on clouds sparser than a fixed fine grid's cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from codec.errors import InputError
from codec.fit import Budget
from recon import api, gridpull, meshing
from recon.metrics import mesh_metrics
from recon.pointcloud import Normalization, read_mesh
from recon.sampling import noise_level, project_to_planes, spacing
from tests.test_surface import sphere_mesh, sphere_points, torus_mesh, torus_points


def components(f: np.ndarray) -> int:
    return meshing.count_components(np.zeros((int(f.max()) + 1, 3)), f)


@pytest.mark.parametrize("shape, n", [("sphere", 300), ("torus", 1000)])
def test_default_mesh_of_a_sparse_cloud_is_one_smooth_piece(shape, n, tmp_path):
    # 300 points on a sphere are ~0.1 apart: 23 cells of the former fixed 256³ lattice, where
    # GridPull returned ~60 bubbles and NC 0.78
    pts = sphere_points(n) if shape == "sphere" else torus_points(n)
    gv, gf = sphere_mesh() if shape == "sphere" else torus_mesh()
    np.save(tmp_path / "cloud.npy", pts)
    stats = api.reconstruct(tmp_path / "cloud.npy", tmp_path / "mesh.ply")  # all defaults
    assert stats["method"] == "gridpull" and stats["fit"]["resolution"] < 64
    v, f = read_mesh(tmp_path / "mesh.ply")
    assert components(f) == 1
    norm = Normalization.fit(gv)
    m = mesh_metrics(norm.apply(gv), gf, norm.apply(v), f, n_samples=20_000)
    assert m["normal_consistency"] >= 0.95, m


def test_noise_aware_fit_beats_the_plain_fit():
    rng = np.random.default_rng(1)
    clean = torus_points(6000, seed=1)
    norm = Normalization.fit(clean)
    pts = norm.apply(clean) + rng.normal(0, 0.006, clean.shape)  # σ: 0.6 % of the size
    gv, gf = torus_mesh()
    gv = norm.apply(gv)
    cd = {}
    for noise in (None, 0.0):  # estimated vs told "clean" (no smoothing, no projection)
        values, stats = gridpull.fit_grid(pts, Budget(steps=300), noise=noise)
        v, f = meshing.grid_mesh(values)
        cd[noise] = mesh_metrics(gv, gf, v, f, n_samples=20_000)["cd_l1"]
        if noise is None:
            assert 0.004 < stats["noise"] < 0.008
    assert cd[None] < 0.9 * cd[0.0], cd


def test_noise_level_is_zero_on_clean_curved_clouds_and_sigma_on_noisy_ones():
    rng = np.random.default_rng(7)  # not sphere_points' seed: its normals would be the noise
    clean = sphere_points(30_000, r=0.5)
    assert noise_level(cKDTree(clean)) < 2e-4
    for sigma in (0.002, 0.005):
        noisy = clean + rng.normal(0, sigma, clean.shape)
        assert noise_level(cKDTree(noisy)) == pytest.approx(sigma, rel=0.2)


def test_projection_to_local_planes_removes_noise_and_keeps_planes():
    rng = np.random.default_rng(0)
    flat = np.concatenate([rng.uniform(-0.5, 0.5, (4000, 2)), np.zeros((4000, 1))], 1)
    assert np.abs(project_to_planes(cKDTree(flat))[:, 2]).max() < 1e-12
    noisy = flat + np.array([0, 0, 1.0]) * rng.normal(0, 0.01, (4000, 1))
    assert np.std(project_to_planes(cKDTree(noisy))[:, 2]) < 0.4 * np.std(noisy[:, 2])


def test_the_lattice_follows_the_point_spacing():
    res = []
    for n in (500, 4000, 32_000):
        pts = Normalization.fit(p := sphere_points(n)).apply(p)
        _, tree, plan = gridpull.plan_fit(pts)
        assert plan.spacing == pytest.approx(spacing(tree))
        res.append(plan.resolution)
    assert res[0] < res[1] < res[2] <= gridpull.MAX_RESOLUTION
    assert 1.5 < res[1] / res[0] < 4.5  # ~√8 for 8× the points on the same area
    _, _, plan = gridpull.plan_fit(pts, resolution=40, noise=0.0)
    assert plan.resolution == 40 and plan.noise == 0.0 and plan.w_laplace_l1 == 0.0


def test_small_pieces_are_dropped_from_grid_meshes():
    axis, _ = meshing.lattice(48)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    big = np.sqrt(x**2 + y**2 + z**2) - 0.3
    bubble = np.sqrt((x - 0.45) ** 2 + y**2 + z**2) - 0.025
    v, f = meshing.grid_mesh(np.minimum(big, bubble).astype(np.float32))
    assert components(f) == 1 and np.abs(np.linalg.norm(v, axis=1) - 0.3).max() < 0.02
    _, f_all = meshing.grid_mesh(np.minimum(big, bubble).astype(np.float32), min_component=0)
    assert components(f_all) == 2


@pytest.mark.parametrize("options, message", [({"grid": 4}, "--grid must be"),
                                              ({"noise": -1.0}, "--noise must be")])
def test_bad_gridpull_options_are_one_line_errors(options, message, tmp_path):
    np.save(tmp_path / "cloud.npy", sphere_points(200))
    with pytest.raises(InputError, match=message) as info:
        api.reconstruct(tmp_path / "cloud.npy", tmp_path / "a.ply", options=options)
    assert "\n" not in str(info.value) and not (tmp_path / "a.ply").exists()


def test_xyz_predictor_and_context_coding_keep_the_mesh_and_save_bytes(tmp_path):
    from codec.encode import write_codec
    from recon.gridpull.codec import mixed_difference, surface_corners

    axis, _ = meshing.lattice(40)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = (np.sqrt(x**2 + (1.3 * y) ** 2 + z**2) - 0.33).astype(np.float32)
    norm = Normalization((1.0, 2.0, 3.0), 2.0)
    meshes, sizes = {}, {}
    for pred, coding in [("z", "order0"), ("xyz", "order0"), ("xyz", "context")]:
        codec = gridpull.GridPullCodec.from_values(
            values, norm, gridpull.GridCodecConfig(resolution=40, predictor=pred, coding=coding))
        sizes[coding, pred] = write_codec(tmp_path / f"{pred}{coding}.nirc", codec)
        meshes[coding, pred] = api.decode_surface(tmp_path / f"{pred}{coding}.nirc")
    for key in [("order0", "xyz"), ("context", "xyz")]:
        assert np.array_equal(meshes["order0", "z"][1], meshes[key][1])
        assert np.allclose(meshes["order0", "z"][0], meshes[key][0], atol=1e-6)
    assert sizes["order0", "xyz"] < 0.8 * sizes["order0", "z"]
    assert sizes["context", "xyz"] < 0.8 * sizes["order0", "xyz"]
    config = gridpull.GridCodecConfig(resolution=40)
    sym = gridpull.GridPullCodec.from_values(values, norm, config).symbols
    plain = np.clip(np.rint(values / (config.spacing / config.levels_per_cell)),
                    -config.max_symbol, config.max_symbol)
    corners = surface_corners(plain > 0)
    assert np.array_equal(sym > 0, plain > 0)  # every sign kept
    assert np.array_equal(sym[corners], plain[corners])  # the surface's corners exact
    assert corners.mean() < 0.2 and (mixed_difference(sym)[~corners] != 0).mean() < 0.02


def test_context_coding_round_trips_awkward_grids():
    """Escapes (far-off free values), all-negative grids, the smallest lattice: the adaptive
    stream gives back the symbols exactly."""
    from recon.gridpull.codec import context_decode, context_encode

    rng = np.random.default_rng(0)
    grids = [rng.integers(-40, 40, (8, 8, 8)), -np.ones((8, 8, 8), np.int64),
             rng.integers(-3, 3, (9, 9, 9)) * 10**6]
    for sym in grids:
        sym = sym.astype(np.int64)
        assert np.array_equal(context_decode(context_encode(sym), sym.shape[0]), sym)


def test_context_coding_needs_the_xyz_predictor():
    with pytest.raises(ValueError, match="xyz"):
        gridpull.GridCodecConfig(predictor="z", coding="context")


def test_target_error_picks_the_coarsest_grid_within_it(tmp_path):
    """--error: the stored surface stays within the target of the fitted one (measured on
    the fitted mesh), and a looser target stores a coarser, smaller grid."""
    from codec.encode import write_codec
    from recon.gridpull.codec import for_error, stored_error

    axis, _ = meshing.lattice(72)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = (np.sqrt(x**2 + (1.3 * y) ** 2 + z**2) - 0.33).astype(np.float32)
    vertices = meshing.grid_mesh(values)[0]
    norm = Normalization((0.0, 0.0, 0.0), 1.0)
    sizes = []
    for error in (1e-4, 4e-4, 1.6e-3):
        config = for_error(values, error, gridpull.GridCodecConfig())
        assert stored_error(values, vertices, config) <= error
        codec = gridpull.GridPullCodec.from_values(values, norm, config)
        sizes.append((config.resolution, write_codec(tmp_path / f"{error}.nirc", codec)))
    assert sizes[0][0] > sizes[1][0] > sizes[2][0]
    assert sizes[0][1] > sizes[1][1] > sizes[2][1]
    np.save(tmp_path / "cloud.npy", sphere_points(200))
    with pytest.raises(InputError, match="--error must be"):
        api.encode_surface(tmp_path / "cloud.npy", tmp_path / "a.nirc", options={"error": 1.0})
    assert not (tmp_path / "a.nirc").exists()
