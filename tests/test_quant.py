import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from codec.quant import dequantize, fake_quantize, quantize, quantize_best, quantize_step


def _step(q, ndim):
    s = q.scale.astype(np.float64)
    if q.axis is None:
        return s.reshape(())
    shape = [1] * ndim
    shape[q.axis] = -1
    return s.reshape(shape)


def _check_bound(x, q):
    x = np.asarray(x, np.float32).astype(np.float64)
    err = np.abs(dequantize(q).astype(np.float64) - x)
    step = _step(q, x.ndim)
    m = np.abs(q.minimum.astype(np.float64))
    m = m.reshape(()) if q.axis is None else m.reshape(step.shape)
    # step/2, plus the float32 rounding of the two dequantization operations
    slack = 2.0**-23 * (2 * m + q.levels() * step)
    assert np.all(err <= step / 2 * (1 + 1e-6) + slack + 1e-30)


floats = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@given(
    arrays(np.float32, array_shapes(min_dims=1, max_dims=4, max_side=6), elements=floats),
    st.integers(2, 16),
    st.data(),
)
def test_error_at_most_half_a_step(x, bits, data):
    axis = data.draw(st.sampled_from([None, *range(x.ndim)]))
    q = quantize(x, bits, axis)
    assert q.symbols.shape == x.shape
    levels = q.levels()
    assert levels.min() >= 0 and levels.max() <= (1 << bits) - 1
    _check_bound(x, q)


@pytest.mark.parametrize("bits", [2, 6, 8, 16])
def test_constant_and_tiny_tensors(bits):
    for x in (
        np.full((4, 3), -0.75, np.float32),
        np.array([3.0], np.float32),
        np.zeros((2, 0, 3), np.float32),
        np.float32([1e-30, -1e-30]),
    ):
        for axis in (None, 0):
            q = quantize(x, bits, axis)
            _check_bound(x, q)
    q = quantize(np.full(10, 0.5, np.float32), bits)
    assert np.all(dequantize(q) == np.float32(0.5))


def test_per_channel_beats_per_tensor_on_mixed_ranges(rng):
    scales = np.logspace(-3, 0, 16)[:, None, None, None]
    w = (rng.normal(0, 1, (16, 8, 3, 3)) * scales).astype(np.float32)
    per_tensor = quantize(w, 6)
    best = quantize_best(w, 6, criterion="error")
    assert best.axis == 0
    e_t = np.mean((per_tensor.dequantize() - w) ** 2)
    e_b = np.mean((best.dequantize() - w) ** 2)
    assert e_b < e_t / 10


def test_rd_choice_skips_per_element_parameters(rng):
    bias = rng.normal(0, 0.1, 40).astype(np.float32)
    # per element: zero error but 8 bytes of parameters a value
    assert quantize_best(bias, 8, axes=(None, 0), criterion="error").axis == 0
    assert quantize_best(bias, 8, axes=(None, 0)).axis is None
    assert quantize_best(bias, 8, criterion="error").axis is None  # too small to be a channel
    # channels with far-apart centres: per-channel parameters pay for themselves
    big = (rng.normal(0, 0.01, (4, 4096)) + np.array([[-1], [0], [1], [2]])).astype(np.float32)
    assert quantize_best(big, 8).axis == 0


def test_float16_params_when_exact_else_float32(rng):
    assert quantize(rng.normal(0, 0.1, 100), 8).param_dtype == np.float16
    assert quantize(rng.normal(0, 1e-9, 100), 8).param_dtype == np.float32  # scale underflows f16
    assert quantize(np.float32([1e6, -1e6]), 8).param_dtype == np.float32  # beyond f16 range


def test_dequantize_is_float32_and_deterministic(rng):
    q = quantize(rng.normal(0, 0.1, (32, 32)), 8, 1)
    a, b = dequantize(q), dequantize(q)
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        quantize(np.float32([1, np.nan]), 8)
    with pytest.raises(ValueError):
        quantize(np.ones(3), 1)
    with pytest.raises(ValueError):
        quantize(np.ones(3), 17)
    with pytest.raises(ValueError):
        quantize(np.ones((2, 2)), 8, axis=2)


def test_fake_quantize_modes():
    torch.manual_seed(0)
    x = torch.randn(8, 5, requires_grad=True)
    ste = fake_quantize(x, 4, axis=0, mode="ste")
    q = quantize(x.detach().numpy(), 4, 0)
    # forward of STE equals the coded grid (up to float16 parameter rounding of the grid)
    step = float(q.scale.max())
    assert torch.allclose(ste, torch.from_numpy(q.dequantize()), atol=step)
    ste.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # straight-through gradient
    noisy = fake_quantize(x, 4, mode="noise")
    scale = (x.max() - x.min()) / 15
    assert torch.all((noisy - x).abs() <= scale / 2 + 1e-6)
    assert not torch.equal(noisy, x)
    with pytest.raises(ValueError):
        fake_quantize(x, 4, mode="round")


def test_tiny_maximum_next_to_large_minimum():
    # hi - lo rounds to -lo in float64; the step must still reach hi (found by hypothesis in CI)
    x = np.float32([-117.0, 1.3049963e-23])
    for bits in (2, 8):
        q = quantize(x, bits)
        _check_bound(x, q)


@given(st.floats(1e-3, 1.0), st.integers(0, 2**32 - 1))
def test_quantize_step_stores_the_rounded_latents(step, seed):
    x = np.random.default_rng(seed).normal(0, 0.5, (16, 9)).astype(np.float32)
    q = quantize_step(x, step)
    s = np.float32(step)
    assert np.array_equal(q.symbols, np.rint(x.astype(np.float64) / float(s)))
    assert np.abs(q.dequantize() - x).max() <= float(s) / 2 * (1 + 1e-5)
    span = q.symbols.max() - q.symbols.min() + 1
    assert 2 ** (q.bits - 1) < max(span, 3) <= 2**q.bits  # the fewest bits that hold it


def test_quantize_step_refuses_too_fine_steps():
    with pytest.raises(ValueError, match="more than 16 bits"):
        quantize_step(np.array([-1.0, 1.0], np.float32), 1e-6)
    with pytest.raises(ValueError):
        quantize_step(np.array([1.0], np.float32), 0.0)
