"""Rate–distortion training of the hash-grid surface fields (``--lmbda`` for sdf and csp, the
shared ``codec.fields.rate`` of the ``hashgrid`` video codec): the priced grid is what the file
stores, a larger λ gives a smaller file that still meshes the shape, a sparser cloud gets a
smaller file at the same λ (bits are priced per input point), and a mesh is never priced."""

from __future__ import annotations

import numpy as np
import pytest

from codec.method import FitContext
from recon import api
from recon.method import priced
from recon.pointcloud import Normalization

R = 0.35


def sphere(n: int, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).normal(size=(n, 3))
    return (R * p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


def encode(tmp_path, model: str, points: np.ndarray, lmbda: float, steps: int = 80):
    """(file bytes, decoded vertices, the codec) of a 20k-parameter field."""
    opts = {"size": "20k", "steps": steps, "lmbda": lmbda}
    fitted, _ = api.fit_field(model, points, options=opts, purpose="encode", seed=0)
    codec = api.codec_of(model, fitted, Normalization((0.0, 0.0, 0.0), 1.0), points,
                         options=opts)
    from codec.encode import write_codec

    path = tmp_path / f"{model}-{lmbda:g}-{len(points)}.nirc"
    nbytes = write_codec(path, codec)
    v, _ = api.decode_surface(path, resolution=64)
    return nbytes, v, codec, fitted


@pytest.mark.parametrize("model", ["csp", "sdf"])
def test_a_rate_weight_buys_a_smaller_file_that_still_meshes_the_shape(model, tmp_path):
    pts = sphere(2000)
    plain, v0, _, f0 = encode(tmp_path, model, pts, 0.0)
    small, v1, codec, fitted = encode(tmp_path, model, pts, 3e-4)
    assert f0.stored is None and fitted.stored is not None
    assert codec.grid_q is fitted.stored  # the file keeps the levels training priced
    assert small < 0.8 * plain, (small, plain)
    for v in (v0, v1):  # both still a sphere of radius R, within a 64³ cell or so
        err = np.abs(np.linalg.norm(v, axis=1) - R)
        assert len(v) > 100 and err.mean() < 0.02, err.mean()


def test_bits_are_priced_per_point_so_sparse_clouds_get_smaller_files(tmp_path):
    sparse, _, _, _ = encode(tmp_path, "csp", sphere(300), 3e-4)
    dense, _, _, _ = encode(tmp_path, "csp", sphere(3000), 3e-4)
    assert sparse < 0.8 * dense, (sparse, dense)


def test_a_mesh_is_never_priced():
    from recon.csp.method import CSPOptions

    opts = CSPOptions(lmbda=1e-4)
    assert priced(opts, FitContext(seed=0, device="cpu", extra={"purpose": "encode"})) == 1e-4
    assert priced(opts, FitContext(seed=0, device="cpu", extra={"purpose": "mesh"})) == 0.0
