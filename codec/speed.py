"""Measuring training and decoding speed through the real pipeline, for the time model of the
speed presets (tools/bench_presets.py) and the GPU table (tools/bench_gpu.py).

One epoch's cost is the difference of two encodes of the same clip at two epoch counts divided
by the difference of the counts: the fixed costs (planning, writing, decoding the file and
measuring it) cancel, and every encode is a real one (file written and decoded).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from codec.decode import decode_video
from codec.encode import encode_clip
from codec.presets import budget_field
from codec.registry import method as get_method


@dataclass(frozen=True)
class Speed:
    model: str
    params: int
    pixels: int  # all frames together
    epoch_seconds: float  # one training epoch (or step, for a steps model)
    fixed_seconds: float  # planning, writing, decoding and measuring
    decode_fps: float  # frames per second of decoding the file (entropy decoding included)
    psnr: float  # of the longer encode

    @property
    def per_mpix(self) -> float:
        """Seconds of one epoch per megapixel of the clip."""
        return self.epoch_seconds / self.pixels * 1e6


def measure(clip, model: str, options: dict[str, Any], epochs: tuple[float, float], *,
            device: str = "cpu", threads: int | None = None, precision: str = "fp32"
            ) -> Speed:
    """Time ``model``'s encodes of ``clip`` (a codec.video.io.Clip) at ``epochs[0]`` and
    ``epochs[1]`` epochs (``options`` give the rest), and the decoding of the second file."""
    method = get_method(model, "video")
    field = budget_field(method.Options) or "epochs"
    low, high = epochs
    totals, trains = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "speed.nirc")
        for n in (low, high):
            t0 = time.perf_counter()
            result = encode_clip(clip, out, model=model, options={**options, field: n},
                                 device=device, threads=threads, precision=precision)
            totals.append(time.perf_counter() - t0)
            trains.append(result.encode_seconds)
        t0 = time.perf_counter()
        frames = decode_video(out, device=device)
        decode = time.perf_counter() - t0
    per_epoch = max(trains[1] - trains[0], 1e-9) / (high - low)
    t, h, w = clip.frames.shape[:3]
    params = method.params(method.Options(**{k: v for k, v in options.items()
                                            if v is not None}))
    return Speed(model, params, t * h * w, per_epoch, totals[0] - per_epoch * low,
                 len(frames) / decode, result.psnr)
