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

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from codec import entropy
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, AdaptiveModel
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
    coding: Literal["context", "order0"] = "context"
    """How the residuals are entropy coded (module docstring); files without the key use
    ``order0``."""

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in 8..{MAX_RESOLUTION}")
        if not 0.5 <= self.band <= 64 or not 1 <= self.levels_per_cell <= 1024:
            raise ValueError("band must be in [0.5, 64] and levels_per_cell in 1..1024")
        if self.predictor not in ("xyz", "z"):
            raise ValueError("predictor must be 'xyz' or 'z'")
        if self.coding not in ("context", "order0"):
            raise ValueError("coding must be 'context' or 'order0'")
        if self.coding == "context" and self.predictor != "xyz":
            raise ValueError("context coding needs the xyz predictor")

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
        values = _resampled(values, config.resolution)
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
        if self.config.coding == "context":
            data = context_encode(self.symbols)
        elif self.config.predictor == "xyz":
            data = entropy.encode(mixed_difference(self.symbols))
        else:
            data = entropy.encode(np.diff(self.symbols, axis=2, prepend=0))
        return header, [Section(SectionKind.BLOB, "grid", data)]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> GridPullCodec:
        data = reader.header.get("config")
        if isinstance(data, dict):
            # format ≤ 2.1 files have no predictor, ≤ 2.2 no coding
            data = {"predictor": "z", "coding": "order0", **data}
        config = config_from_dict(GridCodecConfig, data, "gridpull config")
        norm = normalization_of(reader.header, "gridpull")
        r = config.resolution
        if config.coding == "context":
            return cls(config, norm, context_decode(reader.read("grid", SectionKind.BLOB), r))
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


def stored_error(values: np.ndarray, vertices: np.ndarray, config: GridCodecConfig) -> float:
    """How far the grid stored with ``config`` moves the surface of fitted ``values`` (R0³ on
    the box lattice): the mean |stored field| (trilinear, before free nodes are filled) over
    ``vertices``, points of the fitted surface (normalised frame)."""
    step = config.spacing / config.levels_per_cell
    stored = np.clip(np.rint(_resampled(values, config.resolution) / step),
                     -config.max_symbol, config.max_symbol) * step
    return float(np.abs(meshing.grid_field(stored)(vertices)).mean())


def for_error(values: np.ndarray, error: float, config: GridCodecConfig, low: int = 16
              ) -> GridCodecConfig:
    """The coarsest stored grid (``config`` otherwise) that keeps the fitted surface of
    ``values`` within ``error`` (:func:`stored_error`, a fraction of the box's longest side):
    each lattice's step spends half of ``error`` (mean |rounding error| = step / 4, so
    ``levels_per_cell`` = ⌈cell / 2·error⌉, 4..1024) and the lattice is bisected for the fewest
    nodes per axis (``low`` .. R0) within it (the error grows as the lattice coarsens); R0 when
    none is."""
    vertices = meshing.grid_mesh(values)[0]

    def at(r: int) -> GridCodecConfig:
        levels = math.ceil(meshing.lattice(r)[1] / (2 * error))
        return replace(config, resolution=r, levels_per_cell=min(1024, max(4, levels)))

    def meets(r: int) -> bool:
        return stored_error(values, vertices, at(r)) <= error

    hi = values.shape[0]
    lo = min(low, hi)
    if len(vertices) == 0 or meets(lo):
        return at(lo if len(vertices) else hi)
    while hi - lo > 1:  # invariant: lo misses the target, hi meets it (or is R0)
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return at(hi)


def _resampled(values: np.ndarray, r: int) -> np.ndarray:
    """(R0, R0, R0) values on the box lattice, trilinearly resampled to r³."""
    if values.shape[0] == r:
        return values
    fine = np.linspace(0, values.shape[0] - 1, r)
    return ndimage.map_coordinates(values, np.stack(np.meshgrid(fine, fine, fine, indexing="ij")),
                                   order=1)


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
    for i, j, k in _planes(r):
        s = symbols[i - 1, j - 1, k - 1]
        free = ~keep[i - 1, j - 1, k - 1]
        pred = np.clip(_prediction(v, i, j, k), -MAX_FREE, MAX_FREE)
        pos = s > 0
        agree = (pred > 0) == pos
        v[i, j, k] = np.where(free & agree, pred,
                              np.where(free, np.where(pos, 1, -1) * np.maximum(np.abs(s), 1), s))
    return v[1:, 1:, 1:]


def _planes(r: int):
    """For d = 0 .. 3r − 3, the (i, j, k) of the nodes on the diagonal plane i + j + k = d,
    plus one (indexes into a grid with one plane of padding before each axis), i-major."""
    ii, jj = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    for d in range(3 * r - 2):
        kk = d - ii - jj
        sel = (kk >= 0) & (kk < r)
        yield ii[sel] + 1, jj[sel] + 1, kk[sel] + 1


def _prediction(v: np.ndarray, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The 3-D plane prediction of nodes (i, j, k) of padded grid ``v`` from their seven causal
    neighbours (exact for a trilinear field; node − prediction = the mixed third difference)."""
    return (v[i - 1, j, k] + v[i, j - 1, k] + v[i, j, k - 1] - v[i - 1, j - 1, k]
            - v[i - 1, j, k - 1] - v[i, j - 1, k - 1] + v[i - 1, j - 1, k - 1])


def mixed_difference(symbols: np.ndarray) -> np.ndarray:
    """Δx Δy Δz of (R, R, R) int64 symbols (zeros before each axis); inverted by cumulative
    sums along the three axes."""
    out = np.diff(symbols, axis=0, prepend=0)
    out = np.diff(out, axis=1, prepend=0)
    return np.diff(out, axis=2, prepend=0)


# -- context coding (coding "context", format 2.3) ---------------------------------------------
FAR_EDGES = np.array([1, 2, 3, 4, 6, 8, 10, 12, 14, 17, 20, 25, 30, 40])
"""Buckets of a node's |prediction| (quantization steps): far from the surface a node is free."""
NEAR_EDGES = np.array([1, 2, 4, 8])
"""Buckets of the summed |residual| of the node's three face neighbours before it."""
RADIUS = 24
"""Residuals beyond ±RADIUS are escapes (codec.entropy.adaptive)."""
CAUSAL = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))
N_FAR, N_NEAR = len(FAR_EDGES) + 1, len(NEAR_EDGES) + 1


def _model() -> AdaptiveModel:
    return AdaptiveModel(2 * N_FAR * N_NEAR, 2 * N_FAR, RADIUS)


def _contexts(v: np.ndarray, inside: np.ndarray, w: np.ndarray, i, j, k):
    """(prediction, flag context, value context) of nodes (i, j, k) of the padded grids:
    ``v`` the symbols, ``inside`` False on the padding, ``w`` the |residuals| coded so far.
    ``mixed``: the node's causal neighbours inside the grid are of both signs, so a cell
    through this node crosses the surface whatever its value."""
    pos = neg = np.zeros(i.shape, bool)
    for a, b, c in CAUSAL:
        n, ok = v[i - a, j - b, k - c], inside[i - a, j - b, k - c]
        pos = pos | (ok & (n > 0))
        neg = neg | (ok & (n <= 0))
    mixed = (pos & neg).astype(np.int64)
    pred = _prediction(v, i, j, k)
    far = np.searchsorted(FAR_EDGES, np.abs(pred), side="right")
    near = np.searchsorted(NEAR_EDGES, w[i - 1, j, k] + w[i, j - 1, k] + w[i, j, k - 1],
                           side="right")
    value = mixed * N_FAR + far
    return pred, value * N_NEAR + near, value


def _padded(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.zeros((r + 1,) * 3, np.int64)
    inside = np.zeros((r + 1,) * 3, bool)
    inside[1:, 1:, 1:] = True
    return v, inside, np.zeros_like(v)


def context_encode(symbols: np.ndarray) -> bytes:
    """(R, R, R) int64 symbols → the context-coded stream of their residuals against the plane
    prediction, diagonal plane by plane (codec/container/FORMAT.md)."""
    r = symbols.shape[0]
    v, inside, w = _padded(r)
    v[1:, 1:, 1:] = symbols
    w[1:, 1:, 1:] = np.abs(mixed_difference(symbols))
    coder = AdaptiveEncoder(_model())
    for i, j, k in _planes(r):
        pred, flag_ctx, value_ctx = _contexts(v, inside, w, i, j, k)
        coder.add(v[i, j, k] - pred, flag_ctx, value_ctx)
    return coder.finish()


def context_decode(data: bytes, r: int) -> np.ndarray:
    """Inverse of :func:`context_encode` for an R³ grid (ContainerError when corrupt)."""
    v, inside, w = _padded(r)
    coder = AdaptiveDecoder(_model(), data, r**3)
    for i, j, k in _planes(r):
        pred, flag_ctx, value_ctx = _contexts(v, inside, w, i, j, k)
        residual = coder.next(flag_ctx, value_ctx)
        s = pred + residual
        if np.abs(s).max(initial=0) > MAX_FREE:
            raise ContainerError("gridpull: grid values out of range")
        v[i, j, k], w[i, j, k] = s, np.abs(residual)
    coder.finish()
    return v[1:, 1:, 1:]
