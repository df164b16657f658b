"""Determinism: the same file always decodes to the same frames: twice in a row, in separate
processes, and with 1 or 2 CPU threads. A file encoded on CUDA decodes on the CPU to within the
tolerance the README states (gpu test)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from codec import registry
from codec.api import decode_video
from tests.conftest import GOLDEN, run_cli

VIDEO_FILES = sorted(p for m in registry.methods("video") for p in GOLDEN.glob(f"{m.name}-*.nirc"))


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("path", VIDEO_FILES, ids=lambda p: p.name)
def test_decode_twice_and_with_1_or_2_threads_is_identical(path, threads):
    threads(2)
    first = decode_video(path)
    assert np.array_equal(decode_video(path), first)
    threads(1)
    assert np.array_equal(decode_video(path), first)


def test_encoded_file_decodes_identically_across_processes_and_threads(tiny_clip, tmp_path):
    out = tmp_path / "c.nirc"
    r = run_cli("encode", str(tiny_clip), "-o", str(out), "--size", "3k", "--epochs", "3",
                "--quiet")
    assert r.returncode == 0, r.stderr
    digests = set()
    for n, th in enumerate(("1", "2", "2")):
        y4m = tmp_path / f"d{n}.y4m"
        r = run_cli("decode", str(out), "-o", str(y4m), "--quiet",
                    env={"OMP_NUM_THREADS": th, "MKL_NUM_THREADS": th})
        assert r.returncode == 0, r.stderr
        digests.add(hashlib.sha256(y4m.read_bytes()).hexdigest())
    assert len(digests) == 1


@pytest.mark.gpu
def test_cuda_encoded_file_decodes_on_cpu(tiny_clip, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from codec.api import append_video, encode_video

    for method in registry.methods("video"):
        model = method.name
        out = tmp_path / f"{model}.nirc"
        encode_video(tiny_clip, out, model=model, device="cuda", **method.tiny)
        if method.library:  # an append trained on CUDA leaves the older video as it was
            first = decode_video(out, device="cpu")
            grow = {k: v for k, v in method.tiny.items() if k != "size"}  # the library's
            append_video(out, tiny_clip, device="cuda", **grow)
            assert np.array_equal(decode_video(out, video=0, device="cpu"), first), model
        cpu = decode_video(out, device="cpu").astype(int)
        gpu = decode_video(out, device="cuda").astype(int)
        # the file fixes every weight; only float rounding of the two devices differs (with
        # tinycudann installed, hashgrid trained through tcnn: the file decodes the same)
        assert np.abs(cpu - gpu).max() <= 1, model
        assert np.mean(cpu != gpu) <= 1e-3, model
