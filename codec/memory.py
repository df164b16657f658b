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

BYTES_PER_PARAM = 16
"""float32 weights, their gradients and Adam's two moments."""

# Each method states the rest (codec.method.Method): ``held_copies`` uint8 copies of the
# whole clip, ``work_per_pixel`` bytes per pixel of one frame, ``networks_held`` networks.


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


def encode_estimate(method, frames: int, width: int, height: int, params: int = 0) -> int:
    """Peak bytes an encode with ``method`` (a :class:`codec.method.Method`) of ``frames``
    frames of ``width`` x ``height`` with a network of ``params`` parameters may use."""
    pixels = width * height
    return (BASE + method.held_copies * 3 * frames * pixels + method.work_per_pixel * pixels
            + BYTES_PER_PARAM * method.networks_held * params)


def check_encode(method, frames: int, width: int, height: int, path, params: int = 0) -> None:
    """InputError when the estimate for this encode exceeds the memory available."""
    need = encode_estimate(method, frames, width, height, params)
    have = available_bytes()
    if have is not None and need > have:
        raise InputError(
            f"{path}: encoding {frames} frames of {width}x{height} with {method.name} needs about "
            f"{_gib(need)} of memory, more than the {_gib(have)} available; use --resize "
            "(smaller frames) or --max-frames"
        )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"
