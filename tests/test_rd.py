import json

import imageio.v3 as iio
import numpy as np
import pytest

from codec import registry
from tests.conftest import run_cli

MODEL = registry.default_method("video")
OTHER = next(m.name for m in registry.methods("video") if m.name != MODEL)
SCHEMA_KEYS = {"bpp", "psnr-rgb", "ms-ssim", "encoding_time", "decoding_time"}


def test_rd_sweep_outputs_and_cache(tiny_clip, tmp_path):
    out = tmp_path / "rd"
    args = (
        "rd",
        str(tiny_clip),
        "-o",
        str(out),
        "--models",
        f"{MODEL}:6k",
        "--anchors",
        "x264",
        "--reference",
        "x264",
        "--epochs",
        "3",
        "--quiet",
        "--json",
    )
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary["curves"]) == {MODEL, "x264"}
    entries = json.loads((out / "results.json").read_text())
    assert {e["name"] for e in entries} == {MODEL, "x264"}
    for e in entries:
        assert set(e) == {"name", "description", "results"}
        assert set(e["results"]) == SCHEMA_KEYS
        n = len(e["results"]["bpp"])
        assert n >= 1 and all(len(v) == n for v in e["results"].values())
        assert all(b > 0 for b in e["results"]["bpp"])
    x264 = next(e for e in entries if e["name"] == "x264")["results"]
    assert x264["bpp"] == sorted(x264["bpp"]) and x264["psnr-rgb"][-1] > x264["psnr-rgb"][0]
    img = iio.imread(out / "rd.png")
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
    assert "BD-rate" in (out / "summary.md").read_text()
    assert (out / "results.csv").read_text().startswith("curve,label,bytes,bpp,psnr")
    # every point is cached: a rerun only re-reads the source and rewrites the outputs
    before = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()} == before
    assert json.loads(r.stdout)["curves"] == summary["curves"]


def test_rd_bad_options(tiny_clip, tmp_path):
    r = run_cli("rd", str(tiny_clip), "-o", str(tmp_path / "o"), "--models", "nope:1M")
    assert r.returncode == 1 and r.stderr.startswith("nircodec: error:")
    r = run_cli("rd", str(tiny_clip), "-o", str(tmp_path / "o"), "--anchors", "mpeg2")
    assert r.returncode == 1 and "unknown anchor" in r.stderr
    r = run_cli("rd", str(tiny_clip), "-o", str(tmp_path / "o"), "--models", f"{MODEL}:5k",
                "--epochs", f"{OTHER}=3")
    assert r.returncode == 1 and "not among --models" in r.stderr


def test_eval_identical_and_lpips_paths(tiny_clip, tmp_path):
    r = run_cli("eval", "video", str(tiny_clip), str(tiny_clip), "--json", "--per-frame")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["psnr"] == obj["psnr_cap"] == 100.0  # identical frames: capped, finite
    assert obj["ms_ssim"] == 1.0 or abs(obj["ms_ssim"] - 1.0) < 1e-9
    assert len(obj["per_frame"]["psnr"]) == obj["frames"] == 8
    assert obj["lpips"] is None and obj["lpips_status"].startswith(("unavailable", "ok"))


def test_lpips_random_backbone_runs_offline():
    from codec.metrics import load_lpips, lpips_per_frame

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 64, 80, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8)
    model = load_lpips(random_backbone=True)
    d = lpips_per_frame(a, b, model)
    assert d.shape == (2,) and np.all(d > 0)
    assert np.all(lpips_per_frame(a, a, model) == 0)


def test_every_anchor_encodes_and_decodes(capfd):
    from codec.anchors import ANCHORS, encode_anchor

    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    for name in ANCHORS:
        p = encode_anchor(frames, name, 40)
        assert p.bytes > 0 and p.frames.shape == frames.shape
    assert "Svt[info]" not in capfd.readouterr().err


def test_model_ladders_with_rate_weights():
    from codec.errors import InputError
    from codec.options import specs
    from codec.rd import parse_models, point_options

    rated = next(m.name for m in registry.methods("video")
                 if "lmbda" in {s.name for s in specs(m.Options)})
    ladder = parse_models(f"{rated}:0.1M@1e-3,3e-3,0.2M,0.3M@0")[rated]
    assert ladder == ["0.1M@0.001", "0.1M@0.003", "0.2M", "0.3M@0"]
    assert point_options(rated, "0.1M@0.003") == {"size": "0.1M", "lmbda": 0.003}
    assert point_options(rated, "0.2M") == {"size": "0.2M"}
    for bad in (f"{rated}:0.1M@x", f"{rated}:0.1M@-1", f"{rated}:5@1e-3"):
        with pytest.raises(InputError):
            parse_models(bad)
