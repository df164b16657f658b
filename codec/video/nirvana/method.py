"""The ``nirvana`` method: its options (the command-line flags) and how an encode plans it and
fits it, streaming the frames a group at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codec.errors import InputError
from codec.method import FitContext, Method
from codec.options import (
    check_budget,
    check_count,
    check_lmbda,
    check_positive,
    parse_count,
)
from codec.registry import register_method
from codec.video.meta import VideoInfo
from codec.video.nirvana.chain import fit_all
from codec.video.nirvana.codec import NirvanaCodec
from codec.video.nirvana.network import NirvanaConfig, plan_config


@dataclass(frozen=True)
class NirvanaOptions:
    size: str = "10k"
    """parameters of each group's network, e.g. 10k"""
    epochs: float = 100.0
    """passes over each warm-started group's patches (a chain's first group trains 4x as
    long)"""
    time_budget: float | None = None
    """train for this long (seconds, per worker) instead of a number of epochs"""
    gop: int = 3
    """frames per group"""
    lmbda: float = 3e-3
    """rate weight: loss = MSE + LMBDA x estimated bits per pixel (larger = smaller file)"""
    intra_period: int = 8
    """a group decodable on its own at least every N groups; the others may be coded as
    residuals against the group before"""
    workers: int = 1
    """fit this many chunks of groups in parallel processes"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_positive(self.epochs, "--epochs")
        check_budget(self.time_budget)
        check_count(self.gop, "--gop", 1, 64)
        check_lmbda(self.lmbda)
        check_count(self.intra_period, "--intra-period", 1)
        check_count(self.workers, "--workers", 1, 64)


@register_method
class NirvanaMethod(Method):
    name = "nirvana"
    kind = "video"
    codec = NirvanaCodec
    Options = NirvanaOptions
    summary = "a small network per group of frames, warm-started, random access, streamed"
    streamed = True
    tiny = {"size": "3k", "epochs": 2.0}
    held_copies = 0  # streamed: G frames at a time
    work_per_pixel = 5000
    # time model (codec.presets), tools/bench_presets.py on the 2-core reference machine
    epoch_cost, cost_params, cost_exponent, measure_cost = 3.1e-7, 10_000, 1.0, 2.3e-6
    networks_held = 2  # a chain keeps the group before the one it fits

    def plan(self, shape: tuple[int, ...], options: NirvanaOptions) -> NirvanaConfig:
        return plan_config(parse_count(options.size), gop=options.gop)

    def coded_frames(self, frames: int, options: NirvanaOptions) -> int:
        return min(frames, options.gop)  # --size is one group's network

    def check_run(self, options: NirvanaOptions, *, checkpointing: bool) -> None:
        if checkpointing and options.workers > 1:
            raise InputError("--checkpoint-every and --resume need --workers 1 for nirvana")

    def fit(self, source: Any, config: NirvanaConfig, options: NirvanaOptions,
            ctx: FitContext) -> tuple[NirvanaCodec, dict]:
        results, frames = fit_all(config, options, source, seed=ctx.seed, threads=ctx.threads,
                                  device=ctx.device, report=ctx.report)
        h, w = results[0][1]["height"], results[0][1]["width"]
        p = config.patch
        video = VideoInfo(w, h, frames, source.fps(), (-w % p, -h % p))
        intra = [s["group"] for _, s in results if s["intra"]]
        codec = NirvanaCodec(config, video, intra,
                             {i: payload for i, (payload, _) in enumerate(results)})
        stats = {"groups": [s for _, s in results], "workers": min(options.workers, len(results)),
                 "config": {"siren_width": config.siren_width,
                            "stem_channels": config.stem_channels,
                            "head_channels": config.head_channels}}
        return codec, stats
