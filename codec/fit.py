"""The one fit loop every model trains with: a budget in steps or seconds, a learning-rate
schedule, named phases, progress reports and checkpoints.

A model describes one optimisation step (:class:`Trainer`); :func:`run` does the rest::

    budget = Budget(steps=800)                      # or Budget(seconds=60.0)
    stats = run(trainer, budget, optim=optim, schedule=cosine(0.05),
                phases=(Phase("ste", 0.9),), report=report, tag="sdf")

Per step: the progress (steps done / steps, or seconds / budget) is computed, the loop stops
when it reaches 1 (after at least ``min_steps`` steps), each optimizer group's learning rate is
set to ``schedule(base, progress)`` (times the trainer's ``lr_scale``), the phase whose start
the progress has reached is named, and the trainer takes one step. With an active checkpoint
(``codec.checkpoint``) the trainer's state is offered at its safe points and restored at the
start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch

from codec import checkpoint

Report = Callable[[float, dict], None]  # (fraction done in [0, 1], stats)
Schedule = Callable[[float, float], float]  # (base learning rate, progress) -> learning rate


@dataclass(frozen=True)
class Budget:
    """How long to train: ``steps`` optimisation steps, or ``seconds`` of wall time."""

    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.seconds is None):
            raise ValueError("a budget is a number of steps or of seconds")

    @classmethod
    def of(cls, steps: int, seconds: float | None) -> Budget:
        """``seconds`` when given (a ``--time-budget``), else ``steps``."""
        return cls(seconds=seconds) if seconds is not None else cls(steps=steps)

    def progress(self, step: int, elapsed: float) -> float:
        if self.seconds is not None:
            return elapsed / self.seconds
        return step / self.steps if self.steps else 1.0


@dataclass(frozen=True)
class Phase:
    """A named part of training that begins once the progress reaches ``start``."""

    name: str
    start: float


@dataclass
class Step:
    """What the loop tells the trainer before a step."""

    step: int  # index of this step (steps taken before it)
    progress: float  # in [0, 1] (1 only for steps forced by ``min_steps``)
    phase: str  # name of the phase the progress is in ("train" before any)
    report: bool = False  # whether this step's statistics will be reported
    done: float = 0.0  # the progress after this step (set once it is taken, in [0, 1])


# -- schedules: each computes its learning rate exactly as the recipe it came from ------------
def warmup_cosine(warmup: float) -> Schedule:
    """Linear warm-up from 0.1 x base over the first ``warmup`` fraction, then cosine to 0
    (HNeRV's recipe)."""

    def lr(base: float, progress: float) -> float:
        if progress < warmup:
            return base * (0.1 + 0.9 * progress / warmup)
        t = (progress - warmup) / max(1e-12, 1 - warmup)
        return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return lr


def cosine(floor: float) -> Schedule:
    """Cosine decay from base to ``floor`` x base."""

    def lr(base: float, progress: float) -> float:
        decay = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return base * (floor + (1 - floor) * decay)

    return lr


def step_decay(milestones: Sequence[float], factor: float) -> Schedule:
    """base, times ``factor`` from each milestone (a fraction of the run) on."""

    def lr(base: float, progress: float) -> float:
        for m in milestones:
            base = base * (factor if progress >= m else 1.0)
        return base

    return lr


class Trainer:
    """One model's optimisation step and the state a checkpoint keeps. Subclasses override
    :meth:`step`; the rest have defaults."""

    safe_every: int = 1
    """Steps between the points where a checkpoint may be taken (see :meth:`safe_point`)."""

    def step(self, at: Step) -> dict[str, Any] | None:
        """One optimisation step; returns statistics for the progress report (or None)."""
        raise NotImplementedError

    def lr_scale(self) -> float:
        """Multiplies the schedule's learning rate (e.g. after a divergence was undone)."""
        return 1.0

    def after_step(self, at: Step) -> bool:
        """Called after each step; True ends training early."""
        return False

    def safe_point(self, at: Step) -> bool:
        """Whether a checkpoint may be taken after this step: every ``safe_every`` steps by
        default (an epoch's end, say)."""
        return (at.step + 1) % self.safe_every == 0

    def state(self) -> dict[str, Any]:
        """Tensors and plain values that :meth:`load` puts back (the optimizer is saved by
        the loop)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be checkpointed")

    def load(self, state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be checkpointed")

    def warm_start(self, state: dict[str, Any]) -> None:
        """Start training from a :meth:`state` saved when what the fit builds on (an append's
        library) was different: by default the saved state as it is; a trainer whose inputs
        may have changed underneath keeps those parts from its own start."""
        self.load(state)


class Sums:
    """Running sums of per-step statistics (scalar tensors), kept where they are computed in
    float64 and read back only when wanted: a training step never waits for the GPU to report
    a loss. Adding float32 values in float64 in step order gives exactly the sums a Python
    float accumulator would."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: torch.Tensor | None = None
        self.count = 0

    def add(self, *values: torch.Tensor) -> None:
        v = torch.stack([x.detach().to(torch.float64).reshape(()) for x in values])
        self.values = v if self.values is None else self.values.to(v.device) + v
        self.count += 1

    def read(self) -> tuple[list[float], int]:
        """(the sums, the steps added) — one host synchronisation."""
        sums = [0.0] * self.n if self.values is None else self.values.tolist()
        return sums, self.count

    def take(self) -> tuple[list[float], int]:
        """:meth:`read`, then start again from zero."""
        out = self.read()
        self.values, self.count = None, 0
        return out

    def state(self) -> dict[str, Any]:
        sums, count = self.read()
        return {"sums": sums, "count": count}

    def load(self, state: dict[str, Any]) -> None:
        self.values = None if not state["count"] else torch.tensor(state["sums"],
                                                                   dtype=torch.float64)
        self.count = state["count"]


@dataclass
class Result:
    steps: int
    seconds: float
    stopped: bool  # ended by ``after_step`` before the budget was spent
    last: dict[str, Any]  # the last reported statistics

    def stats(self) -> dict[str, Any]:
        return {**self.last, "steps": self.steps, "seconds": self.seconds}


PRECISIONS = ("fp32", "bf16")
_PRECISION: ContextVar[tuple[str, str]] = ContextVar("precision", default=("cpu", "fp32"))


@contextmanager
def precision(device_type: str, name: str = "fp32") -> Iterator[None]:
    """The training steps of every fit inside run in ``name``: "fp32", or "bf16" (autocast:
    convolutions and matrix products in bfloat16 on ``device_type``). Parameters, optimizer
    state, quantization steps and the rate's densities (:func:`full_precision`) stay float32,
    and what a fit stores is computed outside the steps, in float32."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r} (choose from {', '.join(PRECISIONS)})")
    token = _PRECISION.set((device_type, name))
    try:
        yield
    finally:
        _PRECISION.reset(token)


def step_precision():
    """The autocast context of one training step under the current :func:`precision`."""
    device, name = _PRECISION.get()
    return torch.autocast(device, dtype=torch.bfloat16, enabled=name == "bf16")


def full_precision():
    """A context in which a step's autocast is off (entropy models and rate terms are
    evaluated in float32 whatever the step's precision)."""
    device, name = _PRECISION.get()
    return nullcontext() if name == "fp32" else torch.autocast(device, enabled=False)


def run(trainer: Trainer, budget: Budget, *, optim=None, schedule: Schedule | None = None,
        phases: Sequence[Phase] = (), report: Report | None = None, report_every: int = 1,
        tag: str | None = None, min_steps: int = 1) -> Result:
    """Train ``trainer`` until ``budget`` is spent (at least ``min_steps`` steps). ``optim``'s
    groups get ``schedule(base, progress)`` before every step, ``base`` being each group's
    learning rate when the loop starts. Reports go out after step 1 and every
    ``report_every`` steps. ``tag`` names the run in a checkpoint (None: not checkpointed)."""
    base = [g["lr"] for g in optim.param_groups] if optim is not None else []
    start = time.perf_counter()
    step, last = 0, {}
    ckpt = checkpoint.active() if tag is not None else None
    saved = ckpt.restore(tag) if ckpt else None
    if saved is not None:
        trainer.load(saved["trainer"])
        if optim is not None:
            optim.load_state_dict(saved["optim"])
        step, last = saved["step"], saved["last"]
        start -= saved["seconds"]
    elif ckpt is not None and (warm := ckpt.take_warm()) is not None:
        trainer.warm_start(warm["trainer"])  # saved against an older base: train again from it

    def state() -> dict[str, Any]:
        return {"trainer": trainer.state(), "step": step, "last": last,
                "optim": optim.state_dict() if optim is not None else None,
                "seconds": time.perf_counter() - start}

    if ckpt is not None:
        ckpt.finished(tag, state)  # what the checkpoint keeps if the encode fails after this
    ordered = sorted(phases, key=lambda p: p.start)
    while True:
        progress = budget.progress(step, time.perf_counter() - start)
        if progress >= 1.0 and step >= min_steps:
            return Result(step, time.perf_counter() - start, False, last)
        progress = min(progress, 1.0)
        if optim is not None and schedule is not None:
            scale = trainer.lr_scale()
            for group, lr in zip(optim.param_groups, base, strict=True):
                group["lr"] = schedule(lr, progress) * scale
        phase = "train"
        for p in ordered:
            if progress >= p.start:
                phase = p.name
        at = Step(step, progress, phase,
                  report is not None and (step == 0 or (step + 1) % report_every == 0))
        with step_precision():
            stats = trainer.step(at)
        step += 1
        at.done = min(budget.progress(step, time.perf_counter() - start), 1.0)
        if stats is not None:
            last = stats
            if at.report:
                report(at.done, stats)
        if trainer.after_step(at):
            return Result(step, time.perf_counter() - start, True, last)
        if ckpt is not None and trainer.safe_point(at):
            ckpt.offer(tag, state)
