"""The ``hnerv`` method (the default video model): its options (the command-line flags) and
how an encode plans and fits it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from codec.method import FitContext, Method
from codec.options import (
    check_bits,
    check_budget,
    check_count,
    check_lmbda,
    parse_count,
    whole,
)
from codec.registry import register_method
from codec.video.hnerv.codec import HNeRVCodec
from codec.video.hnerv.fit import fit_clip
from codec.video.hnerv.network import HNeRVConfig, plan_strides, solve_channels


@dataclass(frozen=True)
class HNeRVOptions:
    size: str = "0.1M"
    """parameter budget (decoder + embeddings), e.g. 0.1M, 50k"""
    epochs: float = 300
    """training epochs"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of epochs"""
    bits: int = 8
    """weight bit depth"""
    embed_bits: int = 6
    """embedding bit depth"""
    qat_epochs: int = 0
    """quantization-aware fine-tuning epochs after training (with --lmbda 0)"""
    loss: Literal["l2", "l1+ssim"] = "l2"
    """training loss"""
    lmbda: float = 1e-3
    """rate weight: train for loss + LMBDA x estimated bits per pixel of the stored weights and
    embeddings, on learned quantization steps (--bits and --embed-bits set the first steps;
    larger = smaller file); 0 = quantize after training"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_bits(self.bits)
        whole(self.epochs, "--epochs", "hnerv")
        check_budget(self.time_budget)
        if self.loss not in ("l2", "l1+ssim"):
            raise ValueError("--loss must be l2 or l1+ssim")
        check_count(self.qat_epochs, "--qat-epochs", 0)
        check_bits(self.embed_bits, "--embed-bits")
        check_lmbda(self.lmbda)
        if self.lmbda and self.qat_epochs:
            raise ValueError("--qat-epochs applies with --lmbda 0 (rate-distortion training "
                             "ends with its own straight-through phase)")


@register_method
class HNeRVMethod(Method):
    name = "hnerv"
    kind = "video"
    codec = HNeRVCodec
    Options = HNeRVOptions
    summary = "conv decoder + frame embeddings"
    default = True
    tiny = {"size": "3k", "epochs": 3.0}
    held_copies = 3
    work_per_pixel = 6000
    # time model (codec.presets), tools/bench_presets.py on the 2-core reference machine
    epoch_cost, cost_params, cost_exponent, measure_cost = 1.1e-6, 100_000, 0.4, 2.6e-6

    def plan(self, shape: tuple[int, ...], options: HNeRVOptions) -> HNeRVConfig:
        frames, height, width = shape
        target = parse_count(options.size)
        strides, embed_hw = plan_strides(width, height, target)
        return solve_channels(HNeRVConfig(strides=strides, embed_hw=embed_hw), frames, target)

    def fit(self, source: Any, config: HNeRVConfig, options: HNeRVOptions,
            ctx: FitContext) -> tuple[HNeRVCodec, dict]:
        return fit_clip(source.frames, source.fps, config, options, ctx)
