"""The ``nirvana`` codec: one section per group of frames, each holding that group's network as
integers and steps, coded on their own (intra) or as residuals against the previous group's
integers, whichever is smaller. A decoder that wants frames A..B reads the header and only the
sections from the last intra group at or before A's group up to B's group.

Group payload (section ``g{index}``, kind ``blob``)::

    u8 mode            0 = intra, 1 = residual against group index − 1
    n × f32 step       one per tensor, in NirvanaConfig.param_shapes() order (little endian)
    entropy stream     every tensor's integers (intra) or their differences (residual),
                       concatenated in that order (codec/entropy.py)

Weights are ``float32(integer) · step``; a residual group must use its reference's steps.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from codec import entropy
from codec.binio import ByteReader
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError, EntropyError
from codec.registry import config_from_dict, register
from codec.video.meta import VideoInfo
from codec.video.nirvana.network import NirvanaConfig, forward, from_patches, patch_centres

MODE_INTRA, MODE_RESIDUAL = 0, 1
RENDER_PATCHES = 256  # patches per forward pass when decoding


def group_state(config: NirvanaConfig, symbols: dict[str, np.ndarray],
                steps: dict[str, float]) -> tuple[np.ndarray, list[float]]:
    """(integers, steps) of a group in payload order: every tensor's integers concatenated and
    the float32 steps, as :func:`decode_group` returns them and a residual refers to them."""
    names = list(config.param_shapes())
    flat = np.concatenate([symbols[n].ravel() for n in names]).astype(np.int64)
    return flat, [float(np.float32(steps[n])) for n in names]


def encode_group(config: NirvanaConfig, symbols: dict[str, np.ndarray], steps: dict[str, float],
                 previous: tuple[np.ndarray, list[float]] | None, intra: bool) -> bytes:
    """The payload of one group: residual when allowed (``previous`` given, same steps, not
    ``intra``) and smaller than intra."""
    flat, step_list = group_state(config, symbols, steps)
    sizes = [math.prod(s) for s in config.param_shapes().values()]  # a table each may pay
    best = (MODE_INTRA, entropy.encode(flat, sizes))
    if previous is not None and not intra and previous[1] == step_list:
        residual = entropy.encode(flat - previous[0], sizes)
        if len(residual) < len(best[1]):
            best = (MODE_RESIDUAL, residual)
    return bytes([best[0]]) + struct.pack(f"<{len(step_list)}f", *step_list) + best[1]


def decode_group(config: NirvanaConfig, payload: bytes, previous: tuple[np.ndarray, list[float]]
                 | None, what: str) -> tuple[np.ndarray, list[float]]:
    """(integers, steps) of a group; ``previous`` = the preceding group's, for residuals."""
    shapes = config.param_shapes()
    count = sum(math.prod(s) for s in shapes.values())
    r = ByteReader(payload, what)
    (mode,) = r.unpack("<B", "mode")
    steps = list(r.unpack(f"<{len(shapes)}f", "steps"))
    if not all(math.isfinite(s) and s > 0 for s in steps):
        raise ContainerError(f"{what}: steps must be positive finite numbers")
    try:
        values = entropy.decode_from(r, count)
    except EntropyError as exc:
        raise ContainerError(f"{what}: {exc}") from None
    r.expect_end()
    if mode == MODE_RESIDUAL:
        if previous is None:
            raise ContainerError(f"{what}: a residual group has no previous group to refer to")
        if [float(np.float32(s)) for s in previous[1]] != steps:
            raise ContainerError(f"{what}: a residual group must keep its reference's steps")
        values = values + previous[0]
    elif mode != MODE_INTRA:
        raise ContainerError(f"{what}: unknown group mode {mode}")
    return values, steps


def weights_of(config: NirvanaConfig, values: np.ndarray, steps: list[float]
               ) -> dict[str, torch.Tensor]:
    out, at = {}, 0
    for (name, shape), step in zip(config.param_shapes().items(), steps, strict=True):
        n = math.prod(shape)
        q = torch.from_numpy(values[at : at + n].astype(np.float32)).view(shape)
        out[name] = q * torch.tensor(step, dtype=torch.float32)
        at += n
    return out


def chain_start(intra: Sequence[int], group: int) -> int:
    """The last intra group at or before ``group`` (where decoding it must start)."""
    return max(i for i in intra if i <= group)


@register("nirvana", CodecId.NIRVANA, NirvanaConfig, kind="video")
class NirvanaCodec:
    """Video geometry, the list of intra groups and (some or all) group payloads."""

    random_access = True  # from_container can load only the groups some frames need

    def __init__(self, config: NirvanaConfig, video: VideoInfo, intra: Sequence[int],
                 payloads: dict[int, bytes]) -> None:
        self.config, self.video = config, video
        self.groups = math.ceil(video.frames / config.gop)
        self.intra = sorted(int(i) for i in intra)
        if not self.intra or self.intra[0] != 0 or len(set(self.intra)) != len(self.intra) \
                or self.intra[-1] >= self.groups:
            raise ContainerError("nirvana: 'intra' must list distinct groups starting with 0")
        if any(not 0 <= g < self.groups for g in payloads):
            raise ContainerError("nirvana: a group index is out of range")
        self.payloads = payloads
        p = config.patch
        self.grid = (math.ceil(video.height / p), math.ceil(video.width / p))
        if video.pad != (self.grid[1] * p - video.width, self.grid[0] * p - video.height):
            raise ContainerError("nirvana: frame padding disagrees with the patch grid")

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        missing = sorted(set(range(self.groups)) - set(self.payloads))
        if missing:
            raise ValueError(f"nirvana: groups {missing[:5]} were not loaded; cannot write")
        header = {"codec": self.name, "config": asdict(self.config),
                  "video": self.video.to_dict(), "intra": self.intra}
        return header, [Section(SectionKind.BLOB, f"g{g}", self.payloads[g])
                        for g in range(self.groups)]

    @classmethod
    def from_container(cls, reader: ContainerReader, frames: Sequence[int] | None = None
                       ) -> NirvanaCodec:
        """Load the header and the sections needed for ``frames`` (default: all)."""
        h = reader.header
        try:
            config = config_from_dict(NirvanaConfig, h.get("config"), "nirvana config")
        except ValueError as exc:
            raise ContainerError(f"nirvana: bad configuration: {exc}") from None
        video = VideoInfo.from_dict(h.get("video"))
        intra = h.get("intra")
        if not isinstance(intra, list) or not all(isinstance(i, int) for i in intra):
            raise ContainerError("nirvana: header 'intra' must be a list of group indices")
        codec = cls(config, video, intra, {})
        for g in codec.needed_groups(range(video.frames) if frames is None else frames):
            codec.payloads[g] = reader.read(f"g{g}", SectionKind.BLOB)
        return codec

    @classmethod
    def group_table(cls, reader: ContainerReader) -> list[dict[str, Any]]:
        """Per group: frame range, coding mode and bytes (what ``nircodec info`` lists)."""
        codec = cls.from_container(reader, frames=[])
        out = []
        for g in range(codec.groups):
            s = reader.info(f"g{g}")
            mode = reader.read(s.name, SectionKind.BLOB)[:1]
            first = g * codec.config.gop
            last = min(first + codec.config.gop, codec.video.frames) - 1
            pixels = (last - first + 1) * codec.video.width * codec.video.height
            out.append({"group": g, "frames": [first, last],
                        "mode": "residual" if mode == bytes([MODE_RESIDUAL]) else "intra",
                        "bytes": s.frame_bytes, "bpp": 8 * s.frame_bytes / pixels})
        return out

    def needed_groups(self, frames: Sequence[int]) -> list[int]:
        """Groups whose sections decoding ``frames`` reads (each chain from its intra group)."""
        need: set[int] = set()
        for g in {int(f) // self.config.gop for f in frames}:
            need.update(range(chain_start(self.intra, g), g + 1))
        return sorted(need)

    @classmethod
    def example(cls) -> NirvanaCodec:
        from fractions import Fraction

        config = NirvanaConfig(gop=2, patch=8, siren_width=4, stem_channels=2, head_channels=2)
        rng = np.random.default_rng(0)
        steps = {n: 0.05 for n in config.param_shapes()}
        payloads, prev = {}, None
        for g in range(2):
            sym = {n: rng.integers(-8, 9, s) for n, s in config.param_shapes().items()}
            payloads[g] = encode_group(config, sym, steps, prev, intra=g == 0)
            prev = decode_group(config, payloads[g], prev, "example")
        return cls(config, VideoInfo(15, 13, 3, Fraction(25), (1, 3)), [0], payloads)

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        return self.groups * self.config.n_params()

    def render(self, indices: Sequence[int] | None = None, device: torch.device | str = "cpu"
               ) -> Iterator[np.ndarray]:
        """Decoded RGB uint8 frames (H, W, 3) for ``indices`` (default: all), in order; one
        group's frames are held at a time."""
        indices = range(self.video.frames) if indices is None else indices
        rows, cols = self.grid
        centres = patch_centres(self.config, rows, cols).to(device)
        h, w = self.video.height, self.video.width
        decoded: tuple[int, tuple[np.ndarray, list[float]]] | None = None
        group, frames = -1, None
        for i in indices:
            g = int(i) // self.config.gop
            if g != group:
                decoded = self._decode_chain(g, decoded)
                weights = {k: v.to(device) for k, v in weights_of(self.config, *decoded[1]).items()}
                with torch.inference_mode():
                    out = torch.cat([forward(self.config, weights, centres[s : s + RENDER_PATCHES])
                                     for s in range(0, len(centres), RENDER_PATCHES)])
                    out = from_patches(out, rows, cols)[..., :h, :w]
                    frames = (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
                    frames = frames.cpu().numpy()
                group = g
            yield frames[int(i) % self.config.gop]

    def _decode_chain(self, group: int, last):
        """Integers and steps of ``group``, continuing from ``last`` = (index, values) when it
        is the previous group of the same chain."""
        start = chain_start(self.intra, group)
        if last is not None and start <= last[0] < group:
            start, prev = last[0] + 1, last[1]
        else:
            prev = None
        for g in range(start, group + 1):
            if g not in self.payloads:
                raise ContainerError(f"nirvana: group {g} was not loaded")
            prev = decode_group(self.config, self.payloads[g], prev, f"nirvana group {g}")
        return group, prev
