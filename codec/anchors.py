"""Classical codec anchors through FFmpeg (PyAV): encode the same RGB frames, count the bytes
of the elementary stream (sum of packet sizes), decode them back to RGB."""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from codec.errors import InputError

# name -> (FFmpeg encoder, options); presets as stated in VIDEO.md's evaluation conventions
ANCHORS = {
    "x264": ("libx264", {"preset": "medium"}),
    "x264-veryslow": ("libx264", {"preset": "veryslow"}),
    "x265": ("libx265", {"preset": "medium", "x265-params": "log-level=error"}),
    "svtav1": ("libsvtav1", {"preset": "6"}),
}


@dataclass
class AnchorPoint:
    anchor: str
    crf: int
    bytes: int
    encode_seconds: float
    decode_seconds: float
    frames: np.ndarray  # decoded (T, H, W, 3) uint8


def encode_anchor(
    frames: np.ndarray, anchor: str, crf: int, fps: Fraction = Fraction(25)
) -> AnchorPoint:
    """Encode (T, H, W, 3) uint8 RGB frames as yuv420p with ``anchor`` at ``crf``."""
    import av

    if anchor not in ANCHORS:
        raise InputError(f"unknown anchor {anchor!r} (known: {', '.join(ANCHORS)})")
    encoder, options = ANCHORS[anchor]
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
    _, h, w, _ = frames.shape
    if w % 2 or h % 2:
        raise InputError(f"anchors encode yuv420p, which needs even sizes (got {w}x{h})")
    buf = io.BytesIO()
    nbytes = 0
    t0 = time.perf_counter()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {**options, "crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                nbytes += packet.size
                out.mux(packet)
        for packet in stream.encode(None):
            nbytes += packet.size
            out.mux(packet)
    t1 = time.perf_counter()
    buf.seek(0)
    with av.open(buf) as src:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in src.decode(video=0)])
    t2 = time.perf_counter()
    if decoded.shape != frames.shape:
        raise RuntimeError(f"{anchor} decoded {decoded.shape}, expected {frames.shape}")
    return AnchorPoint(anchor, crf, nbytes, t1 - t0, t2 - t1, decoded)


def interpolate_at_rate(bpp: list[float], quality: list[float], target: float) -> float | None:
    """Quality at ``target`` bpp by linear interpolation in log-rate; None outside the range."""
    order = np.argsort(bpp)
    r = np.log(np.asarray(bpp, float)[order])
    q = np.asarray(quality, float)[order]
    x = np.log(target)
    if x < r[0] or x > r[-1]:
        return None
    return float(np.interp(x, r, q))
