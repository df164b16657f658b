"""Context-adaptive coding in slices (codec.entropy.adaptive): exact round trips, tables that
learn (a skewed context costs far less than its order-0 entropy), integer tables, and damaged
streams refused or decoded to wrong values, never a crash."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, AdaptiveModel, frequencies
from codec.errors import ContainerError


def _slices(rng, n_slices, flags=6, values=3):
    out = []
    for _ in range(n_slices):
        n = int(rng.integers(0, 50))
        fc = rng.integers(0, flags, n)
        vc = rng.integers(0, values, n)
        # context 0 is almost always zero; others spread, some beyond the radius
        v = np.where(fc == 0, (rng.random(n) < 0.02).astype(np.int64),
                     np.round(rng.laplace(0, 1 + 4 * fc, n)).astype(np.int64))
        out.append((v, fc, vc))
    return out


def _encode(slices, radius=8):
    enc = AdaptiveEncoder(AdaptiveModel(6, 3, radius))
    for v, fc, vc in slices:
        enc.add(v, fc, vc)
    return enc.finish()


def _decode(data, slices, radius=8):
    dec = AdaptiveDecoder(AdaptiveModel(6, 3, radius), data, sum(len(s[0]) for s in slices))
    out = [dec.next(fc, vc) for _, fc, vc in slices]
    dec.finish()
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30))
def test_round_trip(seed, n_slices):
    slices = _slices(np.random.default_rng(seed), n_slices)
    for (v, _, _), got in zip(slices, _decode(_encode(slices), slices), strict=True):
        assert np.array_equal(v, got)


def test_tables_learn_each_context():
    rng = np.random.default_rng(1)
    n = 20_000
    fc = rng.integers(0, 2, n)
    v = np.where(fc == 0, 0, rng.integers(1, 4, n))  # context decides zero or not
    slices = [(v[i : i + 500], fc[i : i + 500], np.zeros(500, np.int64))
              for i in range(0, n, 500)]
    nbytes = len(_encode(slices))
    _, counts = np.unique(v, return_counts=True)
    order0 = -(counts * np.log2(counts / n)).sum() / 8
    assert nbytes < 0.75 * order0  # ~1 bit/value of order-0 information is in the context
    assert nbytes < 1.1 * (n / 2) * np.log2(3) / 8 + 64  # ≈ the nonzero values' entropy


def test_frequencies_are_integer_tables_summing_to_2_16():
    counts = np.array([[1, 1], [1, 10**9], [7, 7], [3, 1]], np.int64)
    f = frequencies(counts)
    assert (f.sum(1) == 1 << 16).all() and (f >= 1).all()
    assert f.tolist() == [[32768, 32768], [1, 65535], [32768, 32768], [49152, 16384]]


def test_asking_for_more_than_the_stream_holds_is_refused():
    slices = _slices(np.random.default_rng(2), 3)
    data = _encode(slices)
    with pytest.raises(ContainerError):
        dec = AdaptiveDecoder(AdaptiveModel(6, 3, 8), data, 1)
        for _, fc, vc in slices:
            dec.next(fc, vc)
    with pytest.raises(ContainerError):
        AdaptiveDecoder(AdaptiveModel(6, 3, 8), data, 10**6).finish()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.data())
def test_damaged_streams_never_crash(seed, data):
    slices = _slices(np.random.default_rng(seed), 10)
    blob = bytearray(_encode(slices))
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(blob)))
    with contextlib.suppress(ContainerError):
        _decode(bytes(blob[:cut]), slices)
