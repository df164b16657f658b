"""The ``hnerv`` codec: fit HNeRV to a clip, quantize decoder (8 bit) and embeddings (6 bit),
entropy-code both into a container, and render frames back from the file alone."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from codec import checkpoint
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.quant import QuantizedTensor, quantize, quantize_best
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.hnerv import HNeRV, HNeRVConfig, HNeRVDecoder
from codec.video.meta import VideoInfo
from codec.video.train import (
    Report,
    TrainOptions,
    fine_tune_quantized,
    fit_frames,
    pad_frames,
)

MAX_ATTEMPTS = 3  # initialisations tried when a run stalls on the mean-frame plateau


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

    # -- encoding -----------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        frames: np.ndarray,
        fps,
        config: HNeRVConfig,
        opts: TrainOptions,
        device: torch.device | str = "cpu",
        report: Report | None = None,
    ) -> tuple[HNeRVCodec, dict]:
        """frames: (T, H, W, 3) uint8. Returns the quantized codec and training statistics."""
        t, h, w, _ = frames.shape
        out_h, out_w = config.out_size
        x = pad_frames(frames, out_h, out_w)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        start = time.perf_counter()
        ckpt = checkpoint.active()
        resumed = ckpt.resumed_tag if ckpt else None
        first = int(resumed.split("/")[1]) if resumed and resumed.startswith("hnerv/") else 0
        for attempt in range(first, MAX_ATTEMPTS):
            torch.manual_seed(opts.seed + attempt)
            model = HNeRV(config, t).to(device=device, memory_format=torch.channels_last)
            run = opts
            if opts.time_budget is not None:
                left = opts.time_budget - (time.perf_counter() - start)
                run = replace(opts, time_budget=max(left, 1e-3))
            stats = fit_frames(
                model, x, (h, w), run, report, stall_check=attempt + 1 < MAX_ATTEMPTS,
                tag=f"hnerv/{attempt}",
            )
            if not stats.get("stalled"):
                break
        stats["attempts"] = attempt + 1
        model.eval()
        with torch.no_grad():
            embed = torch.cat(
                [
                    model.embed(x[i : i + 8].float() / 255, torch.arange(i, min(i + 8, t)))
                    for i in range(0, t, 8)
                ]
            )
        embed_q = quantize_best(embed.cpu().numpy(), opts.embed_bits)
        axes = None
        if opts.qat_epochs:
            embed_hat = torch.from_numpy(embed_q.dequantize()).to(device)
            axes = fine_tune_quantized(model.decoder, embed_hat, x, (h, w), opts, report)
        decoder_q = {}
        for name, p in model.decoder.named_parameters():
            w_np = p.detach().cpu().numpy()
            decoder_q[name] = (
                quantize(w_np, opts.weight_bits, axes[name])
                if axes
                else quantize_best(w_np, opts.weight_bits)
            )
        video = VideoInfo(w, h, t, fps, (out_w - w, out_h - h))
        return cls(config, video, decoder_q, embed_q), stats

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "video": self.video.to_dict()}
        return header, [
            Section(SectionKind.TENSORS, "decoder", pack_tensors(self.decoder_q)),
            Section(SectionKind.TENSORS, "embed", pack_tensors({"embed": self.embed_q})),
        ]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> HNeRVCodec:
        h = reader.header
        config = config_from_dict(HNeRVConfig, h.get("config"), "hnerv config")
        video = VideoInfo.from_dict(h.get("video"))
        embed = unpack_tensors(reader.read("embed", SectionKind.TENSORS))
        if set(embed) != {"embed"}:
            raise ContainerError("hnerv: the embed section must hold one tensor named 'embed'")
        decoder = unpack_tensors(reader.read("decoder", SectionKind.TENSORS))
        return cls(config, video, decoder, embed["embed"])

    @classmethod
    def example(cls) -> HNeRVCodec:
        config = HNeRVConfig(
            strides=[2, 2], embed_dim=4, embed_hw=[4, 4], channels=8, min_channels=4
        )
        torch.manual_seed(0)
        dec = HNeRVDecoder(config)
        decoder = {n: quantize_best(p.detach().numpy(), 8) for n, p in dec.named_parameters()}
        embed = quantize_best(np.random.default_rng(0).normal(0, 1, (3, 4, 4, 4)), 6)
        from fractions import Fraction

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
