"""The size baseline a user would reach for: the Draco bitstream of a mesh (the quality baseline,
screened Poisson, is a method: ``recon.poisson``).

Settings follow ``shared/design/SURFACE.md``: Draco with 11 quantization bits at compression
level 10.
"""

from __future__ import annotations

import numpy as np

from codec.errors import InputError


def draco_bytes(
    vertices: np.ndarray,
    triangles: np.ndarray,
    quantization_bits: int = 11,
    compression_level: int = 10,
) -> bytes:
    """The mesh (vertices (V, 3) float, triangles (F, 3) int) as a Draco bitstream.

    Its length is the size a user would pay for the mesh with Draco. Draco is free to reorder
    vertices and faces (``preserve_order`` would cost size), so decode to compare geometry.
    """
    try:
        import DracoPy
    except ImportError:
        raise InputError("DracoPy is not installed; pip install DracoPy") from None

    v = np.ascontiguousarray(vertices, np.float32)
    f = np.ascontiguousarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InputError(f"Draco: expected (V, 3) vertices, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"Draco: expected (F, 3) integer triangles, got {f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"Draco: triangle indices outside 0..{len(v) - 1}")
    if not 1 <= quantization_bits <= 30 or not 0 <= compression_level <= 10:
        raise InputError("Draco: quantization bits must be in 1..30 and compression level 0..10")
    return bytes(
        DracoPy.encode(
            v,
            f.astype(np.uint32),
            quantization_bits=int(quantization_bits),
            compression_level=int(compression_level),
        )
    )
