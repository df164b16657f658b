"""The ``c3`` codec: one TENSORS section ``nets`` (the synthesis network's weights, quantized,
and the context model's integer weights) and one BLOB section ``g{index}`` per group of frames
holding its latents (:mod:`.latents`). Groups decode on their own, so a decoder that wants
frames A..B reads only their groups' sections. Latents are entropy-decoded on the CPU with
integer arithmetic; the synthesis runs on any device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.quant import QuantizedTensor, quantize, quantize_step
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.c3.context import FRAC, IntegerContext, arm_shapes
from codec.video.c3.latents import decode_group, encode_group
from codec.video.c3.network import C3Config, Synthesis, upsample
from codec.video.meta import VideoInfo


def _context_tensors(ints: dict[str, np.ndarray]) -> dict[str, QuantizedTensor]:
    return {n: quantize_step(v.astype(np.float64) / (1 << FRAC), 2.0 ** -FRAC)
            for n, v in ints.items()}


def _context_ints(tensors: dict[str, QuantizedTensor]) -> dict[str, np.ndarray]:
    out = {}
    for name, q in tensors.items():
        if q.axis is not None or float(q.scale[0]) != 2.0 ** -FRAC:
            raise ContainerError(f"c3: {name} must be stored on the step 2**-{FRAC}")
        v = q.dequantize().astype(np.float64) * (1 << FRAC)
        if not np.array_equal(v, np.rint(v)):
            raise ContainerError(f"c3: {name} is not on the context model's integer grid")
        out[name] = v.astype(np.int64)
    return out


@register("c3", CodecId.C3, C3Config, kind="video")
class C3Codec:
    """Video geometry, the two networks and (some or all) groups' latent streams."""

    random_access = True  # from_container can load only the groups some frames need

    def __init__(self, config: C3Config, video: VideoInfo, synthesis: dict[str, QuantizedTensor],
                 context: dict[str, np.ndarray], payloads: dict[int, bytes]) -> None:
        self.config, self.video = config, video
        self.groups = math.ceil(video.frames / config.gop)
        for what, got, want in (("synthesis", synthesis, config.synthesis_shapes()),
                                ("context model", context, arm_shapes(config))):
            shapes = {k: tuple(np.shape(v.symbols if isinstance(v, QuantizedTensor) else v))
                      for k, v in got.items()}
            if shapes != want:
                raise ContainerError(f"c3: the {what}'s tensors disagree with the config")
        if any(not 0 <= g < self.groups for g in payloads):
            raise ContainerError("c3: a group index is out of range")
        try:
            self.context = IntegerContext(context)
        except ValueError as exc:
            raise ContainerError(f"c3: {exc}") from None
        self.synthesis_q, self.context_ints, self.payloads = synthesis, context, payloads

    @classmethod
    def from_latents(cls, config: C3Config, video: VideoInfo,
                     synthesis: dict[str, QuantizedTensor], context: dict[str, np.ndarray],
                     groups: list[list[np.ndarray]]) -> C3Codec:
        codec = cls(config, video, synthesis, context, {})
        strides = [config.time_stride(lv) for lv in range(config.levels)]
        codec.payloads = {g: encode_group(levels, codec.context, strides)
                          for g, levels in enumerate(groups)}
        return codec

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        missing = sorted(set(range(self.groups)) - set(self.payloads))
        if missing:
            raise ValueError(f"c3: groups {missing[:5]} were not loaded; cannot write")
        header = {"codec": self.name, "config": asdict(self.config),
                  "video": self.video.to_dict()}
        nets = {**self.synthesis_q, **_context_tensors(self.context_ints)}
        return header, [Section(SectionKind.TENSORS, "nets", pack_tensors(nets)),
                        *(Section(SectionKind.BLOB, f"g{g}", self.payloads[g])
                          for g in range(self.groups))]

    @classmethod
    def from_container(cls, reader: ContainerReader, frames: Sequence[int] | None = None
                       ) -> C3Codec:
        """Load the header, the networks and the groups needed for ``frames`` (default: all)."""
        try:
            config = config_from_dict(C3Config, reader.header.get("config"), "c3 config")
        except ValueError as exc:
            raise ContainerError(f"c3: bad configuration: {exc}") from None
        video = VideoInfo.from_dict(reader.header.get("video"))
        if video.pad != (0, 0):
            raise ContainerError("c3: frames are never padded")
        nets = unpack_tensors(reader.read("nets", SectionKind.TENSORS))
        synthesis = {k: v for k, v in nets.items() if k.startswith("syn.")}
        context = _context_ints({k: v for k, v in nets.items() if k.startswith("arm.")})
        codec = cls(config, video, synthesis, context, {})
        frames = range(video.frames) if frames is None else frames
        for g in sorted({int(f) // config.gop for f in frames}):
            codec.payloads[g] = reader.read(f"g{g}", SectionKind.BLOB)
        return codec

    @classmethod
    def example(cls) -> C3Codec:
        config = C3Config(gop=2, levels=3, width=4, arm_width=4)
        video = VideoInfo(15, 13, 3, Fraction(25))
        rng = np.random.default_rng(0)
        synthesis = {n: quantize(rng.normal(0, 0.3, s).astype(np.float32), 8)
                     for n, s in config.synthesis_shapes().items()}
        context = {n: rng.integers(-300, 300, s) for n, s in arm_shapes(config).items()}
        groups = [[rng.integers(-3, 4, s) for s in config.latent_shapes(n, 13, 15)]
                  for n in (2, 1)]
        return cls.from_latents(config, video, synthesis, context, groups)

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        return self.config.n_params()

    def latents(self, group: int) -> list[np.ndarray]:
        """The integer latent grids of ``group`` (finest first), decoded from its section."""
        if group not in self.payloads:
            raise ContainerError(f"c3: group {group} was not loaded")
        c, v = self.config, self.video
        n = min(c.gop, v.frames - group * c.gop)
        return decode_group(self.payloads[group], self.context,
                            c.latent_shapes(n, v.height, v.width),
                            [c.time_stride(lv) for lv in range(c.levels)], f"c3 group {group}")

    def build_synthesis(self, device: torch.device | str = "cpu") -> Synthesis:
        net = Synthesis(self.config)
        net.load_state_dict({k: torch.from_numpy(q.dequantize())
                             for k, q in self.synthesis_q.items()})
        return net.to(device).eval()

    def render(self, indices: Sequence[int] | None = None, device: torch.device | str = "cpu"
               ) -> Iterator[np.ndarray]:
        """Decoded RGB uint8 frames (H, W, 3) for ``indices`` (default: all), in order; one
        group's frames are held at a time."""
        indices = range(self.video.frames) if indices is None else indices
        net = self.build_synthesis(device)
        h, w, gop = self.video.height, self.video.width, self.config.gop
        group, frames = -1, None
        for i in indices:
            g = int(i) // gop
            if g != group:
                grids = [torch.from_numpy(x.astype(np.float32)).to(device)
                         for x in self.latents(g)]
                n = min(gop, self.video.frames - g * gop)
                with torch.inference_mode():
                    out = net(upsample(grids, n, h, w, self.config))
                    frames = (out.clamp(0, 1) * 255).round().to(torch.uint8)
                    frames = frames.permute(0, 2, 3, 1).cpu().numpy()
                group = g
            yield frames[int(i) % gop]
