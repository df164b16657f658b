"""The ``hnerv`` codec: a fitted HNeRV's decoder (8 bit) and embeddings (6 bit), entropy-coded
into a container, and frames rendered back from the file alone.

Consecutive frames have similar embeddings, so the embeddings may be stored as temporal
differences of their levels (tensor ``embed.delta``, see :func:`delta_levels`) when that codes
smaller than the levels themselves (tensor ``embed``); the encoder measures both."""

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
from codec.quant import QuantizedTensor, quantize_best
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.hnerv.network import HNeRVConfig, HNeRVDecoder
from codec.video.meta import VideoInfo

EMBED, EMBED_DELTA = "embed", "embed.delta"


def delta_levels(q: QuantizedTensor) -> QuantizedTensor:
    """Embeddings (T, ...) with frame t > 0's levels replaced by ``(l[t] − l[t−1] + 2^(b−1))
    mod 2^b`` (b = bits): still valid b-bit levels, centred where consecutive frames agree.
    Lossless whatever the quantization axis (:func:`undelta_levels` inverts it)."""
    levels = q.levels()
    offset = levels - q.symbols  # the zero point, broadcast
    half, size = 1 << (q.bits - 1), 1 << q.bits
    out = levels.copy()
    out[1:] = (levels[1:] - levels[:-1] + half) % size
    return QuantizedTensor(out - offset, q.bits, q.axis, q.minimum, q.scale)


def undelta_levels(q: QuantizedTensor) -> QuantizedTensor:
    """Inverse of :func:`delta_levels`: ``l[t] = (l[0] + Σ_{u≤t} (L[u] − 2^(b−1))) mod 2^b``."""
    stored = q.levels()
    if stored.ndim < 1:
        raise ContainerError("hnerv: embeddings must have a frame axis")
    offset = stored - q.symbols
    half, size = 1 << (q.bits - 1), 1 << q.bits
    steps = stored.copy()
    steps[1:] -= half
    return QuantizedTensor(np.cumsum(steps, axis=0) % size - offset, q.bits, q.axis, q.minimum,
                           q.scale)


@register("hnerv", CodecId.HNERV, HNeRVConfig, kind="video")
class HNeRVCodec:
    """A fitted, quantized HNeRV: decoder tensors + per-frame embeddings + video geometry."""

    def __init__(
        self,
        config: HNeRVConfig,
        video: VideoInfo,
        decoder: dict[str, QuantizedTensor],
        embed: QuantizedTensor,
    ) -> None:
        self.config, self.video, self.decoder_q, self.embed_q = config, video, decoder, embed
        t, d, (h, w) = video.frames, config.embed_dim, config.embed_hw
        if embed.shape != (t, d, h, w):
            raise ContainerError(
                f"hnerv: embeddings have shape {embed.shape}, expected {(t, d, h, w)}"
            )
        out_h, out_w = config.out_size
        if (video.width + video.pad[0], video.height + video.pad[1]) != (out_w, out_h):
            raise ContainerError("hnerv: frame size and padding disagree with the network")
        if {n: q.shape for n, q in decoder.items()} != config.param_shapes():
            raise ContainerError("hnerv: decoder tensors do not match the configuration")

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "video": self.video.to_dict()}
        plain = pack_tensors({EMBED: self.embed_q})
        delta = pack_tensors({EMBED_DELTA: delta_levels(self.embed_q)})
        return header, [
            Section(SectionKind.TENSORS, "decoder", pack_tensors(self.decoder_q)),
            Section(SectionKind.TENSORS, "embed", delta if len(delta) < len(plain) else plain),
        ]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> HNeRVCodec:
        h = reader.header
        config = config_from_dict(HNeRVConfig, h.get("config"), "hnerv config")
        video = VideoInfo.from_dict(h.get("video"))
        embed = unpack_tensors(reader.read("embed", SectionKind.TENSORS))
        if set(embed) == {EMBED_DELTA}:
            embed = {EMBED: undelta_levels(embed[EMBED_DELTA])}
        if set(embed) != {EMBED}:
            raise ContainerError("hnerv: the embed section must hold one tensor named 'embed' "
                                 "or 'embed.delta'")
        if embed[EMBED].symbols.ndim != 4:
            raise ContainerError("hnerv: embeddings must be (frames, d, h, w)")
        decoder = unpack_tensors(reader.read("decoder", SectionKind.TENSORS))
        return cls(config, video, decoder, embed[EMBED])

    @classmethod
    def example(cls) -> HNeRVCodec:
        config = HNeRVConfig(
            strides=[2, 2], embed_dim=4, embed_hw=[4, 4], channels=8, min_channels=4
        )
        torch.manual_seed(0)
        dec = HNeRVDecoder(config)
        decoder = {n: quantize_best(p.detach().numpy(), 8) for n, p in dec.named_parameters()}
        # slowly changing embeddings, as trained ones are: stored as temporal differences
        walk = np.random.default_rng(0).normal(0, 0.1, (3, 4, 4, 4)).cumsum(axis=0)
        embed = quantize_best(walk + np.random.default_rng(1).normal(0, 1, (1, 4, 4, 4)), 6)
        return cls(config, VideoInfo(15, 13, 3, Fraction(25), (1, 3)), decoder, embed)

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        return sum(int(np.prod(q.shape)) for q in self.decoder_q.values()) + int(
            np.prod(self.embed_q.shape)
        )

    def build_decoder(self, device: torch.device | str = "cpu") -> HNeRVDecoder:
        dec = HNeRVDecoder(self.config)
        with torch.no_grad():
            for name, p in dec.named_parameters():
                p.copy_(torch.from_numpy(self.decoder_q[name].dequantize()))
        return dec.to(device).eval()

    def render(
        self,
        indices: Sequence[int] | None = None,
        device: torch.device | str = "cpu",
        batch: int = 4,
    ) -> Iterator[np.ndarray]:
        """Decoded RGB uint8 frames (H, W, 3) for ``indices`` (default: all), in order."""
        indices = range(self.video.frames) if indices is None else indices
        dec = self.build_decoder(device)
        embed = torch.from_numpy(self.embed_q.dequantize())
        h, w = self.video.height, self.video.width
        with torch.inference_mode():
            for i in range(0, len(indices), batch):
                idx = torch.as_tensor(list(indices[i : i + batch]), dtype=torch.long)
                out = dec(embed[idx].to(device))[..., :h, :w]
                frames = (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
                yield from frames.cpu().numpy()
