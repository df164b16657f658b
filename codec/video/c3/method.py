"""The ``c3`` method: its options (the command-line flags) and how an encode plans and fits
it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codec.method import FitContext, Method
from codec.options import check_budget, check_count, check_lmbda, check_positive, parse_count
from codec.registry import register_method
from codec.video.c3.codec import C3Codec
from codec.video.c3.fit import fit_c3
from codec.video.c3.network import C3Config, plan_config
from codec.video.meta import VideoInfo


@dataclass(frozen=True)
class C3Options:
    size: str = "2k"
    """parameters of the synthesis network and context model together (the latents are
    priced by --lmbda instead), e.g. 2k"""
    epochs: float = 300.0
    """passes over all groups of frames (one step a group)"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of epochs"""
    gop: int = 8
    """frames per group (the latent grids' unit and the unit of random access)"""
    lmbda: float = 1e-2
    """rate weight: loss = MSE + LMBDA x estimated bits per pixel of the latents (larger =
    smaller file)"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_positive(self.epochs, "--epochs")
        check_budget(self.time_budget)
        check_count(self.gop, "--gop", 1, 256)
        check_lmbda(self.lmbda)


@register_method
class C3Method(Method):
    name = "c3"
    kind = "video"
    codec = C3Codec
    Options = C3Options
    summary = "latent grids + context model + tiny synthesis (C3/Cool-chic), cheap to decode"
    tiny = {"size": "1k", "epochs": 20.0, "gop": 2}
    held_copies = 3
    work_per_pixel = 6000
    # time model (codec.presets), tools/bench_presets.py on the 2-core reference machine
    epoch_cost, cost_params, cost_exponent, measure_cost = 1.65e-6, 2_000, 0.7, 6.0e-6
    min_epochs = 0.1  # a preset may train for a fraction of a pass

    def plan(self, shape: tuple[int, ...], options: C3Options) -> C3Config:
        return plan_config(parse_count(options.size), gop=options.gop)

    def fit(self, source: Any, config: C3Config, options: C3Options, ctx: FitContext
            ) -> tuple[C3Codec, dict]:
        frames = source.frames
        t, h, w, _ = frames.shape
        latents, synthesis, context, stats = fit_c3(
            frames, config, lmbda=options.lmbda, epochs=options.epochs,
            time_budget=options.time_budget, seed=ctx.seed, device=ctx.device,
            report=ctx.report)
        groups = [latents.integers(g) for g in range(len(latents.grids))]
        codec = C3Codec.from_latents(config, VideoInfo(w, h, t, source.fps), synthesis,
                                     context, groups)
        stats["macs_per_pixel"] = round(config.macs_per_pixel()["total"])
        stats["latents"] = sum(x.size for g in groups for x in g)
        return codec, stats
