"""The ``gridpull`` codec: the distance grid resampled to ``resolution``³ nodes, truncated to
±``band`` cells (marching cubes needs only the sign farther out), quantized to
``1/levels_per_cell`` of a cell, and coded as differences along x (the truncated runs cost almost
nothing). The format is in codec/container/FORMAT.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
            v, f = meshing.extract(meshing.grid_field(values), resolution)
        return in_input_frame(self.normalization, v, f)

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config),
                  "normalization": self.normalization.to_dict()}
        residual = np.diff(self.symbols, axis=2, prepend=0)
        return header, [Section(SectionKind.BLOB, "grid", entropy.encode(residual))]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> GridPullCodec:
        config = config_from_dict(GridCodecConfig, reader.header.get("config"), "gridpull config")
        norm = normalization_of(reader.header, "gridpull")
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
