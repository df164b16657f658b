"""Surface codecs: a fitted field, quantized and entropy-coded, with the normalisation that puts
its meshes back in the input's frame. Registered with ``codec.registry`` (kind "surface"); the
format is in codec/container/FORMAT.md.

- ``gridpull``: the distance grid resampled to ``resolution``³ nodes, truncated to ±``band``
  cells (marching cubes needs only the sign farther out), quantized to ``1/levels_per_cell`` of
  a cell, and coded as differences along x (the truncated runs cost almost nothing).
- ``sdf`` and ``csp``: hash-grid + MLP fields (``recon.neural``), quantized like the video
  ``hashgrid`` codec (``codec.fields.pack``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from codec import entropy
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError, InputError
from codec.fields.pack import check_field_tensors, load_field, quantize_field
from codec.quant import QuantizedTensor
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from recon import meshing
from recon.neural import SurfaceField, SurfaceFieldConfig
from recon.pointcloud import Normalization

MAX_RESOLUTION = 512  # 134M nodes: ~2.5 GB while decoding


@dataclass(frozen=True)
class GridCodecConfig:
    resolution: int = 128
    """Stored nodes per axis over [-BOX, BOX]."""
    band: float = 1.5
    """Values are clipped to ±band cells."""
    levels_per_cell: int = 8
    """Quantization step = cell / levels_per_cell. Spot at 128³: 16 levels and a 2-cell band
    cost 164 KB for CD-L1 0.426e-3, 8 and 1.5 cells 117 KB for 0.440e-3, 4: 98 KB, 0.501e-3."""

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in 8..{MAX_RESOLUTION}")
        if not 0.5 <= self.band <= 64 or not 1 <= self.levels_per_cell <= 1024:
            raise ValueError("band must be in [0.5, 64] and levels_per_cell in 1..1024")

    @property
    def spacing(self) -> float:
        return meshing.lattice(self.resolution)[1]

    @property
    def max_symbol(self) -> int:
        return round(self.band * self.levels_per_cell)


def _normalization(header: dict, name: str) -> Normalization:
    try:
        return Normalization.from_dict(header.get("normalization"))
    except InputError:
        raise ContainerError(f"{name}: bad normalisation record") from None


def _to_input_frame(norm: Normalization, v: np.ndarray, f: np.ndarray):
    if len(f) == 0:
        raise InputError("the field has no surface inside the box (nothing to mesh)")
    return norm.invert(v), f


@register("gridpull", CodecId.GRIDPULL, GridCodecConfig, kind="surface")
class GridPullCodec:
    """Truncated, quantized distance grid."""

    def __init__(self, config: GridCodecConfig, normalization: Normalization,
                 symbols: np.ndarray) -> None:
        r = config.resolution
        if symbols.shape != (r, r, r):
            raise ContainerError("gridpull: grid does not match the configuration")
        if np.abs(symbols).max(initial=0) > config.max_symbol:
            raise ContainerError("gridpull: grid values out of range")
        self.config, self.normalization, self.symbols = config, normalization, symbols

    @classmethod
    def from_values(cls, values: np.ndarray, normalization: Normalization,
                    config: GridCodecConfig) -> GridPullCodec:
        """values: (R0, R0, R0) fitted distances on the box lattice, any R0."""
        r0, r = values.shape[0], config.resolution
        if r0 != r:
            fine = np.linspace(0, r0 - 1, r)
            from scipy import ndimage

            values = ndimage.map_coordinates(
                values, np.stack(np.meshgrid(fine, fine, fine, indexing="ij")), order=1)
        step = config.spacing / config.levels_per_cell
        sym = np.clip(np.rint(values / step), -config.max_symbol, config.max_symbol)
        return cls(config, normalization, sym.astype(np.int64))

    def values(self) -> np.ndarray:
        return (self.symbols * (self.config.spacing / self.config.levels_per_cell)).astype(
            np.float32)

    def params(self) -> int:
        return int(self.symbols.size)

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(vertices, triangles) in the input frame; default resolution = the stored one."""
        values = self.values()
        if resolution is None or resolution == self.config.resolution:
            v, f = meshing.marching_cubes(values, 0.0, self.config.spacing)
        else:
            from recon.gridpull import grid_field

            v, f = meshing.extract(grid_field(values), resolution)
        return _to_input_frame(self.normalization, v, f)

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config),
                  "normalization": self.normalization.to_dict()}
        residual = np.diff(self.symbols, axis=2, prepend=0)
        return header, [Section(SectionKind.BLOB, "grid", entropy.encode(residual))]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> GridPullCodec:
        config = config_from_dict(GridCodecConfig, reader.header.get("config"), "gridpull config")
        norm = _normalization(reader.header, "gridpull")
        r = config.resolution
        residual = entropy.decode(reader.read("grid", SectionKind.BLOB), expected_count=r**3)
        return cls(config, norm, np.cumsum(residual.reshape(r, r, r), axis=2))

    @classmethod
    def example(cls) -> GridPullCodec:
        axis, _ = meshing.lattice(16)
        x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
        values = np.sqrt(x**2 + y**2 + z**2) - 0.3
        return cls.from_values(values, Normalization((1.0, 2.0, 3.0), 2.0),
                               GridCodecConfig(resolution=16))


class _NeuralSurfaceCodec:
    """Quantized hash grid + MLP; subclasses say how a field becomes a mesh."""

    def __init__(self, config: SurfaceFieldConfig, normalization: Normalization,
                 grid: dict[str, QuantizedTensor], mlp: dict[str, QuantizedTensor],
                 level: float = 0.0) -> None:
        check_field_tensors(self.name, config.grid(), config.mlp(), grid, mlp)
        self.config, self.normalization, self.grid_q, self.mlp_q = config, normalization, grid, mlp
        self.level = float(level)

    @classmethod
    def from_field(cls, field: SurfaceField, normalization: Normalization, bits: int = 8,
                   level: float = 0.0):
        grid, mlp = quantize_field(field.grid, field.mlp, bits)
        return cls(field.config, normalization, grid, mlp, level)

    def params(self) -> int:
        return sum(int(np.prod(q.shape)) for q in (*self.grid_q.values(), *self.mlp_q.values()))

    def build_field(self) -> SurfaceField:
        field = SurfaceField(self.config)
        load_field(field.grid, field.mlp, self.grid_q, self.mlp_q)
        return field.eval()

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "level": self.level,
                  "normalization": self.normalization.to_dict()}
        return header, [
            Section(SectionKind.TENSORS, "grid", pack_tensors(self.grid_q)),
            Section(SectionKind.TENSORS, "mlp", pack_tensors(self.mlp_q)),
        ]

    @classmethod
    def from_container(cls, reader: ContainerReader):
        h = reader.header
        try:
            config = config_from_dict(SurfaceFieldConfig, h.get("config"), f"{cls.name} config")
            config.grid()
            config.mlp()
        except ValueError as exc:
            raise ContainerError(f"{cls.name}: bad configuration: {exc}") from None
        level = h.get("level", 0.0)
        if not isinstance(level, (int, float)) or not -1 < level < 1:
            raise ContainerError(f"{cls.name}: bad meshing level")
        grid = unpack_tensors(reader.read("grid", SectionKind.TENSORS))
        mlp = unpack_tensors(reader.read("mlp", SectionKind.TENSORS))
        return cls(config, _normalization(h, cls.name), grid, mlp, level)

    @classmethod
    def example(cls):
        config = SurfaceFieldConfig(n_levels=3, log2_hashmap_size=6, base_resolution=4,
                                    per_level_scale=2.0, n_neurons=16, sphere_prior=0.3)
        torch.manual_seed(0)
        field = SurfaceField(config, backend="torch")
        with torch.no_grad():
            field.grid.params.normal_(0, 0.01)
        return cls.from_field(field, Normalization((0.0, 0.0, 0.0), 1.0), bits=8)


@register("sdf", CodecId.SDF, SurfaceFieldConfig, kind="surface")
class NeuralSDFCodec(_NeuralSurfaceCodec):
    n_outputs = 1

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        from recon.sdf import sdf

        v, f = meshing.extract(sdf(self.build_field()), resolution or 256, level=self.level)
        return _to_input_frame(self.normalization, v, f)


@register("csp", CodecId.CSP, SurfaceFieldConfig, kind="surface")
class CSPCodec(_NeuralSurfaceCodec):
    n_outputs = 3

    @classmethod
    def example(cls):
        """A tiny field fitted (briefly) to points on a sphere: random weights have no surface."""
        from recon import csp

        rng = np.random.default_rng(0)
        p = rng.standard_normal((400, 3))
        p = 0.3 * p / np.linalg.norm(p, axis=1, keepdims=True)
        opts = csp.CSPOptions(size=12_000, finest=16, steps=30, batch=256, plane_k=0)
        field, _ = csp.fit(p, opts)
        return cls.from_field(field, Normalization((0.0, 0.0, 0.0), 1.0), bits=8)

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        from recon import csp

        # level 0: the shell distance of recon.csp.mesh (0.6 of the lattice spacing)
        v, f = csp.mesh(self.build_field(), resolution or 256, level=self.level or None)
        return _to_input_frame(self.normalization, v, f)
