"""The c3 codec: exact integer context model, latent streams, random access, and entropy
decoding that gives the same latents with any thread count (and on a GPU, where one exists)."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.container import ContainerReader
from codec.entropy.indexed import SequenceDecoder
from codec.errors import ContainerError, EntropyError
from codec.video.c3 import C3Codec, C3Config
from codec.video.c3.context import (
    CONTEXT_SIZE,
    FRAC,
    SCALES,
    ContextModel,
    IntegerContext,
    arm_shapes,
)
from codec.video.c3.latents import decode_group, encode_group
from codec.video.meta import VideoInfo

ROOT = Path(__file__).resolve().parents[1]


def _ints(config, seed=0, spread=3000):
    rng = np.random.default_rng(seed)
    return {n: rng.integers(-spread, spread, s) for n, s in arm_shapes(config).items()}


def _reference(ints, ctx):
    """The context model on Python integers (FORMAT.md, "Codec c3"): the spec itself."""
    def mat(name):
        return np.asarray(ints[name], object)

    out = []
    for c in np.asarray(ctx, np.int64).astype(object):
        h1 = [min(max(int(v), 0), 1 << 30) for v in mat("arm.0.weight") @ c + mat("arm.0.bias")]
        a2 = mat("arm.1.weight") @ np.asarray(h1, object) + 256 * mat("arm.1.bias")
        h2 = [min(max(int(v) // 256, 0), 1 << 30) for v in a2]
        o = mat("arm.2.weight") @ np.asarray(h2, object) + 256 * mat("arm.2.bias")
        mean = min(max((2 * int(o[0]) + 65536) // 131072, -(1 << 30)), 1 << 30)
        table = min(max((2 * int(o[1]) + 65536) // 131072, 0), 63)
        out.append((table, mean))
    return np.asarray(out, np.int64)


def test_integer_context_model_is_the_spec():
    """Doubles give exactly the integers of the spec, far out in the allowed ranges."""
    config = C3Config(arm_width=64)
    rng = np.random.default_rng(1)
    for spread in (300, 32767):
        ints = _ints(config, 2, spread)
        ctx = rng.integers(-255, 256, (400, CONTEXT_SIZE))
        index, mean = IntegerContext(ints)(torch.from_numpy(ctx.astype(np.float64)))
        want = _reference(ints, ctx)
        assert np.array_equal(index, want[:, 0]) and np.array_equal(mean, want[:, 1])


def test_float_model_matches_its_integers():
    """Training's float network and the coders' integer one agree up to rounding."""
    config = C3Config()
    torch.manual_seed(0)
    model = ContextModel(config)
    ctx = torch.randint(-20, 21, (500, CONTEXT_SIZE)).double()
    mu, s = model(ctx.float())
    index, mean = IntegerContext(model.integers())(ctx)
    assert np.abs(mean - mu.detach().numpy()).max() <= 0.5 + 1e-3
    assert np.abs(index - s.detach().clamp(0, 63).numpy()).max() <= 0.5 + 1e-3


def test_latent_stream_round_trip_with_escapes():
    config = C3Config(gop=4, levels=4)
    ctx = IntegerContext(_ints(config, spread=600))
    rng = np.random.default_rng(3)
    shapes = config.latent_shapes(3, 11, 17)
    levels = [np.round(rng.laplace(0, 2, s)).astype(np.int64) for s in shapes]
    levels[0][1, 2, 3], levels[2][0, 0, 0] = 5000, -70000  # beyond any table: escapes
    strides = [config.time_stride(lv) for lv in range(config.levels)]
    data = encode_group(levels, ctx, strides)
    back = decode_group(data, ctx, shapes, strides, "test")
    assert all(np.array_equal(a, b) for a, b in zip(levels, back, strict=True))
    with pytest.raises(ContainerError, match="test"):
        decode_group(data[:-7], ctx, shapes, strides, "test")


def test_sequence_decoder_checks_its_counts():
    values = np.arange(-20, 20)
    index = np.full(values.size, 10)
    data = SCALES.encode_sequence(values, index)
    dec = SequenceDecoder(SCALES, data, values.size)
    assert np.array_equal(dec.next(index[:15], np.zeros(15, np.int64)), values[:15])
    with pytest.raises(EntropyError):
        dec.finish()  # 25 values left
    with pytest.raises(EntropyError):
        dec.next(index, np.zeros(values.size, np.int64))  # more than the stream holds


def test_example_round_trip_and_random_access(tmp_path):
    from codec.encode import write_codec

    codec = C3Codec.example()
    path = tmp_path / "c.nirc"
    write_codec(path, codec)
    with ContainerReader(path) as r:
        full = C3Codec.from_container(r)
        part = C3Codec.from_container(r, [2])
    assert sorted(full.payloads) == [0, 1] and sorted(part.payloads) == [1]
    frames = np.stack(list(full.render()))
    assert np.array_equal(next(part.render([2])), frames[2])
    for g in range(2):
        pairs = zip(full.latents(g), codec.latents(g), strict=True)
        assert all(np.array_equal(a, b) for a, b in pairs)


def test_mac_count_is_small():
    macs = C3Config(width=24).macs_per_pixel()
    assert macs["total"] < 3000 and macs["context"] > 0


_DECODE = """
import hashlib, json, sys, torch
torch.set_num_threads(int(sys.argv[2]))
from codec.container import ContainerReader
from codec.registry import read
with ContainerReader(sys.argv[1]) as r:
    codec = read(r)
lat = hashlib.sha256(b"".join(x.tobytes() for g in range(codec.groups)
                              for x in codec.latents(g))).hexdigest()
frames = hashlib.sha256(b"".join(f.tobytes() for f in codec.render(device=sys.argv[3])))
print(json.dumps({"latents": lat, "frames": frames.hexdigest()}))
"""


def _decode_in(path, threads, device="cpu"):
    out = subprocess.run([sys.executable, "-c", _DECODE, str(path), str(threads), device],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, tiny_clip):
    """A c3 file written by a one-thread encode."""
    from codec.encode import encode_video

    path = tmp_path_factory.mktemp("c3") / "c.nirc"
    encode_video(tiny_clip, path, model="c3",
                 options={"size": "1k", "epochs": 20.0, "gop": 2, "lmbda": 1e-4}, seed=3,
                 device="cpu", threads=1)
    return path


def test_entropy_decoding_is_exact_across_thread_counts(encoded):
    one, two = _decode_in(encoded, 1), _decode_in(encoded, 2)
    assert one == two


@pytest.mark.gpu
def test_entropy_decoding_is_exact_across_devices(encoded):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = _decode_in(encoded, 2), _decode_in(encoded, 2, "cuda")
    assert cpu["latents"] == gpu["latents"]


def test_encoded_file_has_nonzero_latents(encoded):
    with ContainerReader(encoded) as r:
        codec = C3Codec.from_container(r)
    assert any(np.abs(x).max() > 0 for g in range(codec.groups) for x in codec.latents(g))


def test_context_weights_must_sit_on_the_grid():
    codec = C3Codec.example()
    from codec.quant import quantize_step
    from codec.video.c3.codec import _context_ints

    bad = {"arm.0.bias": quantize_step(np.full(4, 0.3, np.float32), 2.0 ** -(FRAC - 1))}
    with pytest.raises(ContainerError, match="step"):
        _context_ints(bad)
    assert codec.video == VideoInfo(15, 13, 3, Fraction(25))


def test_damaged_latent_stream_is_one_line_error(tmp_path):
    """A latent stream damaged before its section's CRC was computed (so only the decoder can
    tell) gives one error line, and nothing is written."""
    from codec.container import Section, write_container

    codec = C3Codec.example()
    header, sections = codec.to_container()
    damaged = []
    for s in sections:
        if s.name == "g1":
            payload = bytearray(s.payload)
            payload[-3] ^= 0x5A
            s = Section(s.kind, s.name, bytes(payload))
        damaged.append(s)
    path = tmp_path / "bad.nirc"
    write_container(path, codec.codec_id, header, damaged)
    r = subprocess.run([sys.executable, "-m", "codec", "decode", str(path), "-o",
                        str(tmp_path / "out.y4m")], capture_output=True, text=True, cwd=ROOT)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("nircodec: error: ") and "c3 group 1" in lines[0]
    assert not (tmp_path / "out.y4m").exists()
