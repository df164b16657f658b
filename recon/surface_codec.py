"""What the surface codecs share (each is registered in its method's package: ``recon.gridpull``,
``recon.sdf``, ``recon.csp``): the normalisation record that puts their meshes back in the
input's frame, and the stored form of the hash-grid + MLP fields of sdf and csp
(``recon.neural``), quantized like the video ``hashgrid`` codec (``codec.fields.pack``). The
format is in codec/container/FORMAT.md.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from codec.container import ContainerReader, Section, SectionKind
from codec.errors import ContainerError, InputError
from codec.fields.pack import check_field_tensors, load_field, quantize_field
from codec.quant import QuantizedTensor
from codec.registry import config_from_dict
from codec.tensorpack import pack_tensors, unpack_tensors
from recon.neural import SurfaceField, SurfaceFieldConfig
from recon.pointcloud import Normalization


def normalization_of(header: dict, name: str) -> Normalization:
    """The normalisation record of a file's header (ContainerError when it is bad)."""
    try:
        return Normalization.from_dict(header.get("normalization"))
    except InputError:
        raise ContainerError(f"{name}: bad normalisation record") from None


def in_input_frame(norm: Normalization, v: np.ndarray, f: np.ndarray):
    """A mesh in the normalised frame, moved to the input's (InputError when empty)."""
    if len(f) == 0:
        raise InputError("the field has no surface inside the box (nothing to mesh)")
    return norm.invert(v), f


class NeuralSurfaceCodec:
    """Quantized hash grid + MLP (sdf, csp); subclasses are registered and say how a field
    becomes a mesh."""

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
        if field.stored is not None:  # rate-trained: the levels on their learned steps
            grid = field.stored
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
        return cls(config, normalization_of(h, cls.name), grid, mlp, level)

    @classmethod
    def example(cls):
        config = SurfaceFieldConfig(n_levels=3, log2_hashmap_size=6, base_resolution=4,
                                    per_level_scale=2.0, n_neurons=16, sphere_prior=0.3)
        torch.manual_seed(0)
        field = SurfaceField(config, backend="torch")
        with torch.no_grad():
            field.grid.params.normal_(0, 0.01)
        return cls.from_field(field, Normalization((0.0, 0.0, 0.0), 1.0), bits=8)
