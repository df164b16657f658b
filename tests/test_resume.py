"""Interrupt safety and resume: an encode killed (SIGKILL) or interrupted (SIGINT) leaves
nothing at the output path; with ``--checkpoint-every`` it leaves ``OUTPUT.ckpt``, and
``--resume`` then ends with exactly the bytes of an encode that never stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from codec import registry
from codec.rd import budget_field
from tests.conftest import ROOT, run_cli

ENCODERS = [m for m in registry.methods() if m.codec is not None]
LONGER = 40  # x the tiny budget: long enough to be caught mid-training, short enough here
SHORTER = {"c3": 10}  # models whose tiny budget x LONGER runs minutes (c3 saves every step)


def flags(options: dict) -> list[str]:
    return [a for k, v in options.items() for a in ("--" + k.replace("_", "-"), str(v))]


def long_run(method, drop: tuple[str, ...] = ()) -> list[str]:
    """The method's tiny options with LONGER times their training budget."""
    opts = dict(method.tiny)
    field = budget_field(method.name)
    default = getattr(method.Options, field)
    opts[field] = type(default)(opts.get(field, default) * SHORTER.get(method.name, LONGER))
    return flags({k: v for k, v in opts.items() if k not in drop})


@pytest.fixture(scope="module")
def tiny_cloud(tmp_path_factory):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2000, 3)).astype(np.float32)
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)  # a sphere
    path = tmp_path_factory.mktemp("cloud") / "sphere.npy"
    np.save(path, pts)
    return path


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "codec", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _interrupt_after_a_checkpoint(proc: subprocess.Popen, ckpt, sig) -> tuple[int, str]:
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        assert proc.poll() is None, f"finished before a checkpoint: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "finished before it could be interrupted; raise --epochs"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("method", ENCODERS, ids=lambda m: m.name)
def test_interrupted_encode_resumes_to_the_same_file(method, tiny_clip, tiny_cloud, tmp_path):
    # the default video model gets Ctrl-C (SIGINT), the others are killed outright
    sig = signal.SIGINT if method.default and method.kind == "video" else signal.SIGKILL
    source = tiny_clip if method.kind == "video" else tiny_cloud
    args = ["--model", method.name, *long_run(method), "--seed", "3", "--quiet"]
    ref = tmp_path / "ref.nirc"
    r = run_cli("encode", str(source), "-o", str(ref), *args)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.nirc"
    ckpt = tmp_path / "out.nirc.ckpt"
    proc = _start("encode", str(source), "-o", str(out), *args, "--checkpoint-every", "0")
    code, err = _interrupt_after_a_checkpoint(proc, ckpt, sig)
    if sig == signal.SIGINT:
        assert code == 130 and err.strip() == "nircodec: error: interrupted", err
    else:
        assert code == -signal.SIGKILL
    assert not out.exists() and ckpt.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "out.nirc.ckpt", "ref.nirc"]
    r = run_cli("encode", str(source), "-o", str(out), *args, "--checkpoint-every", "0",
                "--resume")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == ref.read_bytes()
    assert not ckpt.exists()


def test_resume_refuses_another_encodes_checkpoint(tiny_clip, tmp_path):
    out = tmp_path / "out.nirc"
    run = long_run(registry.method(registry.default_method("video")))
    proc = _start("encode", str(tiny_clip), "-o", str(out), *run, "--quiet",
                  "--checkpoint-every", "0")
    _interrupt_after_a_checkpoint(proc, tmp_path / "out.nirc.ckpt", signal.SIGKILL)
    for extra in (["--resume", "--seed", "9"], ["--checkpoint-every", "5"]):
        r = run_cli("encode", str(tiny_clip), "-o", str(out), *run, "--quiet", *extra)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and "ckpt" in lines[0], r.stderr
        assert not out.exists()
    (tmp_path / "out.nirc.ckpt").write_bytes(b"garbage")
    r = run_cli("encode", str(tiny_clip), "-o", str(out), *run, "--quiet", "--resume")
    assert r.returncode == 1 and "not a readable checkpoint" in r.stderr


@pytest.mark.parametrize("method", [m for m in ENCODERS if m.library], ids=lambda m: m.name)
def test_append_resumes_to_the_same_library(method, tiny_clip, tmp_path):
    lib = tmp_path / "lib.nirc"
    r = run_cli("encode", str(tiny_clip), "-o", str(lib), "--model", method.name,
                *flags(method.tiny), "--quiet")
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "ref.nirc"
    args = [*long_run(method, drop=("size",)), "--seed", "4", "--quiet"]
    r = run_cli("append", str(lib), str(tiny_clip), "-o", str(ref), *args)
    assert r.returncode == 0, r.stderr
    before = lib.read_bytes()
    proc = _start("append", str(lib), str(tiny_clip), *args, "--checkpoint-every", "0")
    _interrupt_after_a_checkpoint(proc, tmp_path / "lib.nirc.ckpt", signal.SIGKILL)
    assert lib.read_bytes() == before  # the library is only replaced at the very end
    r = run_cli("append", str(lib), str(tiny_clip), *args, "--resume")
    assert r.returncode == 0, r.stderr
    assert lib.read_bytes() == ref.read_bytes()
    assert not (tmp_path / "lib.nirc.ckpt").exists()
