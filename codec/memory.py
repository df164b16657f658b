"""Memory an encode will need, estimated from the input's headers before any frame is decoded,
and what the machine has. An input that would not fit is refused with the estimate and a hint
(``--resize`` or ``--max-frames``) instead of swapping or being killed half-way.

The estimate is ``BASE`` + the frames each model holds as uint8 + working memory per pixel of
one frame (a training step's activations, a decoded batch). The constants are upper bounds
fitted to peak RSS measured with ``tools/bench_memory.py`` (README, "Memory").
"""

from __future__ import annotations

import os

from codec.errors import InputError

BASE = 900 << 20
"""Interpreter, torch, FFmpeg and the metric libraries, with their thread pools."""

HELD_COPIES = {"hnerv": 3, "hashgrid": 3, "pfnr": 3, "nirvana": 0}
"""uint8 copies of the whole clip a model keeps: the decoded input, its padded training copy
and the frames decoded from the file for measuring quality. nirvana streams (G frames)."""

WORK_PER_PIXEL = {"hnerv": 6000, "hashgrid": 1500, "pfnr": 6000, "nirvana": 5000}
"""Bytes per pixel of one frame for training activations, gradients and decoded batches."""

BYTES_PER_PARAM = 16
"""float32 weights, their gradients and Adam's two moments."""

NETWORKS_HELD = {"nirvana": 2}
"""Networks of ``--size`` parameters in memory at once: a nirvana chain keeps the group before
the one it fits."""


def available_bytes() -> int | None:
    """Memory the machine can give this process now (MemAvailable, or free pages); None when
    the platform does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def encode_estimate(model: str, frames: int, width: int, height: int, params: int = 0) -> int:
    """Peak bytes an encode of ``frames`` frames of ``width`` x ``height`` with a network of
    ``params`` parameters is expected to use."""
    pixels = width * height
    return (BASE + HELD_COPIES[model] * 3 * frames * pixels + WORK_PER_PIXEL[model] * pixels
            + BYTES_PER_PARAM * NETWORKS_HELD.get(model, 1) * params)


def check_encode(model: str, frames: int, width: int, height: int, path,
                 params: int = 0) -> None:
    """InputError when the estimate for this encode exceeds the memory available."""
    need = encode_estimate(model, frames, width, height, params)
    have = available_bytes()
    if have is not None and need > have:
        raise InputError(
            f"{path}: encoding {frames} frames of {width}x{height} with {model} needs about "
            f"{_gib(need)} of memory, more than the {_gib(have)} available; use --resize "
            "(smaller frames) or --max-frames"
        )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"
