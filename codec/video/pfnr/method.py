"""The ``pfnr`` method: its options (the command-line flags of ``encode`` and ``append``) and
how an encode plans a library and fits its first video, or fits the next video of one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from codec.errors import InputError
from codec.method import FitContext, Method
from codec.options import check_bits, check_budget, check_lmbda, parse_count, whole
from codec.registry import register_method
from codec.video.io import Clip
from codec.video.pfnr.codec import PFNRCodec
from codec.video.pfnr.fit import fit_video, plan_config
from codec.video.pfnr.network import PFNRConfig


@dataclass(frozen=True)
class PFNROptions:
    size: str = "0.3M"
    """parameters of the shared network (each video uses --capacity of them), e.g. 0.3M"""
    epochs: float = 150
    """training epochs (a whole number)"""
    time_budget: float | None = None
    """train for this long (seconds) instead of a number of epochs"""
    capacity: float = 0.3
    """fraction of the shared network the video may use"""
    mask: Literal["kernel", "weight"] = "kernel"
    """what one mask bit selects in the conv blocks: a 3x3 kernel (9x fewer mask bits) or a
    weight (a new library only: appends keep the library's)"""
    bits: int = 8
    """bit depth of its new weights (with --lmbda: sets their first learned steps)"""
    lmbda: float = 3e-3
    """rate weight: loss = MSE + LMBDA x estimated bits per pixel of the weights the video
    adds (larger = smaller file; 0: distortion only, 8-bit weights)"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        whole(self.epochs, "--epochs", "pfnr")
        check_budget(self.time_budget)
        if not 0 < self.capacity <= 1:
            raise ValueError("--capacity must be in (0, 1]")
        check_bits(self.bits)
        check_lmbda(self.lmbda)


@register_method
class PFNRMethod(Method):
    name = "pfnr"
    kind = "video"
    codec = PFNRCodec
    Options = PFNROptions
    summary = "a library of videos in one network, each a masked subnetwork (append adds one)"
    library = True
    tiny = {"size": "20k", "epochs": 2.0}
    held_copies = 3
    work_per_pixel = 6000
    # time model (codec.presets), tools/bench_presets.py on the 2-core reference machine
    epoch_cost, cost_params, cost_exponent, measure_cost = 1.05e-6, 300_000, 1.0, 3.1e-6

    def plan(self, shape: tuple[int, ...], options: PFNROptions) -> PFNRConfig:
        _, height, width = shape
        return plan_config(width, height, parse_count(options.size), options.mask)

    def coded_frames(self, frames: int, options: PFNROptions) -> None:
        return None  # the network is shared by the videos appended later

    def fit(self, source: Clip, config: PFNRConfig, options: PFNROptions, ctx: FitContext
            ) -> tuple[PFNRCodec, dict[str, Any]]:
        """A new library holding ``source`` as video 0."""
        entry, stats = self._fit(config, None, source, options, ctx)
        return PFNRCodec(config, [entry]), {**stats, "params": stats["new_weights"]}

    def append(self, library: PFNRCodec, clip: Clip, options: PFNROptions, ctx: FitContext
               ) -> tuple[PFNRCodec, list, dict[str, Any]]:
        """``clip`` as the next video of ``library``: the library with it current, and its
        sections."""
        _, h, w, _ = clip.frames.shape
        first = library.videos[0].info
        if (first.width, first.height) != (w, h):
            raise InputError(f"the library holds {first.width}x{first.height} videos; this one "
                             f"is {w}x{h} (use --resize {first.width}x{first.height})")
        entry, stats = self._fit(library.config, library, clip, options, ctx)
        index = len(library.videos)
        sections = entry.sections(index, library.known()[1], library.config.unit_shapes())
        codec = PFNRCodec(library.config, [*library.videos, entry])
        return codec, sections, {**stats, "video": index, "params": stats["new_weights"]}

    @staticmethod
    def _fit(config: PFNRConfig, library: PFNRCodec | None, clip: Clip, options: PFNROptions,
             ctx: FitContext):
        return fit_video(config, library, clip.frames, clip.fps, epochs=int(options.epochs),
                         time_budget=options.time_budget, capacity=options.capacity,
                         bits=options.bits, lmbda=options.lmbda, seed=ctx.seed,
                         device=ctx.device, report=ctx.report)
