"""Subnetwork masks (PFNR): top-c selection, straight-through scores, frozen weights, mask
coding."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from codec.errors import ContainerError
from codec.video.pfnr.subnet import (
    decode_mask,
    encode_mask,
    freeze,
    subnet_mask,
    top_fraction,
)


def test_top_fraction_picks_the_largest_magnitudes():
    scores = torch.tensor([[0.1, -3.0, 2.0], [0.5, 0.5, -0.2]])
    assert top_fraction(scores, 0.5).tolist() == [[False, True, True], [True, False, False]]
    assert top_fraction(scores, 1e-6).sum() == 1  # at least one weight
    assert top_fraction(scores, 1.0).all()
    with pytest.raises(ValueError):
        top_fraction(scores, 0.0)


def test_scores_get_straight_through_gradients():
    scores = torch.tensor([1.0, -2.0, 0.1, 0.3], requires_grad=True)
    m = subnet_mask(scores, 0.5)
    assert m.tolist() == [1.0, 1.0, 0.0, 0.0]
    (m * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert scores.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_frozen_weights_stay_bit_identical_under_adam(rng):
    weight = torch.nn.Parameter(torch.from_numpy(rng.normal(size=(8, 6)).astype(np.float32)))
    used = torch.from_numpy(rng.random((8, 6)) < 0.4)
    before = weight.detach().clone()
    freeze(weight, used)
    optim = torch.optim.Adam([weight], lr=0.1)
    x = torch.from_numpy(rng.normal(size=(16, 6)).astype(np.float32))
    for _ in range(20):
        loss = (x @ weight.t()).pow(2).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert torch.equal(weight.detach()[used], before[used])
    assert not torch.equal(weight.detach()[~used], before[~used])


@given(st.integers(1, 400), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(0, 2**16))
def test_mask_coding_round_trip(n, p_used, p_mask, seed):
    rng = np.random.default_rng(seed)
    used = rng.random(n) < p_used
    mask = rng.random(n) < p_mask
    data = encode_mask(mask.reshape(1, n), used.reshape(1, n))
    assert np.array_equal(decode_mask(data, used.reshape(1, n)), mask.reshape(1, n))


def test_mask_costs_about_its_entropy(rng):
    n = 200_000
    used = rng.random(n) < 0.3
    mask = np.where(used, rng.random(n) < 0.8, rng.random(n) < 0.1)  # reuse often, pick few

    def h(p):
        return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))

    ideal = (used.sum() * h(0.8) + (~used).sum() * h(0.1)) / 8
    assert len(encode_mask(mask, used)) < 1.02 * ideal + 64


def test_corrupt_masks_are_container_errors(rng):
    used = rng.random(100) < 0.3
    data = encode_mask(rng.random(100) < 0.3, used)
    for bad in (data[:-2], data + b"\x00", b"", bytes([9]) + data[1:]):
        with pytest.raises(ContainerError):
            decode_mask(bad, used)
    with pytest.raises(ContainerError):
        decode_mask(data, ~used)  # a different context splits the bits differently
