"""A model's options: one frozen dataclass per model whose fields are its command-line flags.

Each field's docstring (the string literal under it) is the flag's help text, its default the
flag's default, a ``Literal[...]`` annotation its choices; ``__post_init__`` holds the checks,
and nothing else checks these values. :func:`build` turns a mistake into one
:class:`~codec.errors.InputError` line::

    @dataclass(frozen=True)
    class ToyOptions:
        size: str = "10k"
        \"\"\"parameters of the network\"\"\"
        bits: int = 8
        \"\"\"weight bit depth\"\"\"

        def __post_init__(self) -> None:
            check_bits(self.bits)

Fields marked ``field(..., metadata=ENCODE_ONLY)`` apply to ``encode`` but not to ``mesh``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import math
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

from codec.errors import InputError

ENCODE_ONLY = {"encode_only": True}
"""Field metadata: the option is about the stored file (bit depths), not about fitting."""


@dataclass(frozen=True)
class OptionSpec:
    """One option of a model, as the command line shows it."""

    name: str  # the field name (``embed_bits``)
    type: type  # int, float, str or bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    encode_only: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@functools.cache
def specs(options: type) -> tuple[OptionSpec, ...]:
    """The options of a dataclass, in field order, with their docstrings as help."""
    docs: dict[str, str] = {}
    for cls in reversed(options.__mro__):
        if dataclasses.is_dataclass(cls):
            docs.update(_field_docs(cls))
    hints = typing.get_type_hints(options)
    out = []
    for f in dataclasses.fields(options):
        kind, choices = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append(OptionSpec(f.name, kind, default, docs.get(f.name, ""), choices,
                              bool(f.metadata.get("encode_only"))))
    return tuple(out)


def build(options: type, values: dict[str, Any], owner: str = "") -> Any:
    """``options(**values)`` with None values left at their defaults; a bad value is an
    InputError (``owner`` names the model in the message)."""
    given = {k: v for k, v in values.items() if v is not None}
    known = {s.name for s in specs(options)}
    unknown = sorted(set(given) - known)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise InputError(f"{flags}: not {owner + ' ' if owner else ''}options")
    try:
        return options(**given)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def jsonable(opts: Any) -> dict[str, Any]:
    """The options as a JSON object (checkpoint keys, results)."""
    return dataclasses.asdict(opts)


# -- checks shared by several models' options ----------------------------------------------
def check_bits(value: int, flag: str = "--bits") -> None:
    if not (isinstance(value, int) and 2 <= value <= 16):
        raise ValueError(f"{flag} must be in 2..16")


def check_budget(time_budget: float | None) -> None:
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise ValueError("--time-budget must be a positive number of seconds")


def check_lmbda(value: float) -> None:
    """A rate weight (``--lmbda``): a finite number >= 0."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError("--lmbda must be a finite number >= 0")


def whole(value: float, flag: str, owner: str, minimum: int = 1) -> int:
    """``value`` (a float flag that this model takes whole, like ``--epochs``) as an int of
    at least ``minimum``; ValueError otherwise."""
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{flag} must be a whole number for {owner}")
    if value < minimum:
        raise ValueError(f"{flag} must be at least {minimum}")
    return int(value)


def check_count(value: int, flag: str, minimum: int, maximum: int | None = None) -> None:
    """A whole-number option within ``minimum``..``maximum``."""
    if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
            or (maximum is not None and value > maximum)):
        where = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{flag} must be a whole number {where}")


def check_positive(value: float, flag: str) -> None:
    """A finite number > 0."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be a positive number")


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_count(text: str | int | float) -> int:
    """``"0.1M"`` -> 100000, ``"50k"`` -> 50000, ``"20000"`` -> 20000 (1k..1000M)."""
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


# -- reading a dataclass's field docstrings -------------------------------------------------
def _field_docs(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. defined in a REPL): no help text
        return {}
    body = ast.parse(source).body[0].body
    out = {}
    for node, nxt in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            out[node.target.id] = " ".join(nxt.value.value.split())
    return out


def _base_type(hint: Any) -> tuple[type, tuple[Any, ...] | None]:
    """(int | float | str | bool, choices) of a field annotation; Optional is unwrapped."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"option type {hint} is not one type or None")
        return _base_type(args[0])
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        return type(choices[0]), choices
    if hint in (int, float, str, bool):
        return hint, None
    raise TypeError(f"option type {hint} is not int, float, str, bool or a Literal")
