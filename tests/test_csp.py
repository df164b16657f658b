"""CSP field (recon.csp): fitting an open and a closed analytic surface, meshing that keeps the
opening open, the unsigned distance, determinism and option checks. Small fields, few steps and a
64³ lattice keep the file fast; thresholds are in lattice cells (h = 1.1 / 63 ≈ 0.0175)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from codec.errors import InputError
from codec.fit import Budget
from codec.options import build
from recon import csp
from recon.meshing import BOX
from recon.metrics import mesh_metrics

R = 0.4  # sphere radius (normalised frame)
RES = 64
H = 2 * BOX / (RES - 1)
FAST = replace(csp.RECIPE, batch=4096)
FAST_FIELD = csp.field_config(50_000, FAST)
FAST_STEPS = 200


def fit(points, steps=FAST_STEPS, recipe=FAST, config=FAST_FIELD, **kw):
    return csp.fit_csp(points, config, Budget(steps=steps), recipe=recipe, **kw)


def sphere_points(n: int, rng: np.random.Generator, hemisphere: bool) -> np.ndarray:
    """(n, 3) uniform by area on the sphere of radius R (z ≥ 0 only for the hemisphere):
    Archimedes — z uniform in [-R, R] (or [0, R]) and the azimuth uniform."""
    z = rng.uniform(0 if hemisphere else -R, R, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(R**2 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def sphere_mesh(hemisphere: bool, n_lat: int = 48, n_lon: int = 96):
    """Latitude-longitude triangulation (V, 3), (F, 3) of the (hemi)sphere; the hemisphere
    ends at the equator, a boundary ring."""
    theta = np.linspace(0, np.pi / 2 if hemisphere else np.pi, n_lat + 1)
    phi = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    v = R * np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n_lat), np.arange(n_lon), indexing="ij")
    a, b = i * n_lon + j, i * n_lon + (j + 1) % n_lon
    c, d = a + n_lon, b + n_lon
    f = np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)]).reshape(-1, 3)
    return v, f  # the degenerate triangles at the poles carry no area; metrics skip them


@pytest.fixture(scope="module")
def hemisphere():
    pts = sphere_points(3000, np.random.default_rng(0), hemisphere=True)
    field, stats = fit(pts)
    return pts, field, stats, csp.mesh(field, RES)


def test_open_surface_is_reconstructed(hemisphere):
    _, _, stats, (v, f) = hemisphere
    assert stats["steps"] == FAST_STEPS
    m = mesh_metrics(*sphere_mesh(True), v, f, n_samples=20_000)
    assert m["cd_l1"] < 0.1 * H, m  # measured 0.03 H
    assert m["f@0.01"] > 0.98, m
    assert m["normal_consistency"] > 0.97, m


def test_open_surface_stays_open(hemisphere):
    # the result is a collapsed shell (no topological boundary), so openness is geometric: no
    # part of the mesh spans the equatorial disk, and the rim reaches the equator
    _, _, _, (v, f) = hemisphere
    rng = np.random.default_rng(1)
    r, a = 0.85 * R * np.sqrt(rng.random(500)), rng.uniform(0, 2 * np.pi, 500)
    disk = np.stack([r * np.cos(a), r * np.sin(a), np.zeros(500)], 1)
    assert cKDTree(v).query(disk)[0].min() > 0.1 * R  # a cap would put vertices there
    assert v[:, 2].min() < 0.5 * H  # the surface still reaches its rim ...
    centre = v[f].mean(1)
    area = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area[centre[:, 2] < -H].sum() < 0.01 * area.sum()  # ... and barely goes past it
    assert np.quantile(np.abs(np.linalg.norm(v, axis=1) - R), 0.99) < 0.5 * H


def test_udf_small_on_surface_true_beside_it(hemisphere):
    pts, field, _, _ = hemisphere
    u = csp.udf(field)
    on = u(pts[:500].astype(np.float32))
    assert on.dtype == np.float32 and on.shape == (500,)
    assert np.median(on) < 0.15 * H  # measured 0.07 H
    s = sphere_points(300, np.random.default_rng(5), hemisphere=True)
    s = s[s[:, 2] > 0.1]  # keep the rim out of the way
    for side in (1, -1):  # 0.05 outside and inside, within reach of the training queries
        beside = u((s * (1 + side * 0.05 / R)).astype(np.float32))
        assert abs(np.median(beside) - 0.05) < 0.005
        assert beside.min() > 0.025


def test_closed_sphere():
    pts = sphere_points(3000, np.random.default_rng(2), hemisphere=False)
    field, _ = fit(pts)
    v, f = csp.mesh(field, RES)
    m = mesh_metrics(*sphere_mesh(False), v, f, n_samples=20_000)
    assert m["cd_l1"] < 0.15 * H, m  # measured 0.07 H
    assert m["normal_consistency"] > 0.95, m


def test_same_seed_same_field_and_report():
    pts = sphere_points(500, np.random.default_rng(3), hemisphere=True)
    recipe = replace(csp.RECIPE, batch=512)
    config = csp.field_config(20_000, recipe)
    calls = []
    a, stats = fit(pts, 12, recipe, config, seed=7,
                   report=lambda frac, info: calls.append((frac, info)))
    b, _ = fit(pts, 12, recipe, config, seed=7)
    c, _ = fit(pts, 12, recipe, config, seed=8)
    q = np.random.default_rng(4).uniform(-0.5, 0.5, (300, 3))
    assert np.array_equal(csp.offsets(a, q), csp.offsets(b, q))
    assert not np.array_equal(csp.offsets(a, q), csp.offsets(c, q))
    assert calls and 0 <= calls[0][0] <= calls[-1][0] <= 1 and stats["steps"] == 12
    assert torch.is_grad_enabled()  # inference_mode did not leak


@pytest.mark.parametrize(
    "bad",
    [
        dict(size="0"),
        dict(size="1"),
        dict(steps=0),
        dict(steps=2.5),
        dict(bits=1),
        dict(bits=17),
        dict(time_budget=0.0),
        dict(time_budget=float("inf")),
        dict(coord_quant=64),  # sdf only
    ],
)
def test_options_reject_nonsense(bad):
    with pytest.raises(InputError) as info:
        build(csp.CSPOptions, bad, "csp")
    assert "\n" not in str(info.value)


def test_a_budget_too_small_for_a_field_is_refused():
    with pytest.raises(ValueError, match="too small"):
        csp.CSPMethod().plan((100, 3), csp.CSPOptions(size="1k"))
