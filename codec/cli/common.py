"""Conventions shared by every subcommand: options, JSON output, devices, seeds."""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from codec.errors import InputError


def common_parent(*, output: bool = False, device: bool = False, seed: bool = False):
    """A parent parser with the options a subcommand shares with the others.

    Always: ``--json`` (one JSON object on stdout), ``--quiet`` (no progress), ``--debug``
    (tracebacks). On request: ``-o/--output``, ``--device auto|cpu|cuda``, ``--seed N``.
    """
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output on stderr")
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    if output:
        g.add_argument("-o", "--output", required=True, help="output path")
    if device:
        g.add_argument(
            "--device",
            default="auto",
            choices=("auto", "cpu", "cuda"),
            help="compute device (default: cuda when available)",
        )
    if seed:
        g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


def emit_json(obj: dict[str, Any]) -> None:
    """The single JSON object a ``--json`` run prints on stdout."""
    sys.stdout.write(json.dumps(obj, indent=None, sort_keys=True, allow_nan=False) + "\n")
    sys.stdout.flush()


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed every RNG and ask torch for deterministic kernels (repeatable CPU encodes)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def human_bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n:,} B ({n / 1024:.1f} KiB)"


def size_arg(what: str):
    """argparse type for WIDTHxHEIGHT options (bad values are usage errors, exit 2)."""

    def parse(text: str) -> tuple[int, int]:
        from codec.video.io import parse_size

        try:
            return parse_size(text, what)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse
