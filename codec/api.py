"""Python API: ``encode_video`` and ``decode_video`` (what the CLI calls)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codec.errors import InputError

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_count(text: str | int | float) -> int:
    """``"0.1M"`` -> 100000, ``"50k"`` -> 50000, ``"20000"`` -> 20000."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _SIZE.match(text)
        if not m:
            raise InputError(f"size must be a count like 0.1M, 50k or 20000, got {text!r}")
        value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if not 1_000 <= value <= 1e9:
        raise InputError(f"size {text!r} is outside 1k..1000M parameters")
    return round(value)


@dataclass
class EncodeResult:
    """What ``encode_video`` measured; every number comes from the written file."""

    path: str
    frames: int
    width: int
    height: int
    params: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    ssim_kind: str
    encode_seconds: float
    train: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "frames",
                "width",
                "height",
                "params",
                "bytes",
                "bpp",
                "psnr",
                "ms_ssim",
                "ssim_kind",
                "encode_seconds",
            )
        } | {"output": self.path}


def encode_video(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start: int = 0,
    max_frames: int | None = None,
    crop: tuple[int, int] | None = None,
    resize: tuple[int, int] | None = None,
    **options: Any,
) -> EncodeResult:
    """Fit HNeRV to a video file, write ``output`` (.nirc), decode it back and measure it.

    ``options`` are those of :func:`encode_clip` (size, epochs, time_budget, bits, ...).
    """
    from codec.video.io import Geometry, read_video

    _check_output(output)
    clip = read_video(
        input, start=start, max_frames=max_frames, geometry=Geometry(crop=crop, resize=resize)
    )
    return encode_clip(clip, output, **options)


def encode_clip(
    clip,
    output: str | os.PathLike,
    *,
    size: str | int = "0.1M",
    epochs: int = 300,
    time_budget: float | None = None,
    bits: int = 8,
    embed_bits: int = 6,
    qat_epochs: int = 0,
    loss: str = "l2",
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    report=None,
) -> EncodeResult:
    """Encode already-decoded frames (a :class:`codec.video.io.Clip`) into ``output``."""
    import torch

    from codec.container import write_container
    from codec.metrics import quality
    from codec.runtime import resolve_device, seed_everything
    from codec.video.hnerv import HNeRVConfig, plan_strides, solve_channels
    from codec.video.hnerv_codec import HNeRVCodec
    from codec.video.train import TrainOptions

    t0 = time.perf_counter()
    target = parse_count(size)
    try:
        opts = TrainOptions(
            epochs=epochs,
            time_budget=time_budget,
            loss=loss,
            qat_epochs=qat_epochs,
            weight_bits=bits,
            embed_bits=embed_bits,
            seed=seed,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for name, b in (("--bits", bits), ("--embed-bits", embed_bits)):
        if not 2 <= b <= 16:
            raise InputError(f"{name} must be in 2..16")
    _check_output(output)
    t, h, w, _ = clip.frames.shape
    torch.set_num_threads(threads or os.cpu_count() or 1)
    seed_everything(seed)
    strides, embed_hw = plan_strides(w, h, target)
    config = solve_channels(HNeRVConfig(strides=strides, embed_hw=embed_hw), t, target)
    codec, stats = HNeRVCodec.fit(
        clip.frames, clip.fps, config, opts, device=resolve_device(device), report=report
    )
    header, sections = codec.to_container()
    nbytes = write_container(output, codec.codec_id, header, sections)
    encode_seconds = time.perf_counter() - t0
    decoded = decode_video(output)  # measure what a user gets: the real decoder on the file
    q = quality(clip.frames, decoded)
    return EncodeResult(
        os.fspath(output),
        t,
        w,
        h,
        codec.params(),
        nbytes,
        8 * nbytes / (t * w * h),
        q.psnr,
        q.ssim,
        q.ssim_kind,
        encode_seconds,
        stats,
    )


def decode_video(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    frames: slice | None = None,
    device: str = "cpu",
) -> np.ndarray | None:
    """Decode a video ``.nirc``. Without ``output``: returns (T, H, W, 3) uint8 frames. With
    ``output`` (directory, .y4m or .mp4): writes them there and returns None."""
    from codec import registry
    from codec.container import ContainerReader
    from codec.runtime import resolve_device
    from codec.video.io import write_frames

    with ContainerReader(path) as reader:
        model = registry.read(reader)
    video = getattr(model, "video", None)
    if video is None:
        raise InputError(f"{path}: holds a {model.name} file, not a video")
    indices = range(video.frames)[frames] if frames is not None else range(video.frames)
    if len(indices) == 0:
        raise InputError(f"{path}: the frame range selects no frames (the file has {video.frames})")
    rendered = model.render(indices, device=resolve_device(device))
    if output is None:
        return np.stack(list(rendered))
    write_frames(output, rendered, video.fps, (video.width, video.height))
    return None


def parse_range(text: str) -> slice:
    """``"A:B"`` (B exclusive), ``"A:"``, ``":B"`` or ``"N"`` (one frame) -> slice."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            return slice(int(a) if a else None, int(b) if b else None)
        n = int(text)
        return slice(n, n + 1)
    except ValueError:
        raise InputError(f"--frames must look like A:B, got {text!r}") from None


def _check_output(output) -> None:
    folder = os.path.dirname(os.path.abspath(os.fspath(output)))
    if os.path.isdir(output):
        raise InputError(f"{output}: is a directory (give a .nirc file path)")
    if not os.path.isdir(folder):
        raise InputError(f"output directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"output directory {folder!r} is not writable")
