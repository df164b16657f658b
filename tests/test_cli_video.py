import json

from codec import registry
from tests.conftest import run_cli


def _one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nircodec: error: "), r.stderr
    assert "Traceback" not in r.stderr


def test_encode_decode_cli(tiny_clip, tmp_path):
    out = tmp_path / "c.nirc"
    r = run_cli(
        "encode",
        str(tiny_clip),
        "-o",
        str(out),
        "--size",
        "6k",
        "--epochs",
        "5",
        "--json",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    for key in (
        "frames",
        "width",
        "height",
        "params",
        "bytes",
        "bpp",
        "psnr",
        "ms_ssim",
        "encode_seconds",
    ):
        assert key in obj
    assert obj["bytes"] == out.stat().st_size and r.stderr == ""
    r = run_cli("decode", str(out), "-o", str(tmp_path / "frames"), "--frames", "0:2")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "frames").iterdir())) == 2
    info = json.loads(run_cli("info", str(out), "--json").stdout)
    assert info["codec"] == registry.default_method("video") and info["bpp"] == obj["bpp"]


def test_encode_bad_inputs(tmp_path, tiny_clip):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 16)
    import imageio.v3 as iio
    import numpy as np

    iio.imwrite(tmp_path / "still.png", np.zeros((32, 32, 3), np.uint8))
    cases = [
        [str(tmp_path / "missing.mp4")],
        [str(tmp_path / "empty.mp4")],
        [str(tmp_path / "junk.mp4")],
        [str(tmp_path / "still.png")],
        [str(tiny_clip), "--start", "1000"],  # zero frames
        [str(tiny_clip), "--size", "lots"],
        [str(tiny_clip), "--bits", "40"],
    ]
    out = tmp_path / "out.nirc"
    for args in cases:
        _one_line_error(run_cli("encode", *args, "-o", str(out), "--epochs", "1", "--quiet"))
        assert not out.exists()
    _one_line_error(run_cli("encode", str(tiny_clip), "-o", str(tmp_path / "no/dir/x.nirc")))
    assert run_cli("encode", str(tiny_clip), "-o", str(out), "--resize", "5x5").returncode == 2
    assert list(tmp_path.iterdir()) == sorted(tmp_path.iterdir()) and not out.exists()


def test_decode_bad_inputs(tmp_path):
    (tmp_path / "bad.nirc").write_bytes(b"\x89NIRC\r\n\x1a" + bytes(40))
    _one_line_error(run_cli("decode", str(tmp_path / "bad.nirc"), "-o", str(tmp_path / "o")))
    _one_line_error(run_cli("decode", str(tmp_path / "none.nirc"), "-o", str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()
