"""Parametric entropy tables (stream mode 3): integer-only derivation pinned, round trips with
segments, the encoder's choice between a histogram and per-segment tables, damaged streams,
and the same decoded symbols under other thread counts in other processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import entropy
from codec.binio import write_svarint, write_uvarint
from codec.entropy.parametric import TOTAL, fit_laplace, laplace_frequencies
from codec.errors import ContainerError, EntropyError

ROOT = Path(__file__).resolve().parents[1]


def test_tables_are_valid_and_shaped_like_laplace():
    for width, center, ratio in [(1, 0, 1), (2, 0, 60000), (9, 4, 30000), (4096, 100, 65535),
                                 (300, 299, 1), (17, 3, 65000)]:
        f = laplace_frequencies(width, center, ratio)
        assert f.sum() == TOTAL and f.min() >= 1 and f.size == width
        assert int(np.argmax(f)) == center
        assert np.all(np.diff(f[center:]) <= 0) and np.all(np.diff(f[: center + 1]) >= 0)
    for bad in [(0, 0, 1), (4097, 0, 1), (5, 5, 1), (5, 0, 0), (5, 0, 65536)]:
        with pytest.raises(ValueError):
            laplace_frequencies(*bad)


def test_table_derivation_is_pinned():
    """The derivation is part of the format: these tables must never change (FORMAT.md)."""
    digest = hashlib.sha256()
    for width, center, ratio in [(2, 1, 12345), (64, 31, 52000), (255, 7, 65000),
                                 (4096, 2048, 65535), (33, 0, 100)]:
        digest.update(laplace_frequencies(width, center, ratio).astype("<i8").tobytes())
    assert digest.hexdigest()[:16] == "3cca9f98edca993f"
    # by hand: M = (2^32, 2^31), f = 1 + floor(m (65536 - 3) / 2^33), the rest to the mode
    assert laplace_frequencies(3, 1, 1 << 15).tolist() == [16384, 32768, 16384]


def test_fit_finds_the_scale():
    rng = np.random.default_rng(1)
    for b in (0.5, 3.0, 40.0):
        x = np.round(rng.laplace(0, b, 50_000)).astype(np.int64)
        lo = int(x.min())
        counts = np.bincount(x - lo)
        center, _, bits = fit_laplace(counts)
        assert abs(center + lo) <= (0 if b < 1 else 1)
        assert bits <= 1.01 * entropy.empirical_entropy_bits(x) + 64


def segments_strategy():
    segment = st.tuples(st.integers(1, 400), st.sampled_from([0.2, 2.0, 30.0, 900.0]),
                        st.integers(-50, 50))
    return st.lists(segment, min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(segments_strategy(), st.integers(0, 2**32 - 1))
def test_round_trip_with_segments(segments, seed):
    rng = np.random.default_rng(seed)
    parts = [np.round(rng.laplace(mu, b, n)).astype(np.int64) for n, b, mu in segments]
    x = np.concatenate(parts)
    data = entropy.encode(x, [p.size for p in parts])
    np.testing.assert_array_equal(entropy.decode(data, expected_count=x.size), x)


def test_segments_with_their_own_tables_win_on_mixed_scales():
    rng = np.random.default_rng(2)
    parts = [np.round(rng.laplace(0, b, 4000)).astype(np.int64) for b in (0.3, 3.0, 60.0)]
    x = np.concatenate(parts)
    data = entropy.encode(x, [p.size for p in parts])
    assert data[0] == entropy.MODE_PARAMETRIC
    assert len(data) < 0.9 * len(entropy.encode(x))  # one histogram for all three
    assert len(data) * 8 < entropy.empirical_entropy_bits(x)  # beats any one order-0 table
    # a segment of one repeated value codes nothing, long runs span several chunks
    y = np.concatenate([np.full(70_000, 5), np.round(rng.laplace(0, 2, 3 * entropy.CHUNK + 3))
                        .astype(np.int64)])
    data = entropy.encode(y, [70_000, y.size - 70_000])
    np.testing.assert_array_equal(entropy.decode(data), y)


def test_the_smaller_mode_is_written():
    rng = np.random.default_rng(3)
    uniform = rng.integers(0, 200, 20_000)  # not Laplace at all: the histogram wins
    assert entropy.encode(uniform)[0] == entropy.MODE_RANS
    with pytest.raises(ValueError, match="segments"):
        entropy.encode(uniform, [10, 10])


def _stream(segments: list[tuple[int, int, int, int, int]], n: int, tail: bytes = b"") -> bytes:
    out = bytes([entropy.MODE_PARAMETRIC]) + write_uvarint(n) + write_uvarint(len(segments))
    for c, lo, width, center, ratio in segments:
        out += (write_uvarint(c) + write_svarint(lo) + write_uvarint(width)
                + write_uvarint(center) + ratio.to_bytes(2, "little"))
    return out + tail


def test_damaged_parametric_streams_are_refused():
    assert np.array_equal(entropy.decode(_stream([(3, 7, 1, 0, 1)], 3)), [7, 7, 7])
    for bad in ([(3, 7, 1, 1, 1)], [(3, 7, 2, 0, 0)], [(2, 7, 1, 0, 1)], [(0, 7, 1, 0, 1)],
                [(3, 7, 5000, 0, 1)], [(3, 2**31 - 2, 4, 0, 1)]):
        with pytest.raises(ContainerError):  # EntropyError or a field over its limit
            entropy.decode(_stream(bad, 3))
    with pytest.raises(EntropyError):
        entropy.decode(_stream([(1, 0, 1, 0, 1)], 1)[:2] + write_uvarint(0))  # no segments
    good = entropy.encode(np.arange(100) % 9, [50, 50])
    assert good[0] == entropy.MODE_PARAMETRIC
    for cut in range(len(good)):
        with pytest.raises(ContainerError):
            entropy.decode(good[:cut])


DECODE_SCRIPT = """
import hashlib, json, sys
import torch
torch.set_num_threads(int(sys.argv[2]))
from codec.container import ContainerReader
from codec.tensorpack import unpack_tensors
out = {}
with ContainerReader(sys.argv[1]) as r:
    for s in r.sections:
        if s.kind_name == "tensors":
            for name, q in unpack_tensors(r.read(s.name)).items():
                out[s.name + "/" + name] = hashlib.sha256(q.symbols.astype("<i8").tobytes()
                                                          ).hexdigest()
print(json.dumps(out, sort_keys=True))
"""


def test_rate_trained_file_decodes_the_same_symbols_under_other_thread_counts(tiny_clip,
                                                                               tmp_path):
    """A hashgrid file trained for rate (its grid on learned steps, coded with parametric
    tables) gives the same stored integers in fresh processes with 1 and 2 threads."""
    import codec

    out = tmp_path / "rd.nirc"
    codec.encode_video(tiny_clip, out, model="hashgrid", size="8k", epochs=2, lmbda=1e-2,
                       seed=1, device="cpu")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    digests = []
    for threads in ("1", "2"):
        run = subprocess.run([sys.executable, "-c", DECODE_SCRIPT, str(out), threads], env=env,
                             capture_output=True, text=True, check=True, timeout=300)
        digests.append(json.loads(run.stdout))
    assert digests[0] == digests[1] and digests[0]
    from codec.container import ContainerReader
    from codec.tensorpack import section_split

    with ContainerReader(out) as r:
        assert "parametric" in {s.get("tables") for s in section_split(r)}
