"""Python API: what the CLI calls.

    from codec.api import encode_video, decode_video, append_video
    result = encode_video("clip.mp4", "clip.nirc", model="hnerv", size="50k", epochs=100)
    frames = decode_video("clip.nirc")          # (T, H, W, 3) uint8

Model options are keyword arguments named like the command-line flags (``size``, ``epochs``,
``bits``, ``gop``...); each model's options dataclass (``registry.method(name).Options``) lists
them with their help.
"""

from __future__ import annotations

import os
from typing import Any

from codec import encode as pipeline
from codec.decode import collect_frames, decode_video, parse_range
from codec.encode import EncodeResult, check_output_path
from codec.options import parse_count

__all__ = ["EncodeResult", "append_video", "check_output_path", "collect_frames",
           "decode_video", "encode_clip", "encode_video", "parse_count", "parse_range"]


def encode_video(input: str | os.PathLike, output: str | os.PathLike, *,
                 model: str | None = None, start: int = 0, max_frames: int | None = None,
                 crop: tuple[int, int] | None = None, resize: tuple[int, int] | None = None,
                 seed: int = 0, device: str = "auto", threads: int | None = None, report=None,
                 checkpoint_every: float | None = None, resume: bool = False,
                 preset: str | None = None, notice=None, precision: str = "fp32",
                 **options: Any) -> EncodeResult:
    """Fit a model to a video file, write ``output`` (.nirc), decode it back and measure it
    (``codec.encode.encode_video``). Without ``epochs`` or ``time_budget``, ``preset``
    ("fast", "medium" (default), "slow"; codec.presets) sets the epochs. ``precision``
    "bf16" runs the training steps under bfloat16 autocast (codec.fit.precision)."""
    return pipeline.encode_video(input, output, model=model, options=options, start=start,
                                 max_frames=max_frames, crop=crop, resize=resize, seed=seed,
                                 device=device, threads=threads, report=report,
                                 checkpoint_every=checkpoint_every, resume=resume,
                                 preset=preset, notice=notice, precision=precision)


def encode_clip(clip, output: str | os.PathLike, *, model: str | None = None, seed: int = 0,
                device: str = "auto", threads: int | None = None, report=None,
                preset: str | None = None, notice=None, precision: str = "fp32",
                **options: Any) -> EncodeResult:
    """Encode already-decoded frames (a :class:`codec.video.io.Clip`) into ``output``."""
    return pipeline.encode_clip(clip, output, model=model, options=options, seed=seed,
                                device=device, threads=threads, report=report, preset=preset,
                                notice=notice, precision=precision)


def append_video(library: str | os.PathLike, input: str | os.PathLike, *, start: int = 0,
                 max_frames: int | None = None, crop=None, resize=None,
                 output: str | os.PathLike | None = None, seed: int = 0,
                 device: str = "auto", threads: int | None = None, report=None,
                 checkpoint_every: float | None = None, resume: bool = False,
                 preset: str | None = None, notice=None, precision: str = "fp32",
                 wait: float | None = None, **options: Any) -> EncodeResult:
    """Fit one more video into a library file (pfnr), appending its sections in place
    (atomically; earlier bytes unchanged). ``bytes``/``bpp`` of the result are what the append
    added to the file; ``train["library_bytes"]`` is the whole file. One writer at a time:
    while another holds the library, this fails at once (``codec.lock.LockedError``) or, with
    ``wait`` seconds (``math.inf``: no limit), waits for it."""
    return pipeline.append_video(library, input, start=start, max_frames=max_frames, crop=crop,
                                 resize=resize, output=output, options=options, seed=seed,
                                 device=device, threads=threads, report=report,
                                 checkpoint_every=checkpoint_every, resume=resume,
                                 preset=preset, notice=notice, precision=precision,
                                 wait=wait)
