import numpy as np
import pytest

import codec
from codec.errors import ContainerError


def test_save_load_tensors(tmp_path, rng):
    arrays = {"a": rng.normal(0, 0.1, (32, 16)).astype(np.float32), "b": np.arange(5.0)}
    path = tmp_path / "w.nirc"
    size = codec.save_tensors(path, arrays, bits=10)
    assert size == path.stat().st_size
    back = codec.load_tensors(path)
    for k, v in arrays.items():
        scale = (v.max() - v.min()) / 1023
        assert np.max(np.abs(back[k] - v)) <= scale / 2 + 1e-6


def test_entropy_coding_beats_raw_bits(tmp_path, rng):
    w = rng.laplace(0, 0.02, (256, 64)).astype(np.float32)
    size = codec.save_tensors(tmp_path / "w.nirc", {"w": w}, bits=8, per_channel=False)
    assert size < 0.8 * w.size  # well under 8 bits a weight, header and tables included


def test_load_tensors_rejects_other_codecs(tmp_path):
    from codec.container import write_container
    from codec.container.format import CodecId

    write_container(tmp_path / "v.nirc", CodecId.HNERV, {}, [])
    with pytest.raises(ContainerError):
        codec.load_tensors(tmp_path / "v.nirc")


def test_unwritable_output(tmp_path):
    with pytest.raises(codec.NircodecError):
        codec.save_tensors(tmp_path / "no" / "such" / "dir.nirc", {"a": np.zeros(3)})
