"""PFNR network: shapes, the Fourier subnetwork operator, and the append guarantee at the
network level (training a later video never changes an earlier video's output)."""

import numpy as np
import pytest
import torch

from codec.video.pfnr import PFNRConfig, forward, init_tensors, inputs, spectral_up
from codec.video.pfnr.subnet import freeze, subnet_mask, top_fraction

TINY = PFNRConfig(embed_hw=[2, 2], strides=[2, 2, 2], channels=8, min_channels=4,
                  stem_width=16, frame_levels=4, video_levels=2, fso_block=1, fso_modes=2)


def test_shapes():
    gen = torch.Generator().manual_seed(0)
    shared = init_tensors(TINY.shared_shapes(), gen)
    own = init_tensors(TINY.video_shapes(), gen)
    y = forward(TINY, shared, own, inputs(TINY, torch.arange(3), 3, 0))
    assert y.shape == (3, 3, *TINY.out_size) == (3, 3, 16, 16)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(ValueError):
        PFNRConfig(fso_block=0, fso_modes=99)


def test_spectral_up_keeps_low_frequencies(rng):
    # a constant map stays constant (only the DC mode) and is scaled by mix · filter
    x = torch.full((1, 1, 4, 4), 2.0)
    mix = torch.tensor([[[3.0, 0.0]]])
    filt = torch.zeros(1, 2, 1, 2)
    filt[0, 0, 0, 0] = 0.5
    y = spectral_up(x, mix, filt, (8, 8), 1)
    assert y.shape == (1, 1, 8, 8) and torch.allclose(y, torch.full_like(y, 3.0))
    # band-limited input: upsampling by spectral zero-padding interpolates it exactly
    t = torch.arange(8, dtype=torch.float64)
    x = torch.cos(2 * torch.pi * t / 8)[None, None, :, None].expand(1, 1, 8, 8).float()
    one = torch.tensor([[[1.0, 0.0]]])
    flat = torch.zeros(1, 4, 2, 2)
    flat[..., 0] = 1.0
    y = spectral_up(x, one, flat, (16, 16), 2)
    want = torch.cos(2 * torch.pi * torch.arange(16) / 16)[:, None].expand(16, 16)
    assert torch.allclose(y[0, 0], want.float(), atol=1e-5)


def _train(shared, scores, own, frames, video, capacity, steps, frozen=None):
    params = [*shared.values(), *scores.values(), *own.values()]
    hooks = [freeze(shared[n], frozen[n]) for n in shared] if frozen else []
    optim = torch.optim.Adam(params, lr=1e-2)
    x = inputs(TINY, torch.arange(len(frames)), len(frames), video)
    for _ in range(steps):
        masked = {n: w * subnet_mask(scores[n], capacity) for n, w in shared.items()}
        loss = torch.nn.functional.mse_loss(forward(TINY, masked, own, x), frames)
        optim.zero_grad()
        loss.backward()
        optim.step()
    for h in hooks:
        h.remove()
    return {n: top_fraction(scores[n], capacity) for n in scores}


def test_a_later_video_never_changes_an_earlier_one(rng):
    gen = torch.Generator().manual_seed(0)
    shared = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.shared_shapes(), gen).items()}
    scores = {n: torch.nn.Parameter(torch.randn(v.shape, generator=gen)) for n, v in shared.items()}
    clips = [torch.from_numpy(rng.random((4, 3, 16, 16), dtype=np.float32)) for _ in range(2)]
    own0 = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.video_shapes(), gen).items()}
    mask0 = _train(shared, scores, own0, clips[0], 0, 0.3, 15)
    x0 = inputs(TINY, torch.arange(4), 4, 0)

    def render0():
        with torch.no_grad():
            return forward(TINY, {n: w * mask0[n] for n, w in shared.items()}, own0, x0)

    before = render0()
    before_shared = {n: w.detach().clone() for n, w in shared.items()}
    own1 = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.video_shapes(), gen).items()}
    mask1 = _train(shared, scores, own1, clips[1], 1, 0.3, 15, frozen=mask0)
    assert torch.equal(render0(), before)  # bit-identical
    changed = sum(int((w.detach() != before_shared[n]).sum()) for n, w in shared.items())
    assert changed > 0  # video 1 did train new weights
    assert any(not torch.equal(mask1[n], mask0[n]) for n in mask0)  # its own subnetwork


# -- the pfnr codec: a library file ------------------------------------------------------------


@pytest.fixture(scope="module")
def library(tiny_clip, tmp_path_factory):
    from codec.api import encode_clip
    from codec.video.io import read_video

    path = tmp_path_factory.mktemp("pfnr") / "lib.nirc"
    encode_clip(read_video(tiny_clip), path, model="pfnr", size="20k", epochs=8, threads=1)
    return path


def test_append_keeps_earlier_videos_bit_identical(library, tiny_clip, tmp_path):
    from codec.api import append_video, decode_video
    from codec.container import ContainerReader

    path = tmp_path / "lib.nirc"
    path.write_bytes(library.read_bytes())
    first = decode_video(path, video=0)
    with ContainerReader(path) as r:
        prefix = r.toc_offset
    old = path.read_bytes()[:prefix]
    r1 = append_video(path, tiny_clip, epochs=6, threads=1)
    r2 = append_video(path, tiny_clip, epochs=6, capacity=0.2, seed=3, threads=1)
    assert (r1.train["video"], r2.train["video"]) == (1, 2)
    assert path.read_bytes()[:prefix] == old  # earlier sections' bytes never rewritten
    assert np.array_equal(decode_video(path, video=0), first)
    assert decode_video(path, video=2).shape == first.shape
    with ContainerReader(path) as r:
        assert [s.name for s in r.sections][-4:] == ["v2.meta", "v2.mask", "v2.new", "v2.own"]
    from tests.conftest import run_cli

    info = run_cli("info", str(path), "--json")
    videos = __import__("json").loads(info.stdout)["videos"]
    assert [v["video"] for v in videos] == [0, 1, 2]
    assert videos[2]["capacity"] == 0.2 and videos[1]["new_weights"] < videos[1]["weights_used"]


def test_reading_video_k_reads_no_later_sections(library, tiny_clip, tmp_path):
    from codec.api import append_video
    from codec.container import ContainerReader
    from codec.video.pfnr import PFNRCodec

    path = tmp_path / "lib.nirc"
    path.write_bytes(library.read_bytes())
    append_video(path, tiny_clip, epochs=2, threads=1)
    with ContainerReader(path) as r:
        seen = []
        read = r.read
        r.read = lambda name, kind=None: seen.append(name) or read(name, kind)
        PFNRCodec.from_container(r, 0)
    assert seen and all(name.startswith("v0.") for name in seen)


def test_options_are_checked_where_they_are_defined():
    from codec.errors import InputError
    from codec.options import build
    from codec.video.pfnr import PFNROptions

    assert build(PFNROptions, {"epochs": 3.0, "capacity": None}).epochs == 3
    for values, message in (({"epochs": 2.5}, "--epochs must be a whole number for pfnr"),
                            ({"epochs": 0}, "--epochs"), ({"capacity": 0.0}, "--capacity"),
                            ({"capacity": 1.5}, "--capacity"), ({"bits": 1}, "--bits"),
                            ({"time_budget": -1.0}, "--time-budget"), ({"size": "x"}, "size")):
        with pytest.raises(InputError, match=message):
            build(PFNROptions, values, "pfnr")


def test_append_refuses_another_frame_size(library, tiny_clip, tmp_path):
    from codec.api import append_video
    from codec.errors import InputError

    path = tmp_path / "lib.nirc"
    path.write_bytes(library.read_bytes())
    with pytest.raises(InputError, match=r"holds 48x32 videos; this one is 32x16 "
                                         r"\(use --resize 48x32\)"):
        append_video(path, tiny_clip, resize=(32, 16), epochs=1, threads=1)
    assert path.read_bytes() == library.read_bytes()


def test_append_errors_leave_the_file_unchanged(library, tiny_clip, tmp_path):
    from tests.conftest import GOLDEN, run_cli

    hnerv = tmp_path / "h.nirc"
    hnerv.write_bytes((GOLDEN / "hnerv-v1.0.nirc").read_bytes())
    corrupt = tmp_path / "c.nirc"
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    for target in (hnerv, corrupt, tmp_path / "missing.nirc"):
        before = target.read_bytes() if target.exists() else None
        r = run_cli("append", str(target), str(tiny_clip), "--epochs", "1")
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nircodec: error: "), r.stderr
        assert (target.read_bytes() if target.exists() else None) == before
    r = run_cli("decode", str(library), "--video", "3", "-o", str(tmp_path / "x.y4m"))
    assert r.returncode == 1 and "no video 3" in r.stderr
    assert not (tmp_path / "x.y4m").exists()


def test_cli_encode_append_decode(tiny_clip, tmp_path):
    import json

    from tests.conftest import run_cli

    lib = tmp_path / "lib.nirc"
    r = run_cli("encode", str(tiny_clip), "-o", str(lib), "--model", "pfnr", "--size", "20k",
                "--epochs", "3", "--capacity", "0.4", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    size0 = lib.stat().st_size
    r = run_cli("append", str(lib), str(tiny_clip), "--epochs", "2", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["video"] == 1 and obj["library_bytes"] == lib.stat().st_size > size0
    r = run_cli("decode", str(lib), "--video", "1", "-o", str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "f").iterdir())) == 8
    r = run_cli("encode", str(tiny_clip), "-o", str(tmp_path / "x.nirc"), "--capacity", "0.3")
    assert r.returncode == 1 and "--model pfnr" in r.stderr


def test_kernel_masks_select_whole_kernels_and_cost_fewer_bits(tiny_clip, tmp_path):
    """--mask kernel (the default) keeps or drops each 3x3 kernel whole, in every video's mask
    and in what the file decodes; the mask section is smaller than per-weight
    masks of the same network; --mask weight still works."""
    from codec.api import append_video, encode_video
    from codec.container import ContainerReader
    from codec.video.pfnr.codec import PFNRCodec
    from codec.video.pfnr.network import expand_mask, unit_of

    mask_bytes = {}
    for unit in ("kernel", "weight"):
        path = tmp_path / f"{unit}.nirc"
        encode_video(tiny_clip, path, model="pfnr", size="20k", epochs=2, mask=unit, seed=1)
        append_video(path, tiny_clip, start=2, epochs=2, seed=1)
        with ContainerReader(path) as r:
            lib = PFNRCodec.from_container(r)
            mask_bytes[unit] = r.info("v0.mask").frame_bytes
        assert lib.config.mask_unit == unit
        units = lib.config.unit_shapes()
        for video in lib.videos:
            for n, m in video.mask.items():
                whole = np.array_equal(expand_mask(unit_of(m, units[n]), m.shape), m)
                assert whole, n
                conv = n.startswith("block")  # the FSO's tensors are masked per weight
                assert units[n] == (m.shape[:2] if unit == "kernel" and conv else m.shape)
    # this tiny network's stem (masked per weight either way) holds much of it
    assert mask_bytes["kernel"] < 0.7 * mask_bytes["weight"], mask_bytes
