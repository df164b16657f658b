"""The ``hashgrid`` codec: a hash-grid video field (:mod:`.network`) quantized per grid level and
entropy-coded, plus the video's geometry. Decoding renders whole frames, batched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.fields.pack import check_field_tensors, load_field, quantize_field
from codec.quant import QuantizedTensor
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.hashgrid.network import HashGridVideoConfig, VideoField, pixel_coords
from codec.video.meta import VideoInfo


@register("hashgrid", CodecId.HASHGRID, HashGridVideoConfig, kind="video")
class HashGridCodec:
    """Quantized grid levels + MLP matrices + video geometry."""

    def __init__(self, config: HashGridVideoConfig, video: VideoInfo,
                 grid: dict[str, QuantizedTensor], mlp: dict[str, QuantizedTensor]) -> None:
        self.config, self.video, self.grid_q, self.mlp_q = config, video, grid, mlp
        check_field_tensors("hashgrid", config.grid(), config.mlp(), grid, mlp)

    @classmethod
    def from_field(cls, field: VideoField, video: VideoInfo, bits: int) -> HashGridCodec:
        """Quantize a trained field: ``bits`` for the widest grid level, the others at its
        step (``codec.fields.pack.level_bits``)."""
        grid, mlp = quantize_field(field.grid, field.mlp, bits)
        return cls(field.config, video, grid, mlp)

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "video": self.video.to_dict()}
        return header, [
            Section(SectionKind.TENSORS, "grid", pack_tensors(self.grid_q)),
            Section(SectionKind.TENSORS, "mlp", pack_tensors(self.mlp_q)),
        ]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> HashGridCodec:
        h = reader.header
        try:
            config = config_from_dict(HashGridVideoConfig, h.get("config"), "hashgrid config")
            config.grid()
            config.mlp()
        except ValueError as exc:
            raise ContainerError(f"hashgrid: bad configuration: {exc}") from None
        video = VideoInfo.from_dict(h.get("video"))
        grid = unpack_tensors(reader.read("grid", SectionKind.TENSORS))
        mlp = unpack_tensors(reader.read("mlp", SectionKind.TENSORS))
        return cls(config, video, grid, mlp)

    @classmethod
    def example(cls) -> HashGridCodec:
        config = HashGridVideoConfig(n_levels=3, log2_hashmap_size=6, base_resolution=4,
                                     per_level_scale=2.0, n_neurons=16, n_hidden_layers=1)
        torch.manual_seed(0)
        model = VideoField(config, backend="torch")
        with torch.no_grad():
            model.grid.params.normal_(0, 0.1)
        return cls.from_field(model, VideoInfo(15, 13, 3, Fraction(25)), 8)

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        return sum(int(np.prod(q.shape)) for q in (*self.grid_q.values(), *self.mlp_q.values()))

    def build_field(self, device: torch.device | str = "cpu") -> VideoField:
        model = VideoField(self.config)
        load_field(model.grid, model.mlp, self.grid_q, self.mlp_q)
        return model.to(device).eval()

    def render(self, indices: Sequence[int] | None = None, device: torch.device | str = "cpu",
               batch_pixels: int = 1 << 17) -> Iterator[np.ndarray]:
        """Decoded RGB uint8 frames (H, W, 3) for ``indices`` (default: all), in order."""
        indices = range(self.video.frames) if indices is None else indices
        field = self.build_field(device)
        w, h = self.video.width, self.video.height
        per_frame = torch.arange(w * h, device=device)
        with torch.inference_mode():
            for i in indices:
                idx = per_frame + int(i) * w * h
                out = torch.cat([
                    field(pixel_coords(idx[s : s + batch_pixels], self.video,
                                       self.config.time_scale))
                    for s in range(0, w * h, batch_pixels)
                ])
                frame = (out.clamp(0, 1) * 255).round().to(torch.uint8).view(h, w, 3)
                yield frame.cpu().numpy()
