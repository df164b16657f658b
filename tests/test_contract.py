"""The contract every registered model keeps, checked through the command line (in-process)
with each model's ``tiny`` options: encode -> file -> decode round trip, seeded repeatability,
frame ranges, ``info``, bad options -> one-line errors, libraries that append, surfaces that
mesh. A new model gets these tests by registering (test_toy_model.py shows it for a model
registered from inside the test suite)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codec import registry
from codec.cli import main
from codec.options import specs
from tests.conftest import make_clip

VIDEO = [m.name for m in registry.methods("video")]
LIBRARIES = [m.name for m in registry.methods("video") if m.library]
RATED = [m.name for m in registry.methods("video")
         if "lmbda" in {s.name for s in specs(m.Options)}]
SURFACE = [m.name for m in registry.methods("surface") if m.codec is not None]
MESHERS = [m.name for m in registry.methods("surface")]


class Cli:
    """``nircodec ARGS`` in this process: (exit code, stdout, stderr)."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *args) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def fails(self, *args) -> str:
        """Runs a command that must fail with one line ``nircodec: error: ...``."""
        code, out, err = self(*args)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, (code, err)
        assert lines[0].startswith("nircodec: error: ") and "Traceback" not in err
        assert out == ""
        return lines[0]


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 48, 32, 6)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Path:
    """Points on a torus (no normals)."""
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 2 * np.pi, (2, 3000))
    pts = np.stack([(1 + 0.4 * np.cos(v)) * np.cos(u), (1 + 0.4 * np.cos(v)) * np.sin(u),
                    0.4 * np.sin(v)], 1).astype(np.float32)
    path = tmp_path_factory.mktemp("cloud") / "torus.npy"
    np.save(path, pts)
    return path


def flags(options: dict) -> list[str]:
    out = []
    for k, v in options.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def tiny(name: str) -> list[str]:
    return flags(type(registry.method(name)).tiny)


# -- video ----------------------------------------------------------------------------------
def check_video_round_trip(name: str, clip: Path, tmp: Path, cli: Cli) -> None:
    from codec.decode import decode_video
    from codec.metrics import quality
    from codec.video.io import read_video

    out = tmp / f"{name}.nirc"
    code, stdout, err = cli("encode", clip, "-o", out, "--model", name, "--seed", 5, "--json",
                            "-q", *tiny(name))
    assert code == 0, err
    res = json.loads(stdout)
    assert res["bytes"] == out.stat().st_size > 0
    assert (res["frames"], res["width"], res["height"]) == (6, 48, 32)
    assert res["bpp"] == pytest.approx(8 * res["bytes"] / (6 * 48 * 32))
    frames = decode_video(out)
    assert frames.shape == (6, 32, 48, 3) and frames.dtype == np.uint8
    # the reported quality is that of the frames the decoder gives from the file
    assert quality(read_video(clip).frames, frames).psnr == pytest.approx(res["psnr"], abs=1e-6)
    assert np.array_equal(decode_video(out, frames=slice(2, 5)), frames[2:5])
    code, _, err = cli("decode", out, "-o", tmp / f"{name}_png", "-q")
    assert code == 0, err
    assert len(list((tmp / f"{name}_png").glob("*.png"))) == 6
    code, stdout, err = cli("info", out, "--json")
    assert code == 0 and json.loads(stdout)["codec"] in (name, "private"), err
    again = tmp / f"{name}_again.nirc"
    code, _, err = cli("encode", clip, "-o", again, "--model", name, "--seed", 5, "-q",
                       *tiny(name))
    assert code == 0, err
    assert again.read_bytes() == out.read_bytes(), "a seeded CPU encode must repeat exactly"
    assert sorted(p.name for p in tmp.iterdir() if p.suffix == ".ckpt") == []


def check_bad_options(name: str, input: Path, tmp: Path, cli: Cli) -> None:
    """Every numeric option refuses -1 (all are counts, rates or sizes), an absurd size is
    refused, and a flag of another model is named: one line each, nothing written."""
    method = registry.method(name)
    out = tmp / f"{name}_bad.nirc"
    base = ["encode", input, "-o", out, "--model", name, "-q"]
    cli.fails(*base, "--size", "1")
    for spec in specs(method.Options):
        if spec.type in (int, float) and spec.name != "size":
            cli.fails(*base, spec.flag, "-1")
    mine = {s.name for s in specs(method.Options)}
    for other in registry.methods():
        foreign = [s for s in specs(other.Options) if s.name not in mine and s.type is not bool]
        if other.codec is not None and foreign:
            spec = foreign[0]
            value = spec.choices[0] if spec.choices else spec.default or 1
            assert spec.flag in cli.fails(*base, spec.flag, value)
            break
    assert not out.exists() and not list(tmp.glob("*.tmp"))


@pytest.mark.parametrize("name", VIDEO)
def test_video_round_trip(name, clip, tmp_path, cli):
    check_video_round_trip(name, clip, tmp_path, cli)


@pytest.mark.parametrize("name", VIDEO)
def test_video_bad_options(name, clip, tmp_path, cli):
    check_bad_options(name, clip, tmp_path, cli)


@pytest.mark.parametrize("name", LIBRARIES)
def test_library_append_keeps_earlier_videos(name, clip, tmp_path, cli):
    from codec.decode import decode_video

    lib = tmp_path / "lib.nirc"
    code, _, err = cli("encode", clip, "-o", lib, "--model", name, "-q", *tiny(name))
    assert code == 0, err
    first = decode_video(lib, video=0)
    size_flags = [f for f in tiny(name)]
    i = size_flags.index("--size") if "--size" in size_flags else None
    if i is not None:  # the library fixed its network's size
        del size_flags[i : i + 2]
    code, stdout, err = cli("append", lib, clip, "--start", 2, "--json", "-q", *size_flags)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["video"] == 1 and res["library_bytes"] == lib.stat().st_size
    assert np.array_equal(decode_video(lib, video=0), first)
    assert decode_video(lib, video=1).shape == (4, 32, 48, 3)


def test_append_on_a_missing_gpu_is_one_line(clip, tmp_path, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    name = LIBRARIES[0]
    lib = tmp_path / "lib.nirc"
    assert cli("encode", clip, "-o", lib, "--model", name, "-q", *tiny(name))[0] == 0
    before = lib.read_bytes()
    assert "no CUDA device" in cli.fails("append", lib, clip, "--device", "cuda", "-q")
    assert lib.read_bytes() == before


def test_every_model_trains_on_cuda_too():
    """Nothing refuses ``--device cuda`` (the gpu-marked tests train each model there)."""
    assert [m.name for m in registry.methods() if "cuda" not in m.devices] == []


@pytest.mark.gpu
@pytest.mark.parametrize("name", SURFACE)
def test_surface_fitted_on_cuda_decodes_on_cpu(name, cloud, tmp_path, cli):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    out = tmp_path / f"{name}.nirc"
    code, _, err = cli("encode", cloud, "-o", out, "--model", name, "--device", "cuda", "-q",
                       *tiny(name))
    assert code == 0, err
    code, _, err = cli("decode", out, "-o", tmp_path / "mesh.ply", "--resolution", 32, "-q")
    assert code == 0, err
    from recon.pointcloud import read_mesh

    v, f = read_mesh(tmp_path / "mesh.ply")
    assert len(f) > 0 and np.abs(v).max() < 3


@pytest.mark.parametrize("name", VIDEO)
def test_bf16_training_writes_a_file_that_decodes(name, clip, tmp_path, cli):
    """``--precision bf16`` runs every model's steps under bfloat16 autocast (same decoder)."""
    out = tmp_path / f"{name}.nirc"
    code, stdout, err = cli("encode", clip, "-o", out, "--model", name, "--precision", "bf16",
                            "--json", "-q", *tiny(name))
    assert code == 0, err
    res = json.loads(stdout)
    assert res["bytes"] == out.stat().st_size and res["psnr"] > 5


def test_every_video_model_trains_for_rate():
    assert RATED == VIDEO, "every video model takes --lmbda (rate-distortion training)"


@pytest.mark.parametrize("name", RATED)
def test_larger_lmbda_writes_smaller_file(name, clip, tmp_path, cli):
    """A larger rate weight writes fewer bytes, and what the encode reports is the file's
    (appends to a library too)."""
    library = registry.method(name).library
    sizes, appended = {}, {}
    for lmbda in (1e-4, 1.0):
        out = tmp_path / f"{lmbda}.nirc"
        code, stdout, err = cli("encode", clip, "-o", out, "--model", name, "--seed", 5,
                                "--json", "-q", *tiny(name), "--lmbda", lmbda)
        assert code == 0, err
        sizes[lmbda] = json.loads(stdout)["bytes"]
        assert sizes[lmbda] == out.stat().st_size
        if library:
            code, stdout, err = cli("append", out, clip, "--start", 2, "--json", "-q",
                                    "--epochs", 2, "--lmbda", lmbda)
            assert code == 0, err
            res = json.loads(stdout)
            assert res["library_bytes"] == out.stat().st_size
            appended[lmbda] = res["bytes"]
    assert sizes[1.0] < sizes[1e-4], sizes
    if library:
        assert appended[1.0] < appended[1e-4], appended


# -- surfaces -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SURFACE)
def test_surface_round_trip(name, cloud, tmp_path, cli):
    out = tmp_path / f"{name}.nirc"
    code, stdout, err = cli("encode", cloud, "-o", out, "--model", name, "--seed", 5,
                            "--json", "-q", *tiny(name))
    assert code == 0, err
    res = json.loads(stdout)
    assert res["bytes"] == out.stat().st_size and res["points"] == 3000
    code, _, err = cli("decode", out, "-o", tmp_path / "mesh.ply", "--resolution", 32, "-q")
    assert code == 0, err
    from recon.pointcloud import read_mesh

    v, f = read_mesh(tmp_path / "mesh.ply")
    assert len(f) > 0 and np.abs(v).max() < 3
    again = tmp_path / f"{name}_again.nirc"
    code, _, err = cli("encode", cloud, "-o", again, "--model", name, "--seed", 5, "-q",
                       *tiny(name))
    assert code == 0, err
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("name", SURFACE)
def test_surface_bad_options(name, cloud, tmp_path, cli):
    check_bad_options(name, cloud, tmp_path, cli)


@pytest.mark.parametrize("name", MESHERS)
def test_mesh(name, cloud, tmp_path, cli):
    method = type(registry.method(name))
    mesh_flags = [s.name for s in specs(method.Options) if not s.encode_only]
    extra = flags({k: v for k, v in method.tiny.items() if k in mesh_flags})
    out = tmp_path / f"{name}.ply"
    code, stdout, err = cli("mesh", cloud, "-o", out, "--method", name, "--json", "-q", *extra)
    assert code == 0, err
    assert json.loads(stdout)["triangles"] > 0 and out.stat().st_size > 0
    again = tmp_path / f"{name}_again.ply"
    code, _, err = cli("mesh", cloud, "-o", again, "--method", name, "-q", *extra)
    assert code == 0, err
    assert again.read_bytes() == out.read_bytes(), "a seeded mesh must repeat exactly"


def test_every_model_has_tiny_options_and_help():
    for m in registry.methods():
        opts = registry.method(m.name).Options(**m.tiny)  # valid
        assert opts is not None
        for spec in specs(m.Options):
            assert spec.help, f"{m.name}: option {spec.name} has no docstring (help text)"
        assert m.summary, f"{m.name} has no summary"
    for kind in ("video", "surface"):
        registry.default_method(kind)
