"""Hash grid and fused MLP: the vectorised torch code against a literal per-point transcription
of tiny-cuda-nn's kernel, gradients (analytic, gradcheck), parameter counts, backends."""

import math

import numpy as np
import pytest
import torch

from codec.fields import (
    FusedMLP,
    HashGrid,
    HashGridConfig,
    MLPConfig,
    hash_grid_encode,
    mlp_forward,
    resolve_backend,
    tcnn_available,
)
from codec.fields.hashgrid import PRIMES

U32 = 0xFFFFFFFF


def naive_taps(x: np.ndarray, cfg: HashGridConfig):
    """Yield (point, level, table row, weight): one point, level and corner at a time, uint32
    maths in Python ints, transcribed from tcnn's kernel."""
    d = cfg.n_input_dims
    log2s = np.log2(np.float32(cfg.per_level_scale), dtype=np.float32)
    offset = 0
    for level in range(cfg.n_levels):
        scale = np.float32(
            np.exp2(np.float32(level) * log2s, dtype=np.float32) * np.float32(cfg.base_resolution)
            - np.float32(1)
        )
        res = math.ceil(scale) + 1
        size = min(-(-(res**d) // 8) * 8, 2**cfg.log2_hashmap_size)
        for i, p in enumerate(x):
            pos = [np.float32(float(scale) * float(v) + 0.5) for v in p]  # fmaf: one rounding
            grid = [math.floor(v) for v in pos]
            fr = [float(v) - g for v, g in zip(pos, grid, strict=True)]
            if cfg.interpolation == "smoothstep":
                fr = [t * t * (3 - 2 * t) for t in fr]
            for corner in range(2**d):
                w = 1.0
                local = []
                for k in range(d):
                    up = (corner >> k) & 1
                    w *= fr[k] if up else 1 - fr[k]
                    local.append((grid[k] + up) & U32)
                stride, index = 1, 0
                for k in range(d):
                    if stride > size:
                        break
                    index = (index + local[k] * stride) & U32
                    stride = (stride * res) & U32 if stride * res <= U32 else stride * res
                if size < stride:
                    index = 0
                    for k in range(d):
                        index ^= (local[k] * PRIMES[k]) & U32
                yield i, level, offset + index % size, w
        offset += size


def naive_encode(x: np.ndarray, params: np.ndarray, cfg: HashGridConfig) -> np.ndarray:
    f = cfg.n_features_per_level
    out = np.zeros((len(x), cfg.n_levels * f))
    for i, level, row, w in naive_taps(x, cfg):
        out[i, level * f : (level + 1) * f] += w * params[row * f : (row + 1) * f]
    return out


def naive_table_grad(x: np.ndarray, upstream: np.ndarray, cfg: HashGridConfig) -> np.ndarray:
    f = cfg.n_features_per_level
    grad = np.zeros(cfg.n_params)
    for i, level, row, w in naive_taps(x, cfg):
        grad[row * f : (row + 1) * f] += w * upstream[i, level * f : (level + 1) * f]
    return grad


CONFIGS = {
    "3d-hashed": HashGridConfig(3, n_levels=6, n_features_per_level=2, log2_hashmap_size=10,
                                base_resolution=4, per_level_scale=1.9),
    "2d-mixed": HashGridConfig(2, n_levels=5, n_features_per_level=4, log2_hashmap_size=8,
                               base_resolution=3, per_level_scale=2.5),
    "1d-smooth": HashGridConfig(1, n_levels=4, n_features_per_level=1, log2_hashmap_size=6,
                                base_resolution=5, per_level_scale=3.0,
                                interpolation="smoothstep"),
    "4d": HashGridConfig(4, n_levels=3, n_features_per_level=8, log2_hashmap_size=9,
                         base_resolution=2, per_level_scale=2.0),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_matches_naive_transcription(name):
    cfg = CONFIGS[name]
    g = torch.Generator().manual_seed(1)
    params = torch.randn(cfg.n_params, generator=g)
    x = torch.rand(40, cfg.n_input_dims, generator=g)
    x[0] = 0.0
    x[1] = 1.0  # upper boundary: dense levels wrap around, as in tcnn
    got = hash_grid_encode(x, params, cfg)
    want = naive_encode(x.numpy(), params.double().numpy(), cfg)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_dense_and_hashed_levels_both_present():
    geo = CONFIGS["2d-mixed"].geometry
    assert any(geo.hashed) and not all(geo.hashed)


def test_table_gradient_matches_naive():
    cfg = CONFIGS["3d-hashed"]
    g = torch.Generator().manual_seed(2)
    x = torch.rand(30, 3, generator=g)
    params = torch.randn(cfg.n_params, generator=g, requires_grad=True)
    upstream = torch.randn(30, cfg.n_output_dims, generator=g)
    (hash_grid_encode(x, params, cfg) * upstream).sum().backward()
    want = naive_table_grad(x.numpy(), upstream.double().numpy(), cfg)
    np.testing.assert_allclose(params.grad.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
def test_gradcheck_float64(interp):
    cfg = HashGridConfig(2, n_levels=3, n_features_per_level=2, log2_hashmap_size=5,
                         base_resolution=3, per_level_scale=1.7, interpolation=interp)
    g = torch.Generator().manual_seed(3)
    # keep points away from cell borders, where the function has kinks
    x = (0.1 + 0.8 * torch.rand(6, 2, generator=g, dtype=torch.float64)).requires_grad_()
    params = torch.randn(cfg.n_params, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: hash_grid_encode(a, b, cfg), (x, params),
                                    eps=1e-7, atol=1e-5)


def test_input_gradient_matches_finite_differences():
    cfg = CONFIGS["3d-hashed"]
    g = torch.Generator().manual_seed(4)
    x = torch.rand(50, 3, generator=g, dtype=torch.float64, requires_grad=True)
    params = torch.randn(cfg.n_params, generator=g, dtype=torch.float64)
    out = hash_grid_encode(x, params, cfg)
    (gx,) = torch.autograd.grad(out.sum(), x)
    h = 1e-6
    for k in range(3):
        dx = torch.zeros_like(x)
        dx[:, k] = h
        num = (hash_grid_encode(x + dx, params, cfg) - hash_grid_encode(x - dx, params, cfg))
        np.testing.assert_allclose(gx[:, k].numpy(), (num.sum(1) / (2 * h)).detach().numpy(),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("cfg", "n_params"),
    [
        # 3-D, 16 levels: resolutions 16, 24, 36, 54 dense (r^3 entries), then 12 levels of 2^19
        (HashGridConfig(3, 16, 2, 19, 16, 1.5), 2 * (16**3 + 24**3 + 36**3 + 54**3 + 12 * 2**19)),
        # 2-D: 54^2, 81^2, 122^2 are rounded up to multiples of 8 (2920, 6568, 14888)
        (HashGridConfig(2, 16, 2, 15, 16, 1.5),
         2 * (16**2 + 24**2 + 36**2 + 2920 + 6568 + 14888 + 10 * 2**15)),
        # dense only: every level (4, 8, 16, 32 per side) fits its table
        (HashGridConfig(3, 4, 2, 19, 4, 2.0), 2 * (4**3 + 8**3 + 16**3 + 32**3)),
    ],
)
def test_parameter_counts_equal_tcnn(cfg, n_params):
    geo = cfg.geometry
    assert cfg.n_params == n_params
    assert all(s % 8 == 0 for s in geo.sizes)
    assert cfg.to_tcnn()["otype"] == "HashGrid"


def test_geometry_of_default_3d():
    geo = HashGridConfig(3, 16, 2, 19, 16, 1.5).geometry
    assert geo.resolutions[:5] == (16, 24, 36, 54, 81)
    assert geo.hashed[:4] == (False,) * 4 and all(geo.hashed[4:])
    assert geo.sizes[0] == 16**3 and geo.sizes[-1] == 2**19


def test_init_range_and_shapes():
    grid = HashGrid(CONFIGS["3d-hashed"], backend="torch",
                    generator=torch.Generator().manual_seed(0))
    assert grid.params.abs().max() <= 1e-4 and grid.params.numel() == CONFIGS["3d-hashed"].n_params
    assert grid(torch.rand(7, 3)).shape == (7, 12)


def test_mlp_layout_and_function():
    cfg = MLPConfig(12, 3, n_neurons=16, n_hidden_layers=2, output_activation="sigmoid")
    assert cfg.shapes == [(16, 16), (16, 16), (16, 16)] and cfg.n_params == 768
    mlp = FusedMLP(cfg, backend="torch", generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, 12)
    w = [m.detach() for m in torch.split(mlp.params, [256, 256, 256])]
    w0, w1, w2 = (m.view(16, 16) for m in w)
    h = torch.relu(x @ w0[:, :12].t())
    h = torch.relu(h @ w1.t())
    want = torch.sigmoid(h @ w2[:3].t())
    torch.testing.assert_close(mlp(x), want)
    torch.testing.assert_close(mlp_forward(x, mlp.params, cfg), want)
    with pytest.raises(ValueError):
        MLPConfig(4, 3, n_neurons=48)


def test_backend_resolution_without_tcnn():
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("torch", torch.device("cpu")) == "torch"
    with pytest.raises(RuntimeError):
        resolve_backend("tcnn", torch.device("cpu"))
    with pytest.raises(ValueError):
        resolve_backend("cuda", torch.device("cpu"))


def test_bad_configs_rejected():
    for kw in ({"n_input_dims": 5}, {"n_features_per_level": 3}, {"interpolation": "cubic"},
               {"per_level_scale": 0.5}):
        with pytest.raises(ValueError):
            HashGridConfig(**kw)
    with pytest.raises(ValueError):
        hash_grid_encode(torch.rand(3, 2), torch.zeros(CONFIGS["3d-hashed"].n_params),
                         CONFIGS["3d-hashed"])


@pytest.mark.gpu
def test_tcnn_parity_same_parameters():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    if not tcnn_available():
        pytest.skip("needs tinycudann (pip install '.[cuda]' on a CUDA machine)")
    g = torch.Generator().manual_seed(5)
    for cfg in (HashGridConfig(3, 16, 2, 19, 16, 1.5), HashGridConfig(2, 8, 2, 12, 8, 2.0)):
        params = torch.randn(cfg.n_params, generator=g) * 0.1
        x = torch.rand(4096, cfg.n_input_dims, generator=g)
        ref = HashGrid(cfg, backend="torch", params=params)(x)
        fast = HashGrid(cfg, backend="tcnn", params=params).cuda()(x.cuda()).cpu()
        torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)
        # gradients with respect to the same flat vector
        gt = HashGrid(cfg, backend="tcnn", params=params).cuda()
        gt(x.cuda()).square().sum().backward()
        gr = HashGrid(cfg, backend="torch", params=params)
        gr(x).square().sum().backward()
        torch.testing.assert_close(gt.params.grad.cpu(), gr.params.grad, rtol=1e-3, atol=1e-4)
    cfg = MLPConfig(32, 3, 64, 2, "sigmoid")
    mlp_params = torch.randn(cfg.n_params, generator=g) * 0.1
    x = torch.rand(4096, 32, generator=g)
    ref = FusedMLP(cfg, "torch", mlp_params)(x)
    fast = FusedMLP(cfg, "tcnn", mlp_params).cuda()(x.cuda()).cpu()
    torch.testing.assert_close(fast, ref, rtol=2e-2, atol=2e-2)  # tcnn computes in half
