import json

import numpy as np
import pytest
import torch

import codec
from codec.container import ContainerReader
from codec.errors import ContainerError, InputError
from codec.metrics import psnr_per_frame
from codec.video.hashgrid import HashGridCodec, HashGridVideoConfig, VideoField, plan_config
from codec.video.io import read_video
from tests.conftest import make_clip, run_cli

FAST = {"model": "hashgrid", "size": "12k", "epochs": 30, "seed": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def encoded(tiny_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("hg") / "tiny.nirc"
    return out, codec.encode_video(tiny_clip, out, **FAST)


def test_roundtrip_measures_the_file(tiny_clip, encoded):
    path, result = encoded
    source = read_video(tiny_clip).frames
    decoded = codec.decode_video(path)
    assert decoded.shape == source.shape and decoded.dtype == np.uint8
    assert result.bytes == path.stat().st_size
    assert result.psnr == pytest.approx(float(psnr_per_frame(source, decoded).mean()), abs=1e-9)
    assert result.params <= 12_000
    with ContainerReader(path) as r:
        assert r.header["codec"] == "hashgrid"


def test_training_helps(tiny_clip, encoded, tmp_path):
    _, trained = encoded
    short = codec.encode_video(tiny_clip, tmp_path / "s.nirc", **{**FAST, "epochs": 0.5})
    assert trained.psnr > short.psnr + 3 and trained.psnr > 20


def test_seed_makes_encodes_repeatable(tiny_clip, tmp_path):
    opts = {**FAST, "epochs": 3}
    a = codec.encode_video(tiny_clip, tmp_path / "a.nirc", **opts)
    b = codec.encode_video(tiny_clip, tmp_path / "b.nirc", **opts)
    assert (tmp_path / "a.nirc").read_bytes() == (tmp_path / "b.nirc").read_bytes()
    assert a.psnr == b.psnr


def test_frame_range_and_odd_size(tmp_path):
    clip = make_clip(tmp_path / "odd.mp4", 37, 21, 5)
    out = tmp_path / "odd.nirc"
    result = codec.encode_video(clip, out, **{**FAST, "size": "6k", "epochs": 2})
    assert (result.width, result.height, result.frames) == (37, 21, 5)
    full = codec.decode_video(out)
    np.testing.assert_array_equal(codec.decode_video(out, frames=slice(1, 4)), full[1:4])


def test_planner_fits_budget_and_grows_with_it():
    small, big = plan_config(320, 136, 50_000), plan_config(320, 136, 400_000)
    assert small.n_params() <= 50_000 < big.n_params() <= 400_000
    assert big.log2_hashmap_size > small.log2_hashmap_size
    with pytest.raises(ValueError):
        plan_config(320, 136, 100)


def test_example_roundtrip_and_config_validation(tmp_path):
    ex = HashGridCodec.example()
    from codec.container import write_container

    header, sections = ex.to_container()
    write_container(tmp_path / "e.nirc", ex.codec_id, header, sections)
    frames = codec.decode_video(tmp_path / "e.nirc")
    np.testing.assert_array_equal(frames, np.stack(list(ex.render())))
    # a header whose config does not match the tensors is a container error, not a crash
    header["config"]["log2_hashmap_size"] = 7
    write_container(tmp_path / "bad.nirc", ex.codec_id, header, sections)
    with pytest.raises(ContainerError):
        codec.decode_video(tmp_path / "bad.nirc")


def test_grid_is_the_tcnn_layout():
    cfg = HashGridVideoConfig(n_levels=4, log2_hashmap_size=8, base_resolution=4)

    field = VideoField(cfg, backend="torch")
    assert field.grid.params.numel() == cfg.grid().n_params
    assert field(torch.rand(5, 3)).shape == (5, 3)


def test_cli_hashgrid_and_hnerv_only_options(tiny_clip, tmp_path):
    out = tmp_path / "c.nirc"
    r = run_cli("encode", str(tiny_clip), "-o", str(out), "--model", "hashgrid", "--size",
                "8k", "--epochs", "2", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bytes"] == out.stat().st_size
    r = run_cli("decode", str(out), "-o", str(tmp_path / "frames"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 8
    r = run_cli("encode", str(tiny_clip), "-o", str(tmp_path / "d.nirc"), "--model", "hashgrid",
                "--size", "8k", "--embed-bits", "4")
    assert r.returncode == 1 and "--embed-bits" in r.stderr
    assert not (tmp_path / "d.nirc").exists()


@pytest.mark.parametrize("bad, flag", [
    ({"size": "50"}, "size"), ({"size": "lots"}, "size"), ({"epochs": 0}, "--epochs"),
    ({"epochs": float("nan")}, "--epochs"), ({"time_budget": -1.0}, "--time-budget"),
    ({"bits": 1}, "--bits"), ({"bits": 17}, "--bits"), ({"embed_bits": 4}, "--embed-bits"),
])
def test_bad_options_are_one_input_error(tiny_clip, tmp_path, bad, flag):
    with pytest.raises(InputError, match=flag):
        codec.encode_video(tiny_clip, tmp_path / "e.nirc", **{**FAST, **bad})
    assert not (tmp_path / "e.nirc").exists()


def test_planned_size_too_small_is_an_input_error(tiny_clip, tmp_path):
    with pytest.raises(InputError, match="too small for a hash-grid field"):
        codec.encode_video(tiny_clip, tmp_path / "e.nirc", **{**FAST, "size": "1k"})


def test_qat_runs_over_the_last_tenth(monkeypatch):
    """The recipe's straight-through phase: fake quantization on exactly the last 10 % of the
    steps, with the --bits the file is written with."""
    from codec.video.hashgrid import fit as hg_fit

    calls = []
    real = hg_fit.fake_quantize_levels

    def spy(params, grid, bits):
        calls.append(bits)
        return real(params, grid, bits)

    monkeypatch.setattr(hg_fit, "fake_quantize_levels", spy)
    frames = np.random.default_rng(0).integers(0, 256, (4, 16, 32, 3), dtype=np.uint8)
    config = plan_config(32, 16, 4000)
    _, stats = hg_fit.fit_field(frames, 25, config, epochs=5, bits=5, seed=1)
    assert stats["steps"] == 40 and calls == [5] * 4


def test_reports_every_ten_steps_and_resumes_to_the_same_bytes(tiny_clip, tmp_path):
    """An encode interrupted after a checkpoint and resumed writes the bytes of one that never
    stopped (checkpoints at every 50th step)."""
    opts = {**FAST, "size": "3k", "epochs": 8, "seed": 3}  # 128 steps
    seen = []
    ref = codec.encode_video(tiny_clip, tmp_path / "ref.nirc",
                             report=lambda f, s: seen.append((f, s)), **opts)
    steps = ref.train["steps"]
    assert steps == 128 and len(seen) == 1 + steps // 10
    assert all(set(s) == {"epoch", "loss", "psnr"} for _, s in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] <= 1

    class Stop(Exception):
        pass

    def stop_late(fraction, stats):
        if fraction > 0.6:
            raise Stop

    out = tmp_path / "out.nirc"
    with pytest.raises(Stop):
        codec.encode_video(tiny_clip, out, report=stop_late, checkpoint_every=0, **opts)
    assert not out.exists() and (tmp_path / "out.nirc.ckpt").exists()
    resumed = []
    codec.encode_video(tiny_clip, out, report=lambda f, s: resumed.append(f), checkpoint_every=0,
                       resume=True, **opts)
    assert out.read_bytes() == (tmp_path / "ref.nirc").read_bytes()
    assert resumed[0] == 60 / 128 and not (tmp_path / "out.nirc.ckpt").exists()


def test_rate_distortion_training_trades_bytes_for_quality(tiny_clip, tmp_path):
    """--lmbda prices the grid: a larger λ writes a smaller file, and the grid levels are
    stored on their learned steps (one step per level, symbols = the rounded latents)."""
    from codec.tensorpack import unpack_tensors

    results = {}
    for lmbda in (1e-2, 1.0):
        out = tmp_path / f"rd{lmbda}.nirc"
        results[lmbda] = codec.encode_video(tiny_clip, out, model="hashgrid", size="8k",
                                            epochs=4, lmbda=lmbda, seed=1, device="cpu")
        assert results[lmbda].bytes == out.stat().st_size
    assert results[1.0].bytes < results[1e-2].bytes
    grid_sections = [s for s in results[1.0].sections if s["name"] == "grid"]
    assert grid_sections and grid_sections[0]["bits_per_value"] > 0
    with ContainerReader(tmp_path / "rd1.0.nirc") as r:
        levels = unpack_tensors(r.read("grid"))
    assert all(q.axis is None and q.scale.size == 1 for q in levels.values())
