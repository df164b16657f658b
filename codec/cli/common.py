"""Conventions shared by every subcommand: options, JSON output, devices, seeds."""

from __future__ import annotations

import argparse
import json
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


def add_coord_quant(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--coord-quant",
        type=int,
        default=0,
        metavar="N",
        help="sdf: snap coordinates to an N-per-axis lattice before the grid (CQ-NIR); 0 = off",
    )


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("interrupt and resume")
    g.add_argument("--checkpoint-every", type=float, metavar="SECONDS",
                   help="save the training state to OUTPUT.ckpt this often (atomically; "
                   "removed when the encode succeeds)")
    g.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT.ckpt when it exists; an --epochs encode then "
                   "ends with the same file as one never interrupted (same --seed, CPU)")
