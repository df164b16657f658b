import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import codec
from codec.errors import InputError
from codec.fit import warmup_cosine
from codec.metrics import psnr_per_frame
from codec.options import build
from codec.video.hnerv import (
    HNeRVConfig,
    HNeRVDecoder,
    HNeRVOptions,
    plan_strides,
    solve_channels,
)
from codec.video.io import read_video
from tests.conftest import make_clip

FAST = {"size": "8k", "epochs": 40, "seed": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def encoded(tiny_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc") / "tiny.nirc"
    return out, codec.encode_video(tiny_clip, out, **FAST)


def test_roundtrip_counts_bytes_and_psnr(tiny_clip, encoded):
    path, result = encoded
    source = read_video(tiny_clip).frames
    decoded = codec.decode_video(path)
    assert decoded.shape == source.shape and decoded.dtype == np.uint8
    assert result.bytes == path.stat().st_size
    assert result.bpp == pytest.approx(8 * path.stat().st_size / (8 * 48 * 32), rel=1e-12)
    assert result.psnr == pytest.approx(float(psnr_per_frame(source, decoded).mean()), abs=1e-9)
    assert result.ssim_kind == "ssim"  # 32 px is too small for MS-SSIM's downsamplings
    assert 0 < result.ms_ssim <= 1
    assert result.params <= 8000


def test_training_helps(tiny_clip, encoded, tmp_path):
    _, trained = encoded
    untrained = codec.encode_video(tiny_clip, tmp_path / "u.nirc", **{**FAST, "epochs": 1})
    assert trained.psnr > untrained.psnr + 3


def test_frame_range_decodes_only_those(encoded, tmp_path):
    path, _ = encoded
    full = codec.decode_video(path)
    part = codec.decode_video(path, frames=slice(2, 5))
    np.testing.assert_array_equal(part, full[2:5])
    codec.decode_video(path, tmp_path / "out", frames=slice(2, 5))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "frame_00000.png",
        "frame_00001.png",
        "frame_00002.png",
    ]


def test_odd_resolution_and_outputs(tmp_path):
    clip = make_clip(tmp_path / "odd.mp4", 37, 21, 4)
    out = tmp_path / "odd.nirc"
    result = codec.encode_video(clip, out, size="5k", epochs=3, device="cpu")
    assert (result.width, result.height, result.frames) == (37, 21, 4)
    for name in ("o.mp4", "o.y4m"):
        codec.decode_video(out, tmp_path / name)
        assert read_video(tmp_path / name).frames.shape == (4, 21, 37, 3)


def test_seed_makes_cpu_encodes_repeatable(tiny_clip, tmp_path):
    args = {**FAST, "epochs": 3}
    codec.encode_video(tiny_clip, tmp_path / "a.nirc", **args)
    codec.encode_video(tiny_clip, tmp_path / "b.nirc", **args)
    assert (tmp_path / "a.nirc").read_bytes() == (tmp_path / "b.nirc").read_bytes()
    np.testing.assert_array_equal(
        codec.decode_video(tmp_path / "a.nirc"), codec.decode_video(tmp_path / "a.nirc")
    )


def test_size_solver_and_strides():
    for w, h in [(48, 32), (37, 21), (320, 136), (1920, 1080)]:
        strides, hw = plan_strides(w, h, 100_000)
        cfg = HNeRVConfig(strides=strides, embed_hw=hw)
        assert cfg.out_size[0] >= h and cfg.out_size[1] >= w
    cfg = solve_channels(HNeRVConfig(strides=[5, 2, 2, 2, 2], embed_hw=[2, 4]), 64, 200_000)
    assert cfg.decoder_params() + cfg.embed_params(64) <= 200_000
    bigger = solve_channels(cfg, 64, 400_000)
    assert bigger.channels > cfg.channels
    dec = HNeRVDecoder(cfg)
    assert sum(p.numel() for p in dec.parameters()) == cfg.decoder_params()
    assert dec(torch.zeros(1, 16, 2, 4)).shape == (1, 3, 160, 320)


def test_lr_schedule():
    lr = warmup_cosine(0.1)
    assert lr(1e-3, 0) == pytest.approx(1e-4)
    assert lr(1e-3, 0.1) == pytest.approx(1e-3)
    assert lr(1e-3, 1.0) == pytest.approx(0, abs=1e-12)
    assert lr(1e-3, 0.55) == pytest.approx(5e-4)


@pytest.mark.parametrize("values, message", [
    ({"epochs": 2.5}, "--epochs must be a whole number for hnerv"),
    ({"epochs": 0}, "--epochs"),
    ({"embed_bits": 1}, "--embed-bits must be in 2..16"),
    ({"bits": 17}, "--bits must be in 2..16"),
    ({"qat_epochs": -1}, "--qat-epochs"),
    ({"loss": "l3"}, "--loss"),
    ({"time_budget": 0.0}, "--time-budget"),
    ({"lmbda": -1e-3}, "--lmbda must be a finite number >= 0"),
    ({"lmbda": 1e-3, "qat_epochs": 2}, "--qat-epochs applies with --lmbda 0"),
    ({"qat_epochs": 2}, "--qat-epochs applies with --lmbda 0"),  # the default λ is 1e-3
])
def test_bad_options_name_their_flag(values, message):
    with pytest.raises(InputError, match=message):
        build(HNeRVOptions, values, "hnerv")


def test_options_defaults_and_whole_epochs():
    opts = build(HNeRVOptions, {"epochs": 6.0}, "hnerv")
    assert (opts.size, opts.bits, opts.embed_bits, opts.qat_epochs, opts.loss, opts.lmbda) == (
        "0.1M", 8, 6, 0, "l2", 1e-3)


def test_qat_and_time_budget(tiny_clip, tmp_path):
    r = codec.encode_video(
        tiny_clip, tmp_path / "q.nirc", size="8k", time_budget=2.0, qat_epochs=2, lmbda=0.0,
        device="cpu")
    assert r.encode_seconds < 30 and r.psnr > 10


def test_rate_distortion_training_trades_bytes_for_quality(tiny_clip, tmp_path):
    """--lmbda prices the stored numbers: a larger λ writes a smaller file, whose symbols are
    the integers training rounded (learned steps), and quality is measured on the file."""
    from codec.container import ContainerReader
    from codec.tensorpack import unpack_tensors

    results = {}
    for lmbda in (1e-3, 3e-2):
        out = tmp_path / f"rd{lmbda}.nirc"
        results[lmbda] = codec.encode_video(tiny_clip, out, size="6k", epochs=30, lmbda=lmbda,
                                            seed=2, device="cpu")
        assert results[lmbda].bytes == out.stat().st_size
    small, large = results[1e-3], results[3e-2]
    assert large.bytes < small.bytes
    assert min(large.psnr, small.psnr) > 10  # measured on the files' frames
    with ContainerReader(tmp_path / "rd0.001.nirc") as r:
        decoder = unpack_tensors(r.read("decoder"))
    # one learned step per tensor (no per-channel parameters), symbols centred on zero
    assert all(q.axis is None and q.scale.size == 1 for q in decoder.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.sampled_from([None, 0, 1]), st.integers(1, 6), st.integers(0, 999))
def test_embedding_deltas_are_lossless_levels(bits, axis, frames, seed):
    """Temporal differences of embedding levels stay valid levels and invert exactly, for any
    bit depth and quantization axis."""
    from codec.quant import quantize
    from codec.video.hnerv.codec import delta_levels, undelta_levels

    x = np.random.default_rng(seed).normal(0, 1, (frames, 3, 2, 2)).cumsum(axis=0)
    q = quantize(x, bits, axis)
    d = delta_levels(q)
    assert d.levels().min() >= 0 and d.levels().max() < 1 << bits
    np.testing.assert_array_equal(undelta_levels(d).symbols, q.symbols)


def test_embeddings_are_stored_as_deltas_when_smaller(tmp_path):
    """The file holds 'embed.delta' for slowly changing embeddings and 'embed' for unrelated
    ones, and both decode to the same embeddings."""
    from codec.container import ContainerReader
    from codec.container.format import CodecId
    from codec.container.writer import write_container
    from codec.quant import quantize_best
    from codec.tensorpack import unpack_tensors
    from codec.video.hnerv.codec import HNeRVCodec

    base = HNeRVCodec.example()
    rng = np.random.default_rng(0)
    for kind, x in (("embed.delta", rng.normal(0, 0.05, (3, 4, 4, 4)).cumsum(0) + 1),
                    ("embed", rng.normal(0, 1, (3, 4, 4, 4)))):
        codec = HNeRVCodec(base.config, base.video, base.decoder_q, quantize_best(x, 6))
        path = tmp_path / f"{kind}.nirc"
        write_container(path, CodecId.HNERV, *codec.to_container())
        with ContainerReader(path) as r:
            assert set(unpack_tensors(r.read("embed"))) == {kind}
            back = HNeRVCodec.from_container(r)
        np.testing.assert_array_equal(back.embed_q.symbols, codec.embed_q.symbols)
