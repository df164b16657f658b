"""The ``hashgrid`` method: its options (the command-line flags) and how an encode plans and
fits it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codec.method import FitContext, Method
from codec.options import check_bits, check_budget, check_lmbda, check_positive, parse_count
from codec.registry import register_method
from codec.video.hashgrid.codec import HashGridCodec
from codec.video.hashgrid.fit import fit_field
from codec.video.hashgrid.network import HashGridVideoConfig, plan_config


@dataclass(frozen=True)
class HashGridOptions:
    size: str = "0.1M"
    """parameter budget (hash table + MLP), e.g. 0.1M, 50k"""
    epochs: float = 20.0
    """passes over all pixels"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of epochs"""
    bits: int = 6
    """bit depth of the widest grid level, the others share its step (with --lmbda: the
    first steps)"""
    lmbda: float = 3e-3
    """rate weight: train for MSE + LMBDA x estimated bits per pixel of the grid, on a learned
    step per level (--bits sets the first ones; larger = smaller file); 0 = quantize after
    training"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_positive(self.epochs, "--epochs")
        check_budget(self.time_budget)
        check_bits(self.bits)
        check_lmbda(self.lmbda)


@register_method
class HashGridMethod(Method):
    name = "hashgrid"
    kind = "video"
    codec = HashGridCodec
    Options = HashGridOptions
    summary = "Instant-NGP-style field, fast to encode"
    tiny = {"size": "8k", "epochs": 2.0}
    held_copies = 3
    work_per_pixel = 1500
    # time model (codec.presets), tools/bench_presets.py on the 2-core reference machine
    epoch_cost, cost_params, cost_exponent, measure_cost = 1.55e-6, 100_000, 0.3, 3.8e-6
    min_epochs = 0.05  # a preset may train for a fraction of a pass

    def plan(self, shape: tuple[int, ...], options: HashGridOptions) -> HashGridVideoConfig:
        _, height, width = shape
        return plan_config(width, height, parse_count(options.size))

    def fit(self, source: Any, config: HashGridVideoConfig, options: HashGridOptions,
            ctx: FitContext) -> tuple[HashGridCodec, dict]:
        return fit_field(source.frames, source.fps, config, epochs=options.epochs,
                         time_budget=options.time_budget, bits=options.bits,
                         lmbda=options.lmbda, seed=ctx.seed,
                         device=ctx.device, report=ctx.report)
