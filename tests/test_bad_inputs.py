"""The bad-input matrix: every command × every kind of bad input → exit 1, one line
``nircodec: error: …``, no traceback, and no file created, changed or left half-written
(inputs and an existing file at the output path stay byte-identical; no temp files remain).

Commands run in-process (``codec.cli.main``) so the matrix stays fast; a bug escapes as an
exception and fails the test with its traceback. Inputs that are merely unusual (one frame,
odd sizes, grayscale or 16-bit PNG folders, 10-bit video) must encode instead: see
``test_unusual_inputs_encode``.
"""

from __future__ import annotations

import hashlib
import shutil
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from codec.cli import main
from tests.conftest import GOLDEN, make_clip

VIDEO_BAD = ["missing", "directory", "empty", "random", "truncated_mp4", "zero_frames",
             "tiny_1x1", "text_file", "mixed_png"]
CLOUD_BAD = ["missing_cloud", "empty_ply", "random_ply", "empty_npy", "nan", "inf",
             "one_point", "identical", "collinear", "not_a_cloud_npy"]
NIRC_BAD = ["missing_nirc", "directory", "empty_nirc", "random_nirc", "truncated_nirc",
            "mp4_as_nirc"]
MESH_BAD = ["missing_cloud", "empty_ply", "random_ply"]


def _write_video(path: Path, frames: np.ndarray, codec="libx264", pix_fmt="yuv420p", **opt):
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(s.encode(None))
    return path


def _y4m_10bit(path: Path, t=3, w=32, h=24) -> Path:
    """4:2:0 10-bit y4m (little-endian 16-bit samples), a smooth moving ramp."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420p10\n".encode())
        for k in range(t):
            y = (64 + (np.arange(w)[None, :] * 20 + k * 8 + np.arange(h)[:, None] * 10)) % 940
            u = rng.integers(400, 600, (h // 2, w // 2))
            fh.write(b"FRAME\n")
            for plane in (y, u, u[::-1]):
                fh.write(plane.astype("<u2").tobytes())
    return path


def _png16(path: Path, rgb: np.ndarray) -> None:
    """A 16-bit RGB PNG, written by hand (Pillow cannot write 48-bit PNGs)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([16, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Every input, good and bad, in one folder (checked for changes after each case)."""
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    p: dict[str, Path] = {}
    p["clip"] = make_clip(d / "clip.mp4", 48, 32, 4)
    from codec import registry

    library = next(m.name for m in registry.methods("video") if m.library)
    shutil.copy(GOLDEN / f"{library}-v1.0.nirc", d / "lib.nirc")
    p["lib"] = d / "lib.nirc"
    shutil.copy(GOLDEN / f"{registry.default_method('video')}-v1.0.nirc", d / "video.nirc")
    p["nirc"] = d / "video.nirc"
    p["missing"] = d / "missing.mp4"
    p["missing_nirc"] = d / "missing.nirc"
    p["missing_cloud"] = d / "missing.ply"
    p["directory"] = d / "folder"
    p["directory"].mkdir()
    for name in ("empty.mp4", "empty.nirc", "empty.ply"):
        (d / name).write_bytes(b"")
        p[name.replace(".", "_").replace("_mp4", "")] = d / name
    for name in ("random.mp4", "random.nirc", "random.ply"):
        (d / name).write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
        p[name.replace(".", "_").replace("_mp4", "")] = d / name
    (d / "notes.txt").write_text("just some text\n" * 20)
    p["text_file"] = d / "notes.txt"
    data = p["clip"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    p["truncated_mp4"] = d / "truncated.mp4"
    data = p["nirc"].read_bytes()
    (d / "truncated.nirc").write_bytes(data[: len(data) * 2 // 3])
    p["truncated_nirc"] = d / "truncated.nirc"
    shutil.copy(p["clip"], d / "clip_as.nirc")
    p["mp4_as_nirc"] = d / "clip_as.nirc"
    p["zero_frames"] = _write_video(d / "zero.mp4", np.zeros((0, 32, 48, 3), np.uint8))
    p["tiny_1x1"] = _write_video(d / "tiny.mkv", np.full((3, 1, 1, 3), 100, np.uint8),
                                 codec="ffv1", pix_fmt="yuv444p")
    # merely unusual videos: must encode
    p["one_frame"] = make_clip(d / "one.mp4", 48, 32, 1)
    ramp = np.linspace(0, 255, 33 * 17 * 3).reshape(17, 33, 3).astype(np.uint8)
    p["odd_size"] = _write_video(d / "odd.mkv", np.stack([ramp, ramp[::-1], ramp[:, ::-1]]),
                                 codec="ffv1", pix_fmt="yuv444p")
    p["gray_png"] = d / "gray"
    p["gray_png"].mkdir()
    p["png16"] = d / "png16"
    p["png16"].mkdir()
    for k in range(3):
        g = (np.add.outer(np.arange(24), np.arange(32)) * 4 + 10 * k).astype(np.uint8)
        iio.imwrite(p["gray_png"] / f"f{k:03d}.png", g)
        deep = np.stack([g, g[::-1], 255 - g], -1).astype(np.uint16) * 257
        if k < 2:
            _png16(p["png16"] / f"f{k:03d}.png", deep)
        else:  # 16-bit grayscale
            iio.imwrite(p["png16"] / f"f{k:03d}.png", deep[..., 0])
    p["yuv10"] = _y4m_10bit(d / "ten.y4m")
    p["mixed_png"] = d / "mixed"  # frames of two sizes
    p["mixed_png"].mkdir()
    iio.imwrite(p["mixed_png"] / "a.png", np.zeros((24, 32, 3), np.uint8))
    iio.imwrite(p["mixed_png"] / "b.png", np.zeros((32, 48, 3), np.uint8))
    # point clouds
    sphere = rng.normal(size=(400, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    np.save(d / "cloud.npy", sphere)
    p["cloud"] = d / "cloud.npy"
    import open3d as o3d

    p["cloud_ply"] = d / "cloud.ply"
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(sphere))
    o3d.io.write_point_cloud(str(p["cloud_ply"]), cloud)
    np.save(d / "empty.npy", np.zeros((0, 3)))
    p["empty_npy"] = d / "empty.npy"
    bad = sphere.copy()
    bad[5, 1] = np.nan
    np.save(d / "nan.npy", bad)
    p["nan"] = d / "nan.npy"
    bad[5, 1] = np.inf
    np.save(d / "inf.npy", bad)
    p["inf"] = d / "inf.npy"
    np.save(d / "one.npy", sphere[:1])
    p["one_point"] = d / "one.npy"
    np.save(d / "same.npy", np.ones((100, 3)))
    p["identical"] = d / "same.npy"
    np.save(d / "line.npy", np.outer(np.arange(100.0), [1, 2, 3]))
    p["collinear"] = d / "line.npy"
    np.save(d / "image.npy", rng.random((8, 8, 8)))
    p["not_a_cloud_npy"] = d / "image.npy"
    return p


def _snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            out[str(f)] = hashlib.sha1(f.read_bytes()).hexdigest() if f.is_file() else "dir"
    return out


def _cases() -> list[tuple[str, str, list[str]]]:
    """(case id, output suffix or '', argv with IN and OUT placeholders)."""
    cases = []
    for name in VIDEO_BAD:
        cases += [
            (f"encode-{name}", ".nirc", ["encode", name, "-o", "OUT", "--epochs", "1"]),
            (f"append-video-{name}", ".nirc", ["append", "lib", name, "-o", "OUT",
                                               "--epochs", "1"]),
            (f"eval-ref-{name}", "", ["eval", "video", name, "clip"]),
            (f"eval-dist-{name}", "", ["eval", "video", "clip", name]),
            (f"rd-{name}", "/", ["rd", name, "-o", "OUT", "--anchors", "x264"]),
        ]
    for name in CLOUD_BAD:
        cases += [
            (f"mesh-{name}", ".ply", ["mesh", name, "-o", "OUT", "--steps", "2"]),
            (f"encode-cloud-{name}", ".nirc", ["encode", name, "-o", "OUT", "--steps", "2"]),
        ]
    for name in NIRC_BAD:
        cases += [
            (f"decode-{name}", ".y4m", ["decode", name, "-o", "OUT"]),
            (f"info-{name}", "", ["info", name]),
            (f"append-lib-{name}", ".nirc", ["append", name, "clip", "-o", "OUT"]),
            (f"eval-nirc-{name}", "", ["eval", "video", "clip", name]),
        ]
    for name in MESH_BAD:
        cases.append((f"eval-mesh-{name}", "", ["eval", "mesh", name, name]))
    cases += [
        ("append-not-library", ".nirc", ["append", "nirc", "clip", "-o", "OUT"]),
        ("decode-bad-video-index", ".y4m", ["decode", "lib", "-o", "OUT", "--video", "7"]),
        ("decode-frames-past-end", ".y4m", ["decode", "nirc", "-o", "OUT", "--frames", "2:99"]),
        ("encode-huge-size", ".nirc", ["encode", "clip", "-o", "OUT", "--size", "900M"]),
        ("encode-huge-resize", ".nirc", ["encode", "clip", "-o", "OUT", "--resize",
                                         "8192x8192", "--epochs", "1"]),
        ("encode-epochs-zero", ".nirc", ["encode", "clip", "-o", "OUT", "--epochs", "0"]),
        ("encode-negative-budget", ".nirc", ["encode", "clip", "-o", "OUT",
                                             "--time-budget", "-3"]),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize("case, suffix, argv", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, suffix, argv, inputs, tmp_path, capsys):
    out = tmp_path / ("out" + suffix.rstrip("/"))
    if suffix and sum(map(ord, case)) % 2 == 0 and suffix != "/":
        out.write_bytes(b"an existing file that must survive")  # half the cases: output exists
    args = [str(out) if a == "OUT" else str(inputs[a]) if a in inputs else a for a in argv]
    before = _snapshot(inputs["clip"].parent, tmp_path)
    code = main([*args, "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1, (args, err)
    assert len(lines) == 1 and lines[0].startswith("nircodec: error: "), err
    assert "Traceback" not in err
    assert _snapshot(inputs["clip"].parent, tmp_path) == before, "a file was created or changed"


OUTPUT_CASES = [
    # (id, argv, where OUT points)
    ("encode-no-such-dir", ["encode", "clip", "-o", "{tmp}/no/such/dir/x.nirc"]),
    ("encode-parent-is-a-file", ["encode", "clip", "-o", "{tmp}/file.bin/x.nirc"]),
    ("encode-output-is-a-dir", ["encode", "clip", "-o", "{tmp}"]),
    ("encode-output-is-input", ["encode", "{copy_clip}", "-o", "{copy_clip}"]),
    ("decode-output-is-input", ["decode", "{copy_nirc}", "-o", "{copy_nirc}"]),
    ("decode-png-dir-is-a-file", ["decode", "nirc", "-o", "{tmp}/file.bin"]),
    ("decode-no-such-dir", ["decode", "nirc", "-o", "{tmp}/no/such/out.y4m"]),
    ("decode-unknown-type", ["decode", "nirc", "-o", "{tmp}/frames.gif"]),
    ("mesh-output-is-input", ["mesh", "{copy_ply}", "-o", "{copy_ply}", "--steps", "2"]),
    ("mesh-no-such-dir", ["mesh", "cloud", "-o", "{tmp}/no/such/m.ply", "--steps", "2"]),
    ("append-output-is-the-video", ["append", "lib", "{copy_clip}", "-o", "{copy_clip}"]),
    ("rd-output-is-a-file", ["rd", "clip", "-o", "{tmp}/file.bin", "--anchors", "x264"]),
]


@pytest.mark.parametrize("case, argv", OUTPUT_CASES, ids=[c[0] for c in OUTPUT_CASES])
def test_bad_output_path(case, argv, inputs, tmp_path, capsys):
    (tmp_path / "file.bin").write_bytes(b"keep me")
    shutil.copy(inputs["clip"], tmp_path / "copy.mp4")
    shutil.copy(inputs["nirc"], tmp_path / "copy.nirc")
    shutil.copy(inputs["cloud_ply"], tmp_path / "copy.ply")
    subs = {"{tmp}": str(tmp_path), "{copy_clip}": str(tmp_path / "copy.mp4"),
            "{copy_nirc}": str(tmp_path / "copy.nirc"), "{copy_ply}": str(tmp_path / "copy.ply")}
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(str(inputs[a]) if a in inputs else a)
    before = _snapshot(inputs["clip"].parent, tmp_path)
    code = main([*args, "--quiet", "--epochs", "1"] if args[0] in ("encode", "append")
                else [*args, "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("nircodec: error: ")
    assert _snapshot(inputs["clip"].parent, tmp_path) == before


def test_memory_estimate_refuses_before_decoding(inputs, tmp_path, capsys, monkeypatch):
    """A clip whose frames and training state would not fit the machine is refused up front,
    with the estimate and a hint; no frame is decoded (the reader is never called)."""
    from codec import memory
    from codec.video import io

    monkeypatch.setattr(memory, "available_bytes", lambda: 2 << 20)  # a 2 MiB machine
    monkeypatch.setattr(io, "_shape", lambda *a: pytest.fail("a frame was decoded"))
    out = tmp_path / "x.nirc"
    from codec import registry

    for method in registry.methods("video"):
        code = main(["encode", str(inputs["clip"]), "-o", str(out), "--model", method.name,
                     "--size", "3k", "--quiet"])
        err = capsys.readouterr().err
        assert code == 1 and "--resize" in err, err
        assert len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("name", ["one_frame", "odd_size", "gray_png", "png16", "yuv10"])
def test_unusual_inputs_encode(name, inputs, tmp_path, capsys):
    """Unusual but valid inputs encode and decode to frames of the input's size."""
    import json

    out = tmp_path / "x.nirc"
    code = main(["encode", str(inputs[name]), "-o", str(out), "--size", "3k", "--epochs", "2",
                 "--quiet", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out)
    expect = {"one_frame": (1, 48, 32), "odd_size": (3, 33, 17), "gray_png": (3, 32, 24),
              "png16": (3, 32, 24), "yuv10": (3, 32, 24)}[name]
    assert (res["frames"], res["width"], res["height"]) == expect
    assert res["psnr"] > 8  # a real fit of the content, even after two epochs


def test_sixteen_bit_png_frames_are_scaled_not_clipped(inputs):
    from codec.video.io import read_video

    clip = read_video(inputs["png16"])
    assert clip.frames.dtype == np.uint8 and clip.fps == Fraction(25)
    g = (np.add.outer(np.arange(24), np.arange(32)) * 4).astype(np.uint8)
    assert np.array_equal(clip.frames[0], np.stack([g, g[::-1], 255 - g], -1))
    assert np.array_equal(clip.frames[2], np.repeat((g + 20)[..., None], 3, axis=2))
