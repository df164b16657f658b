"""The ``pfnr`` codec: a library of videos in one network and one append-only file.

Header (written once, never changed): the codec name and the network ``config``. Each video k
then owns four sections, appended after the earlier videos' (``append_sections`` keeps every
earlier byte):

    v{k}.meta   meta     {"frames", "width", "height", "fps": [num, den], "capacity"}
    v{k}.mask   blob     its mask of every shared tensor (config order), each coded by
                         codec.video.pfnr.subnet.encode_mask against the union of videos < k
    v{k}.new    tensors  for each shared tensor with new weights: the values at positions in
                         its mask and in no earlier mask (C order), 1-D, quantized
    v{k}.own    tensors  its biases and output head

Decoding video k reads the sections of videos 0..k only: the weights it uses were stored by
the video that first used them, and nothing written later can change them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from codec.binio import ByteReader, write_uvarint
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId, canonical_json
from codec.errors import ContainerError
from codec.quant import QuantizedTensor, quantize_best
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.meta import VideoInfo
from codec.video.pfnr.network import (
    PFNRConfig,
    expand_mask,
    forward,
    init_tensors,
    inputs,
    unit_of,
)
from codec.video.pfnr.subnet import decode_mask, encode_mask, top_fraction


@dataclass
class VideoEntry:
    """One video of a library, as stored."""

    info: VideoInfo
    capacity: float
    mask: dict[str, np.ndarray]  # bool, shared shapes
    new: dict[str, QuantizedTensor]  # 1-D values at mask & ~earlier masks
    own: dict[str, QuantizedTensor]

    def sections(self, k: int, used: dict[str, np.ndarray], units: dict[str, tuple[int, ...]]
                 ) -> list[Section]:
        """The video's sections, as video ``k`` after the videos whose masks' union is
        ``used``; ``units``: the masks' unit shapes (``PFNRConfig.unit_shapes``)."""
        meta = {**{key: v for key, v in self.info.to_dict().items() if key != "pix_fmt"},
                "capacity": self.capacity}
        masks = b"".join(_framed(encode_mask(unit_of(self.mask[n], u), unit_of(used[n], u)))
                         for n, u in units.items())
        return [Section(SectionKind.META, f"v{k}.meta", canonical_json(meta)),
                Section(SectionKind.BLOB, f"v{k}.mask", masks),
                Section(SectionKind.TENSORS, f"v{k}.new", pack_tensors(self.new)),
                Section(SectionKind.TENSORS, f"v{k}.own", pack_tensors(self.own))]


def _framed(data: bytes) -> bytes:
    return write_uvarint(len(data)) + data


@register("pfnr", CodecId.PFNR, PFNRConfig, kind="video")
class PFNRCodec:
    """A library: its config and the videos 0..n-1 loaded from it (``current`` picks the one
    ``render`` and ``video`` describe)."""

    library = True  # from_container(reader, video) loads videos 0..video only

    def __init__(self, config: PFNRConfig, videos: list[VideoEntry], current: int = -1) -> None:
        self.config, self.videos = config, videos
        self.current = current if current >= 0 else len(videos) - 1
        if not videos:
            raise ContainerError("pfnr: the library holds no video")
        out_h, out_w = config.out_size
        for k, v in enumerate(videos):
            if (v.info.width + v.info.pad[0], v.info.height + v.info.pad[1]) != (out_w, out_h):
                raise ContainerError(f"pfnr: video {k}'s size and padding disagree with the "
                                     "network")
        self._known: tuple[dict, dict] | None = None

    @property
    def video(self) -> VideoInfo:
        return self.videos[self.current].info

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config)}
        names = list(self.config.shared_shapes())
        used = {n: np.zeros(s, bool) for n, s in self.config.shared_shapes().items()}
        sections = []
        for k, v in enumerate(self.videos):
            sections += v.sections(k, used, self.config.unit_shapes())
            used = {n: used[n] | v.mask[n] for n in names}
        return header, sections

    @classmethod
    def from_container(cls, reader: ContainerReader, video: int | None = None) -> PFNRCodec:
        """Load videos 0..``video`` (default: all); reads no later video's sections."""
        try:
            config = config_from_dict(PFNRConfig, reader.header.get("config"), "pfnr config")
        except ValueError as exc:
            raise ContainerError(f"pfnr: bad configuration: {exc}") from None
        count = sum(1 for s in reader.sections if s.name.endswith(".meta"))
        last = count - 1 if video is None else video
        if not 0 <= last < count:
            raise ContainerError(f"pfnr: no video {video} (the library has {count}: "
                                 f"0..{count - 1})")
        shapes = config.shared_shapes()
        used = {n: np.zeros(s, bool) for n, s in shapes.items()}
        videos = []
        for k in range(last + 1):
            meta = reader.read_json(f"v{k}.meta")
            info = VideoInfo.from_dict({**meta, "pix_fmt": "rgb24"})
            capacity = meta.get("capacity")
            if not isinstance(capacity, (int, float)) or not 0 < capacity <= 1:
                raise ContainerError(f"pfnr: v{k}.meta needs a capacity in (0, 1]")
            mask = _read_masks(reader.read(f"v{k}.mask", SectionKind.BLOB), used,
                               config.unit_shapes(), f"v{k}.mask")
            new = unpack_tensors(reader.read(f"v{k}.new", SectionKind.TENSORS))
            own = unpack_tensors(reader.read(f"v{k}.own", SectionKind.TENSORS))
            for n, m in mask.items():
                count_new = int((m & ~used[n]).sum())
                if count_new and (n not in new or new[n].shape != (count_new,)):
                    raise ContainerError(f"pfnr: v{k}.new lacks the {count_new} new weights "
                                         f"of {n}")
            if {n: q.shape for n, q in own.items()} != config.video_shapes():
                raise ContainerError(f"pfnr: v{k}.own does not match the configuration")
            videos.append(VideoEntry(info, float(capacity), mask, new, own))
            used = {n: used[n] | mask[n] for n in shapes}
        return cls(config, videos, last)

    @classmethod
    def example(cls) -> PFNRCodec:
        config = PFNRConfig(embed_hw=[1, 2], strides=[2, 2], channels=4, min_channels=2,
                            stem_width=4, frame_levels=2, video_levels=1, fso_block=1,
                            fso_modes=1, mask_unit="kernel")
        gen = torch.Generator().manual_seed(0)
        shared = init_tensors(config.shared_shapes(), gen)
        used = {n: np.zeros(w.shape, bool) for n, w in shared.items()}
        videos = []
        for k in range(2):
            scores = {n: torch.randn(u, generator=gen) for n, u in config.unit_shapes().items()}
            mask = {n: expand_mask(top_fraction(scores[n], 0.5).numpy(), w.shape)
                    for n, w in shared.items()}
            new = {n: quantize_best(w.numpy()[mask[n] & ~used[n]], 8) for n, w in shared.items()
                   if (mask[n] & ~used[n]).any()}
            own = {n: quantize_best(v.numpy() + 0.01, 8)
                   for n, v in init_tensors(config.video_shapes(), gen).items()}
            videos.append(VideoEntry(VideoInfo(7, 3, 2 + k, Fraction(25), (1, 1)), 0.5, mask,
                                     new, own))
            used = {n: used[n] | mask[n] for n in used}
        return cls(config, videos)

    @classmethod
    def video_table(cls, reader: ContainerReader) -> list[dict[str, Any]]:
        """Per video: frames, size, bytes of its sections, bpp, capacity and weights used."""
        lib = cls.from_container(reader)
        out = []
        for k, v in enumerate(lib.videos):
            nbytes = sum(reader.info(f"v{k}.{part}").frame_bytes
                         for part in ("meta", "mask", "new", "own"))
            used = int(sum(m.sum() for m in v.mask.values()))
            out.append({"video": k, "frames": v.info.frames, "width": v.info.width,
                        "height": v.info.height, "bytes": nbytes,
                        "bpp": 8 * nbytes / v.info.pixels(), "capacity": v.capacity,
                        "weights_used": used,
                        "new_weights": int(sum(q.symbols.size for q in v.new.values()))})
        return out

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        """Weights and own tensors stored for the current video and those before it."""
        return sum(sum(q.symbols.size for q in (*v.new.values(), *v.own.values()))
                   for v in self.videos[: self.current + 1])

    def known(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """:func:`known_weights` of the loaded videos (0..current), computed once."""
        if self._known is None:
            self._known = known_weights(self.config, self.videos)
        return self._known

    def render(self, indices: Sequence[int] | None = None, device="cpu", batch: int = 4
               ) -> Iterator[np.ndarray]:
        v = self.videos[self.current]
        indices = range(v.info.frames) if indices is None else indices
        dense, _ = self.known()
        shared = {n: torch.from_numpy(dense[n] * v.mask[n]).to(device) for n in dense}
        own = {n: torch.from_numpy(q.dequantize()).to(device) for n, q in v.own.items()}
        h, w = v.info.height, v.info.width
        with torch.inference_mode():
            for i in range(0, len(indices), batch):
                idx = torch.as_tensor(list(indices[i : i + batch]), dtype=torch.long,
                                      device=device)
                x = inputs(self.config, idx, v.info.frames, self.current)
                out = forward(self.config, shared, own, x)[..., :h, :w]
                frames = (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
                yield from frames.cpu().numpy()


def known_weights(config: PFNRConfig, videos: Sequence[VideoEntry]
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(every shared weight ``videos`` stored, zero elsewhere; the union of their masks)."""
    dense = {n: np.zeros(s, np.float32) for n, s in config.shared_shapes().items()}
    used = {n: np.zeros(s, bool) for n, s in config.shared_shapes().items()}
    for v in videos:
        for n in dense:
            fresh = v.mask[n] & ~used[n]
            if fresh.any():
                dense[n][fresh] = v.new[n].dequantize()
            used[n] |= v.mask[n]
    return dense, used


def _read_masks(payload: bytes, used: dict[str, np.ndarray], units: dict[str, tuple[int, ...]],
                what: str) -> dict[str, np.ndarray]:
    r = ByteReader(payload, what)
    out = {}
    for n, u in used.items():
        size = r.uvarint("mask length", limit=r.remaining)
        unit = decode_mask(r.bytes(size, "mask"), unit_of(u, units[n]), f"{what} ({n})")
        out[n] = expand_mask(unit, u.shape)
    r.expect_end()
    return out
