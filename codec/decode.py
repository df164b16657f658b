"""Decoding a video ``.nirc`` back into frames, for every registered video codec."""

from __future__ import annotations

import os

import numpy as np

from codec import registry
from codec.container import ContainerReader
from codec.errors import ContainerError, InputError
from codec.runtime import resolve_device
from codec.video.io import write_frames
from codec.video.meta import VideoInfo


def decode_video(path: str | os.PathLike, output: str | os.PathLike | None = None, *,
                 frames: slice | None = None, device: str = "cpu",
                 video: int | None = None) -> np.ndarray | None:
    """Decode a video ``.nirc``. Without ``output``: returns (T, H, W, 3) uint8 frames. With
    ``output`` (directory, .y4m or .mp4): writes them there and returns None. ``video`` picks a
    video of a library file."""
    with ContainerReader(path) as reader:
        entry = registry.by_id(reader.codec_id)
        if entry.kind != "video":
            raise InputError(f"{path}: holds a {entry.name} file, not a video")
        if getattr(entry.cls, "library", False):  # a library: one of its videos
            model = entry.cls.from_container(reader, 0 if video is None else video)
            indices = select(model.video.frames, frames, path)
        elif video not in (None, 0):
            raise InputError(f"{path}: --video picks a video of a library file; this is a "
                             f"{entry.name} file with one video")
        elif getattr(entry.cls, "random_access", False):  # read only the sections needed
            indices = select(VideoInfo.from_dict(reader.header.get("video")).frames, frames,
                             path)
            model = entry.cls.from_container(reader, indices)
        else:
            model = entry.cls.from_container(reader)
            indices = select(model.video.frames, frames, path)
    info = model.video
    rendered = model.render(indices, device=resolve_device(device))
    if output is None:
        return collect_frames(rendered, len(indices), info.height, info.width)
    write_frames(output, rendered, info.fps, (info.width, info.height))
    return None


def collect_frames(frames, count: int, height: int, width: int) -> np.ndarray:
    """(count, H, W, 3) uint8 from a frame iterator, copied into one array as they come: a
    list of rendered frames would keep each one's allocation alive between the renderer's
    large temporaries, and a long clip's heap then grows to several times its size."""
    out = np.empty((count, height, width, 3), np.uint8)
    n = 0
    for n, frame in enumerate(frames, 1):
        out[n - 1] = frame
    if n != count:
        raise ContainerError(f"the decoder gave {n} frames, not {count}")
    return out


def select(total: int, frames: slice | None, path) -> range:
    """Frame indices a ``--frames`` slice picks from ``total``; errors for empty or
    out-of-range selections."""
    if frames is None:
        return range(total)
    stop = frames.stop
    if stop is not None and stop > total:
        raise InputError(f"{path}: --frames ends at {stop}, past the last frame (the file has "
                         f"{total} frames: 0..{total - 1})")
    indices = range(total)[frames]
    if len(indices) == 0:
        raise InputError(f"{path}: the frame range selects no frames (the file has {total})")
    return indices


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
