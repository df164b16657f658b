"""``tensors`` codec: a bundle of named float arrays, quantized and entropy-coded.

The smallest real codec: compress any state dict (``save_tensors``) and read it back
(``load_tensors``). Model codecs reuse the same pieces for their weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from codec.container import ContainerReader, Section, SectionKind, write_container
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.quant import MAX_BITS, MIN_BITS, QuantizedTensor, quantize, quantize_best
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors


@dataclass
class TensorsConfig:
    bits: int = 8
    """Bit depth of every tensor (2..16)."""
    per_channel: bool = True
    """Allow per-channel quantization along any axis where it lowers the error."""

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not MIN_BITS <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be in {MIN_BITS}..{MAX_BITS}")
        if not isinstance(self.per_channel, bool):
            raise ValueError("per_channel must be a boolean")


@register("tensors", CodecId.TENSORS, TensorsConfig, kind="tensors")
class TensorBundle:
    """Named quantized tensors plus free-form JSON metadata."""

    def __init__(
        self,
        tensors: Mapping[str, QuantizedTensor],
        config: TensorsConfig | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.tensors = dict(tensors)
        self.config = config or TensorsConfig()
        self.meta = meta or {}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], config: TensorsConfig | None = None, meta=None
    ) -> TensorBundle:
        config = config or TensorsConfig()
        pick = quantize_best if config.per_channel else quantize
        return cls(
            {k: pick(np.asarray(v, np.float32), config.bits) for k, v in arrays.items()},
            config,
            meta,
        )

    @classmethod
    def example(cls) -> TensorBundle:
        rng = np.random.default_rng(0)
        arrays = {"conv.weight": rng.normal(0, 0.1, (4, 3, 3, 3)), "conv.bias": np.zeros(4)}
        return cls.from_arrays(arrays, TensorsConfig(bits=6), meta={"example": True})

    def arrays(self) -> dict[str, np.ndarray]:
        """Dequantized float32 arrays, in insertion order."""
        return {k: q.dequantize() for k, q in self.tensors.items()}

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "meta": self.meta}
        return header, [Section(SectionKind.TENSORS, "tensors", pack_tensors(self.tensors))]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> TensorBundle:
        header = reader.header
        config = config_from_dict(TensorsConfig, header.get("config", {}), "tensors config")
        meta = header.get("meta", {})
        if not isinstance(meta, dict):
            raise ContainerError("tensors header: meta must be a JSON object")
        return cls(unpack_tensors(reader.read("tensors", SectionKind.TENSORS)), config, meta)


def save_tensors(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    bits: int = 8,
    per_channel: bool = True,
    meta: dict[str, Any] | None = None,
) -> int:
    """Quantize, entropy-code and atomically write arrays; returns the file size in bytes.

    ``per_channel`` lets each tensor use per-channel parameters where that lowers the error
    (more accurate, usually more bytes at the same bit depth).
    """
    bundle = TensorBundle.from_arrays(arrays, TensorsConfig(bits, per_channel), meta)
    header, sections = bundle.to_container()
    return write_container(path, bundle.codec_id, header, sections)


def load_tensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with ContainerReader(path) as reader:
        if reader.codec_id != CodecId.TENSORS:
            raise ContainerError(f"{path}: not a tensors file (codec id {reader.codec_id})")
        return TensorBundle.from_container(reader).arrays()


__all__ = ["TensorBundle", "TensorsConfig", "load_tensors", "save_tensors"]
