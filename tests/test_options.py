"""Options dataclasses: docstrings are help, Literal gives choices, checks live in the class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from codec.errors import InputError
from codec.options import ENCODE_ONLY, build, check_bits, parse_count, specs, whole


@dataclass(frozen=True)
class Example:
    size: str = "10k"
    """parameters of the network"""
    epochs: float = 3
    """training
    epochs"""
    loss: Literal["l2", "l1"] = "l2"
    """the loss"""
    bits: int = field(default=8, metadata=ENCODE_ONLY)
    """weight bits"""
    budget: float | None = None

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_bits(self.bits)
        object.__setattr__(self, "epochs", whole(self.epochs, "--epochs", "example"))


def test_specs_read_types_defaults_docstrings_and_choices():
    s = {o.name: o for o in specs(Example)}
    assert list(s) == ["size", "epochs", "loss", "bits", "budget"]
    assert s["size"].help == "parameters of the network" and s["size"].flag == "--size"
    assert s["epochs"].help == "training epochs"  # whitespace folded
    assert s["epochs"].type is float and s["budget"].type is float
    assert s["loss"].choices == ("l2", "l1") and s["loss"].type is str
    assert s["bits"].encode_only and not s["size"].encode_only
    assert s["budget"].help == "" and s["budget"].default is None


def test_build_keeps_defaults_for_none_and_turns_mistakes_into_one_line():
    opts = build(Example, {"size": "20k", "bits": None, "epochs": 4.0})
    assert opts == Example(size="20k", epochs=4) and opts.bits == 8
    with pytest.raises(InputError, match=r"--bits must be in 2\.\.16"):
        build(Example, {"bits": 17})
    with pytest.raises(InputError, match="whole number for example"):
        build(Example, {"epochs": 2.5})
    with pytest.raises(InputError, match="outside"):
        build(Example, {"size": "3"})
    with pytest.raises(InputError, match="--gop: not example options"):
        build(Example, {"gop": 3}, "example")


def test_parse_count():
    assert parse_count("0.1M") == 100_000 and parse_count("50k") == 50_000
    assert parse_count(20000) == 20000
    with pytest.raises(InputError):
        parse_count("lots")
