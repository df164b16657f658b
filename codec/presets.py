"""Speed presets (``--preset fast|medium|slow``, named as x265 names its own) and the encode-time
estimate a user sees before a long encode starts.

A preset sets a video model's ``--epochs`` when neither ``--epochs`` nor ``--time-budget`` was
given: the model's default epochs times the preset's factor, lowered until the estimated encode
fits the preset's time on the reference machine (2 CPU cores). The epochs depend only on the
input's shape, the options and the device kind, never on measured speed, so the same command
writes the same file on every machine (``--seed`` stays a repeatable encode).

The estimate is a time model like the memory model (``codec.memory``): each method states
``epoch_cost`` (seconds of one epoch per pixel of the clip, all frames, at ``cost_params``
parameters, on the reference machine), how the cost grows with its size, and ``measure_cost``
(seconds per pixel of writing the file, decoding it and measuring it); the constants are the
larger of the figures ``tools/bench_presets.py`` measured at 320x136 and 1280x720 (README,
"Encode time"). It is an estimate and says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from codec.options import specs

REFERENCE_THREADS = 2
"""CPU threads of the machine the time model was measured on."""

LONG_SECONDS = 3600.0
"""Encodes estimated to take longer than this print the estimate and a hint first."""


@dataclass(frozen=True)
class Preset:
    factor: float
    """Multiplies the model's default epochs."""
    seconds: float
    """The most an encode may take on the reference machine (fewer epochs when needed)."""


PRESETS = {
    "fast": Preset(0.25, 120.0),
    "medium": Preset(1.0, 600.0),
    "slow": Preset(2.0, 3600.0),
}
DEFAULT = "medium"
CUT = 0.25
"""A preset that keeps fewer than this fraction of the epochs it wanted says so."""


@dataclass(frozen=True)
class Plan:
    """What a preset chose and what the encode is expected to cost."""

    preset: str | None  # None: --epochs or --time-budget was given
    field: str | None  # "epochs" or "steps": the model's budget option (None: neither)
    epochs: float | None  # the epochs (or steps) the encode runs (None: a time budget)
    seconds: float | None  # estimated encode seconds here (None: no time model)
    threads: int  # CPU threads ``seconds`` is for (scaled from the reference machine's)
    wanted: float | None = None  # the preset's epochs before its time cap lowered them

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, self.field or "epochs": self.epochs,
                "estimate_seconds": None if self.seconds is None else round(self.seconds, 1)}


def budget_field(options: type) -> str | None:
    """The option that sets a model's training length (``epochs``, else ``steps``); None when
    it has neither."""
    names = {spec.name for spec in specs(options)}
    return next((f for f in ("epochs", "steps") if f in names), None)


def epoch_seconds(method, pixels: int, params: int) -> float | None:
    """Estimated seconds of one training epoch (or step) on the reference machine for
    ``pixels`` pixels (all frames together) and a network of ``params`` parameters; None
    without a time model."""
    if method.epoch_cost is None:
        return None
    scale = (max(params, 1) / method.cost_params) ** method.cost_exponent
    return method.epoch_cost * pixels * scale


def estimate(method, options: Any, pixels: int, device: str) -> float | None:
    """Estimated reference-machine seconds of a whole encode (None: no time model, or not on
    a CPU: the model is measured on CPUs only)."""
    field = budget_field(type(options))
    per_epoch = epoch_seconds(method, pixels, method.params(options))
    if per_epoch is None or field is None or device != "cpu":
        return None
    if options.time_budget is not None:
        train = float(options.time_budget)
    else:
        train = per_epoch * float(getattr(options, field))
    return train + method.measure_cost * pixels


def choose(method, options: Any, explicit: set[str], pixels: int, device: str,
           preset: str | None, threads: int) -> tuple[Any, Plan]:
    """``options`` with the epochs (or steps) ``preset`` (None: the default) sets, unless
    ``explicit`` (the option names the caller gave) holds them or ``time_budget``; and the
    plan. The epochs depend on the device kind but not on ``threads``."""
    field = budget_field(type(options))
    if field is None:
        return options, Plan(None, None, None, None, threads)
    given = bool({field, "time_budget"} & explicit) or options.time_budget is not None
    name = None if given else (preset or DEFAULT)
    wanted = None
    if name is not None:
        chosen = PRESETS[name]
        epochs = wanted = max(1, round(float(getattr(method.Options(), field)) * chosen.factor))
        per_epoch = epoch_seconds(method, pixels, method.params(options))
        if per_epoch is not None and device == "cpu":
            room = chosen.seconds - method.measure_cost * pixels
            fits = math.floor(100 * room / per_epoch) / 100  # to 0.01 epoch, rounded down
            epochs = max(method.min_epochs, min(epochs, fits if method.min_epochs < 1
                                                else math.floor(fits)))
        kind = {spec.name: spec.type for spec in specs(type(options))}[field]
        options = dataclasses.replace(options, **{field: kind(epochs)})
    seconds = estimate(method, options, pixels, device)
    if seconds is not None:
        seconds *= REFERENCE_THREADS / max(1, threads)
    budget = None if options.time_budget is not None else getattr(options, field)
    return options, Plan(name, field, budget, seconds, threads, wanted)


def hint(plan: Plan, method_name: str) -> str | None:
    """The one-line notice for an encode estimated to run longer than ``LONG_SECONDS``, or
    whose preset had to cut its epochs below ``CUT`` of what it wanted (low quality ahead)."""
    if plan.seconds is None:
        return None
    if plan.seconds <= LONG_SECONDS:
        if plan.wanted is None or plan.epochs >= CUT * plan.wanted:
            return None
        return (f"--preset {plan.preset} runs {plan.epochs:g} of {method_name}'s "
                f"{plan.wanted:g} {plan.field} at this size (about {duration(plan.seconds)} "
                f"on {plan.threads} CPU threads, estimated), so expect low quality; --resize "
                "WxH (smaller frames), --preset slow, --epochs N or a GPU (--device cuda) buy "
                "more")
    how = (f"--preset {plan.preset}" if plan.preset else
           f"--{plan.field} {plan.epochs:g}" if plan.epochs is not None else "--time-budget")
    return (f"this {method_name} encode ({how}) is estimated to take about "
            f"{duration(plan.seconds)} on {plan.threads} CPU threads; for a shorter one use "
            "--preset fast, --time-budget SECONDS, --resize WxH (smaller frames) or a GPU "
            "(--device cuda)")


def duration(seconds: float) -> str:
    """``seconds`` for people: 45 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
