"""Golden files: format 1.0 files written once and decoded by every later version.

Never regenerate a golden file for an existing version: a change that breaks this test is a
format change and needs a version bump (and a new golden file beside the old ones).
"""

import hashlib
import json

import numpy as np
import pytest

from codec import registry
from codec.container import ContainerReader
from codec.container.format import VERSION
from tests.conftest import GOLDEN

GOLDEN_FILES = sorted(GOLDEN.glob("*.nirc"))
TENSOR_FILES = sorted(GOLDEN.glob("tensors-*.nirc"))
MODELS = {m.name: m for m in registry.methods() if m.codec is not None}
MODEL_FILES = {name: sorted(GOLDEN.glob(f"{name}-v*.nirc")) for name in MODELS}


def _files(kind: str, library: bool = False) -> list:
    return [p for name, m in MODELS.items() for p in MODEL_FILES[name]
            if m.kind == kind and m.library == library]


def test_golden_files_exist_for_current_version():
    assert GOLDEN_FILES, "no golden files"
    current = f"-v{VERSION[0]}.{VERSION[1]}.nirc"
    assert any(p.name.endswith(current) for p in TENSOR_FILES)
    missing = [n for n, files in MODEL_FILES.items()
               if not any(p.name == n + current for p in files)]
    assert not missing, f"no golden file of the current version for {missing}: run " \
        "python tools/make_sample.py --golden"


@pytest.mark.parametrize("path", TENSOR_FILES, ids=lambda p: p.name)
def test_golden_decodes_to_expected(path):
    expected = json.loads(path.with_suffix(".json").read_text())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected["file_sha256"]
    with ContainerReader(path) as r:
        r.verify()
        assert r.header == expected["header"]
        assert [s.name for s in r.sections] == expected["sections"]
        arrays = registry.read(r).arrays()
    assert set(arrays) == set(expected["arrays"])
    for name, want in expected["arrays"].items():
        got = np.ascontiguousarray(arrays[name], "<f4")
        assert list(got.shape) == want["shape"]
        assert hashlib.sha256(got.tobytes()).hexdigest() == want["sha256"], name


@pytest.mark.parametrize("path", _files("video"), ids=lambda p: p.name)
def test_video_golden_renders_expected_frames(path):  # the last video of a library
    from codec.decode import decode_video

    expected = np.load(path.with_suffix(".npy"))
    frames = decode_video(path)
    assert frames.shape == expected.shape
    # float convolution may differ in the last bit across CPUs: allow one level of rounding
    assert np.abs(frames.astype(int) - expected).max() <= 1
    assert np.mean(frames != expected) < 0.01


@pytest.mark.parametrize("path", _files("video", library=True), ids=lambda p: p.name)
def test_library_golden_renders_every_video(path):
    from codec.decode import decode_video

    expected = np.load(path.with_suffix(".npz"))
    assert len(expected.files) >= 2
    for k in range(len(expected.files)):
        frames = decode_video(path, video=k)
        want = expected[f"video{k}"]
        assert frames.shape == want.shape
        assert np.abs(frames.astype(int) - want).max() <= 1
        assert np.mean(frames != want) < 0.02


@pytest.mark.parametrize("path", _files("surface"), ids=lambda p: p.name)
def test_surface_golden_meshes_as_expected(path):
    from recon.api import read_surface

    expected = np.load(path.with_suffix(".npz"))
    v, f = read_surface(path).mesh(32)  # tools/make_sample.py SURFACE_GOLDEN_RESOLUTION
    assert np.array_equal(f, expected["triangles"])
    # the neural fields are float maths: allow last-bit differences across CPUs
    assert np.allclose(v, expected["vertices"], atol=1e-5)


def test_current_golden_files_hold_parametric_tables():
    """Format 2.0's addition (entropy stream mode 3) is in its golden files, so a reader that
    broke it would fail here."""
    from codec.tensorpack import section_split

    kinds = set()
    for path in GOLDEN_FILES:
        if path.name.endswith(f"-v{VERSION[0]}.{VERSION[1]}.nirc"):
            with ContainerReader(path) as r:
                kinds |= {s.get("tables") for s in section_split(r)}
    assert {"parametric", "histogram"} <= kinds
