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


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("interrupt and resume")
    g.add_argument("--checkpoint-every", type=float, metavar="SECONDS",
                   help="save the training state to OUTPUT.ckpt this often (atomically; "
                   "removed when the encode succeeds)")
    g.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT.ckpt when it exists; an --epochs encode then "
                   "ends with the same file as one never interrupted (same --seed, CPU)")


def add_preset(p: argparse.ArgumentParser) -> None:
    from codec.presets import DEFAULT, PRESETS, duration

    told = ", ".join(f"{name}: {preset.factor:g}x the default epochs, at most "
                     f"{duration(preset.seconds)}" for name, preset in PRESETS.items())
    p.add_argument("--preset", choices=list(PRESETS),
                   help=f"video: speed preset setting --epochs from the frames' size when "
                   f"neither --epochs nor --time-budget is given (default {DEFAULT}; {told} "
                   "on 2 CPU cores, estimated)")


def add_precision(p: argparse.ArgumentParser) -> None:
    from codec.fit import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="of the training steps: fp32 (default) or bf16 (autocast of "
                   "convolutions and matrix products; weights, quantization steps and rate "
                   "models stay fp32)")


def notice_printer(quiet: bool):
    """Where an encode's up-front notices go: one ``nircodec: note:`` line on stderr each
    (nowhere with --quiet)."""
    import sys

    def notice(line: str) -> None:
        if not quiet:
            print(f"nircodec: note: {line}", file=sys.stderr, flush=True)

    return notice


# -- flags derived from the registry's options dataclasses -------------------------------------
BUDGET_FLAGS = ("epochs", "steps", "time_budget")
"""A run's length in epochs, steps or seconds (codec.fit.Budget): one of them at a time."""


def add_method_flags(p: argparse.ArgumentParser, methods, *, mesh: bool = False,
                     skip: tuple[str, ...] = ()) -> None:
    """One flag per option field of ``methods`` (codec.method.Method classes). A flag of one
    method goes in that method's group; a flag several share goes in a common group, its help
    naming each method's meaning. Flags default to absent (argparse.SUPPRESS), so only given
    flags reach :func:`method_options`. ``mesh``: leave out encode-only fields."""
    from codec.options import specs

    owners: dict[str, list[tuple[str, Any]]] = {}
    for m in methods:
        for s in specs(m.Options):
            if s.name not in skip and not (mesh and s.encode_only):
                owners.setdefault(s.name, []).append((m.name, s))
    shared = p.add_argument_group("model options (their meaning and default depend on the "
                                  "model)")
    budget = shared.add_mutually_exclusive_group()
    groups: dict[str, Any] = {}  # model name -> its argument group, made at its first flag
    for name, own in owners.items():
        first = own[0][1]
        if name in BUDGET_FLAGS:
            where = budget
        elif len(own) > 1:
            where = shared
        else:
            if own[0][0] not in groups:
                groups[own[0][0]] = p.add_argument_group(f"{own[0][0]} options")
            where = groups[own[0][0]]
        text = "; ".join(f"{m}: {_help(s)}" for m, s in own)
        kinds = {s.type for _, s in own}
        kind = float if kinds == {int, float} else first.type
        if kind is bool:
            where.add_argument(first.flag, action="store_true", default=argparse.SUPPRESS,
                               help=text)
        else:
            where.add_argument(first.flag, dest=name, type=kind,
                               choices=first.choices if len(own) == 1 else None,
                               metavar="SECONDS" if name == "time_budget" else None,
                               default=argparse.SUPPRESS, help=text)


def _help(spec) -> str:
    default = "" if spec.default is None else f" (default {spec.default})"
    return (spec.help or spec.name.replace("_", " ")) + default


def method_options(args: argparse.Namespace, method, methods, choose: str = "--model"
                   ) -> dict[str, Any]:
    """The flags given for ``method``; InputError naming the flags given that belong to other
    methods only (and which ones)."""
    from codec.options import specs

    mine = {s.name for s in specs(method.Options)}
    others: dict[str, list[str]] = {}
    for m in methods:
        if m is not type(method):
            for s in specs(m.Options):
                if s.name not in mine and hasattr(args, s.name):
                    others.setdefault(s.flag, []).append(m.name)
    if others:
        flags = ", ".join(others)
        owners = sorted({o for names in others.values() for o in names})
        if len(owners) == 1:
            raise InputError(f"{flags}: {owners[0]} options, not {method.name} options (add "
                             f"{choose} {owners[0]})")
        raise InputError(f"{flags}: options of {', '.join(owners)}, not of {method.name}")
    return {k: getattr(args, k) for k in mine if hasattr(args, k)}
