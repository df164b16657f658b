"""Conditional coding with a bank of Laplace tables (codec.entropy.indexed): round trips with
per-value tables and means, cost close to the ideal under the true scales, escapes, pinned
tables, and damaged streams refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.entropy.indexed import LaplaceBank
from codec.errors import ContainerError

BANK = LaplaceBank()


def test_bank_tables_are_pinned():
    """The ratios are part of any format built on the bank: they must never change."""
    digest = hashlib.sha256(np.asarray(BANK.ratios, "<i8").tobytes()).hexdigest()
    assert digest[:16] == "84199fa725475e4e"
    assert BANK.ratios == sorted(BANK.ratios)  # larger scale, flatter table


def test_tables_put_the_trained_laws_mass_on_zero():
    """Each table gives a zero residual the probability the continuous Laplace law of its
    scale puts on [-1/2, 1/2] (what training prices), at small and large scales alike."""
    import math

    from codec.entropy.parametric import laplace_frequencies

    bank = LaplaceBank(radius=63)
    for i in (0, 5, 20, 40):  # (wider laws are cut by the window of ±63)
        s = bank.scales[i]
        freq = np.asarray(laplace_frequencies(128, 63, bank.ratios[i]), float)
        p0 = freq[63] / freq.sum()
        assert p0 == pytest.approx(1 - math.exp(-0.5 / s), rel=0.02, abs=3e-3), i


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3000))
def test_round_trip_with_indexes_and_means(seed, n):
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(np.log(0.05), np.log(200), n))
    means = rng.integers(-1000, 1000, n)
    values = means + np.round(rng.laplace(0, scale)).astype(np.int64)
    index = BANK.index_of(scale)
    data = BANK.encode(values, index, means)
    np.testing.assert_array_equal(BANK.decode(data, index, means), values)


def test_cost_follows_the_predicted_scales():
    """Coding Laplace values under their own scales costs close to their log-likelihood, and
    far less than under one wrong scale."""
    rng = np.random.default_rng(1)
    n = 60_000
    scale = np.exp(rng.uniform(np.log(0.2), np.log(30), n))
    values = np.round(rng.laplace(0, scale)).astype(np.int64)
    index = BANK.index_of(scale)
    right = len(BANK.encode(values, index))
    wrong = len(BANK.encode(values, np.full(n, len(BANK.scales) - 1)))
    # ideal: -log2 of the discretised Laplace mass at each value, with its own scale
    b, v = scale, np.abs(values)
    mass = np.where(v == 0, 1 - np.exp(-0.5 / b),
                    0.5 * (np.exp(-(v - 0.5) / b) - np.exp(-(v + 0.5) / b)))
    ideal = -np.log2(mass).sum() / 8
    assert right < 1.03 * ideal + 64
    assert right < 0.8 * wrong


def test_escapes_and_bad_input():
    values = np.array([0, 5000, -7000, 3, 2**30])
    index = np.zeros(5, np.int64)
    data = BANK.encode(values, index)
    np.testing.assert_array_equal(BANK.decode(data, index), values)
    with pytest.raises(ValueError):
        BANK.encode(values, np.full(5, len(BANK.scales)))
    with pytest.raises(ValueError):
        BANK.encode(values, index[:3])
    with pytest.raises(ContainerError):
        BANK.decode(data + b"\0", index)
    for cut in range(len(data)):
        with pytest.raises(ContainerError):
            BANK.decode(data[:cut], index)
