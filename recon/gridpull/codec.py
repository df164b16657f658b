"""The ``gridpull`` codec: the distance grid resampled to ``resolution``³ nodes, quantized to
``1/levels_per_cell`` of a cell and clipped to ±``band`` cells.

Predictor ``xyz`` (written since format 2.2): a mesh depends only on the nodes at the corners of
cells the surface crosses; every other node is free as long as it keeps its sign. The encoder
sets each free node to the value a 3-D plane predictor expects from its already coded
neighbours (``x−1, y−1, z−1`` and their pairwise and triple combinations: exact for a
trilinear field), flipping it to the smallest value of the right sign where the prediction's sign
is wrong, and codes the mixed third difference Δx Δy Δz of the result: zero at almost every free
node and small on the surface's corners (spot at 127³: 61 KB instead of 112 KB with ``z``).
Predictor ``z`` (format ≤ 2.1): differences along z of the clipped grid. The format is in
codec/container/FORMAT.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from codec import entropy
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.registry import config_from_dict, register
from recon import meshing
from recon.pointcloud import Normalization
from recon.surface_codec import in_input_frame, normalization_of

MAX_RESOLUTION = 512  # 134M nodes: ~2.5 GB while decoding
MAX_FREE = 1 << 31
"""Bound on the magnitude of a free node's symbol (predictor ``xyz``)."""


@dataclass(frozen=True)
class GridCodecConfig:
    resolution: int = 128
    """Stored nodes per axis over [-BOX, BOX]."""
    band: float = 1.5
    """Values are clipped to ±band cells."""
    levels_per_cell: int = 8
    """Quantization step = cell / levels_per_cell. Spot at 128³: 16 levels and a 2-cell band
    cost 164 KB for CD-L1 0.426e-3, 8 and 1.5 cells 117 KB for 0.440e-3, 4: 98 KB, 0.501e-3."""
    predictor: Literal["xyz", "z"] = "xyz"
    """How symbols are coded (module docstring); files without the key use ``z``."""

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in 8..{MAX_RESOLUTION}")
        if not 0.5 <= self.band <= 64 or not 1 <= self.levels_per_cell <= 1024:
            raise ValueError("band must be in [0.5, 64] and levels_per_cell in 1..1024")
        if self.predictor not in ("xyz", "z"):
            raise ValueError("predictor must be 'xyz' or 'z'")

    @property
    def spacing(self) -> float:
        return meshing.lattice(self.resolution)[1]

    @property
    def max_symbol(self) -> int:
        return round(self.band * self.levels_per_cell)


@register("gridpull", CodecId.GRIDPULL, GridCodecConfig, kind="surface")
class GridPullCodec:
    """Truncated, quantized distance grid."""

    def __init__(self, config: GridCodecConfig, normalization: Normalization,
                 symbols: np.ndarray) -> None:
        r = config.resolution
        if symbols.shape != (r, r, r):
            raise ContainerError("gridpull: grid does not match the configuration")
        bound = config.max_symbol if config.predictor == "z" else MAX_FREE
        if np.abs(symbols).max(initial=0) > bound:
            raise ContainerError("gridpull: grid values out of range")
        self.config, self.normalization, self.symbols = config, normalization, symbols

    @classmethod
    def from_values(cls, values: np.ndarray, normalization: Normalization,
                    config: GridCodecConfig) -> GridPullCodec:
        """values: (R0, R0, R0) fitted distances on the box lattice, any R0."""
        r0, r = values.shape[0], config.resolution
        if r0 != r:
            fine = np.linspace(0, r0 - 1, r)
            values = ndimage.map_coordinates(
                values, np.stack(np.meshgrid(fine, fine, fine, indexing="ij")), order=1)
        step = config.spacing / config.levels_per_cell
        sym = np.clip(np.rint(values / step), -config.max_symbol, config.max_symbol)
        sym = sym.astype(np.int64)
        if config.predictor == "xyz":
            sym = fill_free(sym, surface_corners(sym > 0))
        return cls(config, normalization, sym)

    def values(self) -> np.ndarray:
        return (self.symbols * (self.config.spacing / self.config.levels_per_cell)).astype(
            np.float32)

    def params(self) -> int:
        return int(self.symbols.size)

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(vertices, triangles) in the input frame; default resolution = the stored one."""
        return in_input_frame(self.normalization, *meshing.grid_mesh(self.values(), resolution))

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config),
                  "normalization": self.normalization.to_dict()}
        if self.config.predictor == "xyz":
            residual = mixed_difference(self.symbols)
        else:
            residual = np.diff(self.symbols, axis=2, prepend=0)
        return header, [Section(SectionKind.BLOB, "grid", entropy.encode(residual))]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> GridPullCodec:
        data = reader.header.get("config")
        if isinstance(data, dict):
            data = {"predictor": "z", **data}  # format ≤ 2.1 files have no predictor
        config = config_from_dict(GridCodecConfig, data, "gridpull config")
        norm = normalization_of(reader.header, "gridpull")
        r = config.resolution
        residual = entropy.decode(reader.read("grid", SectionKind.BLOB), expected_count=r**3)
        residual = residual.reshape(r, r, r)
        if config.predictor == "z":
            return cls(config, norm, np.cumsum(residual, axis=2))
        if np.abs(residual).max(initial=0) > 2 * MAX_FREE:  # keeps the sums far from overflow
            raise ContainerError("gridpull: grid values out of range")
        return cls(config, norm, np.cumsum(np.cumsum(np.cumsum(residual, 0), 1), 2))

    @classmethod
    def example(cls) -> GridPullCodec:
        axis, _ = meshing.lattice(16)
        x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
        values = np.sqrt(x**2 + y**2 + z**2) - 0.3
        return cls.from_values(values, Normalization((1.0, 2.0, 3.0), 2.0),
                               GridCodecConfig(resolution=16))


def surface_corners(positive: np.ndarray) -> np.ndarray:
    """(R, R, R) bool: the nodes at the corners of cells whose eight corners do not all have
    the same sign (``positive``: (R, R, R) bool) — the only nodes a mesh depends on."""
    n = positive.shape[0] - 1
    first = positive[:-1, :-1, :-1]
    mixed = np.zeros((n, n, n), bool)
    corners = [(dx, dy, dz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    for dx, dy, dz in corners[1:]:
        mixed |= positive[dx : dx + n, dy : dy + n, dz : dz + n] != first
    out = np.zeros(positive.shape, bool)
    for dx, dy, dz in corners:
        out[dx : dx + n, dy : dy + n, dz : dz + n] |= mixed
    return out


def fill_free(symbols: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """symbols (R, R, R) int64 with the nodes outside ``keep`` set to the 3-D plane prediction
    from their causal neighbours (sign kept; see the module docstring), so that
    ``mixed_difference`` is 0 there. Processed by diagonal planes x + y + z = d."""
    r = symbols.shape[0]
    v = np.zeros((r + 1,) * 3, np.int64)  # one plane of zeros before each axis
    ii, jj = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    for d in range(3 * r - 2):
        kk = d - ii - jj
        sel = (kk >= 0) & (kk < r)
        i, j, k = ii[sel], jj[sel], kk[sel]
        s = symbols[i, j, k]
        free = ~keep[i, j, k]
        i, j, k = i + 1, j + 1, k + 1
        pred = (v[i - 1, j, k] + v[i, j - 1, k] + v[i, j, k - 1] - v[i - 1, j - 1, k]
                - v[i - 1, j, k - 1] - v[i, j - 1, k - 1] + v[i - 1, j - 1, k - 1])
        pred = np.clip(pred, -MAX_FREE, MAX_FREE)
        pos = s > 0
        agree = (pred > 0) == pos
        v[i, j, k] = np.where(free & agree, pred,
                              np.where(free, np.where(pos, 1, -1) * np.maximum(np.abs(s), 1), s))
    return v[1:, 1:, 1:]


def mixed_difference(symbols: np.ndarray) -> np.ndarray:
    """Δx Δy Δz of (R, R, R) int64 symbols (zeros before each axis); inverted by cumulative
    sums along the three axes."""
    out = np.diff(symbols, axis=0, prepend=0)
    out = np.diff(out, axis=1, prepend=0)
    return np.diff(out, axis=2, prepend=0)
