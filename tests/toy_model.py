"""A toy video model, registered from inside the test suite (and the example of
docs/adding-a-model.md): each frame is a G x G thumbnail, bilinearly upsampled. Weak, but a real
codec — fitted by the shared fit loop, quantized, entropy-coded, decoded from the file alone.

``register()`` adds it to the registry with a private codec id; ``unregister()`` removes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codec import fit, registry
from codec.container import ContainerReader, Section, SectionKind
from codec.errors import ContainerError
from codec.method import FitContext, Method
from codec.options import check_bits, check_budget, check_count, parse_count
from codec.quant import QuantizedTensor, quantize_best
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.meta import VideoInfo

NAME = "toy"
CODEC_ID = 0xF001  # the private range: never in a released file


# -- config and network ------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyConfig:
    grid: int = 4
    """Thumbnail cells per side."""

    def __post_init__(self) -> None:
        if not 1 <= self.grid <= 256:
            raise ValueError("grid must be in 1..256")


def upsample(cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(T, 3, G, G) -> (T, 3, H, W)."""
    return F.interpolate(cells, size=(height, width), mode="bilinear", align_corners=False)


# -- codec: the file's contents ------------------------------------------------------------------
class ToyCodec:
    def __init__(self, config: ToyConfig, video: VideoInfo, cells: QuantizedTensor) -> None:
        self.config, self.video, self.cells = config, video, cells
        if cells.shape != (video.frames, 3, config.grid, config.grid):
            raise ContainerError("toy: the cells do not match the header")

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": NAME, "config": asdict(self.config), "video": self.video.to_dict()}
        return header, [Section(SectionKind.TENSORS, "cells", pack_tensors({"c": self.cells}))]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> ToyCodec:
        config = registry.config_from_dict(ToyConfig, reader.header.get("config"), "toy config")
        tensors = unpack_tensors(reader.read("cells", SectionKind.TENSORS))
        if set(tensors) != {"c"}:
            raise ContainerError("toy: the cells section must hold one tensor 'c'")
        return cls(config, VideoInfo.from_dict(reader.header.get("video")), tensors["c"])

    @classmethod
    def example(cls) -> ToyCodec:
        cells = quantize_best(np.random.default_rng(0).uniform(0, 1, (2, 3, 2, 2)), 8)
        return cls(ToyConfig(grid=2), VideoInfo(5, 4, 2, Fraction(25)), cells)

    def params(self) -> int:
        return int(np.prod(self.cells.shape))

    def render(self, indices: Sequence[int] | None = None, device="cpu") -> Iterator[np.ndarray]:
        indices = range(self.video.frames) if indices is None else indices
        cells = torch.from_numpy(self.cells.dequantize())
        for i in indices:
            out = upsample(cells[i : i + 1], self.video.height, self.video.width)[0]
            yield (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


# -- method: options, plan and fit -----------------------------------------------------------------
@dataclass(frozen=True)
class ToyOptions:
    size: str = "1k"
    """thumbnail values for the whole clip"""
    steps: int = 40
    """optimisation steps"""
    time_budget: float | None = None
    """train for this many seconds instead"""
    bits: int = 8
    """bit depth of the stored values"""
    smooth: float = 0.0
    """weight of a penalty on differences between consecutive frames' thumbnails"""

    def __post_init__(self) -> None:
        parse_count(self.size)
        check_bits(self.bits)
        check_budget(self.time_budget)
        check_count(self.steps, "--steps", 1)
        if not (math.isfinite(self.smooth) and self.smooth >= 0):
            raise ValueError("--smooth must be a number >= 0")


class _Trainer(fit.Trainer):
    def __init__(self, cells: torch.nn.Parameter, target: torch.Tensor, smooth: float,
                 optim) -> None:
        self.cells, self.target, self.smooth, self.optim = cells, target, smooth, optim

    def step(self, at: fit.Step) -> dict | None:
        h, w = self.target.shape[-2:]
        loss = F.mse_loss(upsample(self.cells, h, w), self.target)
        if self.smooth:
            loss = loss + self.smooth * (self.cells[1:] - self.cells[:-1]).pow(2).mean()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        return {"loss": loss.item()} if at.report else None

    def state(self) -> dict:
        return {"cells": self.cells.detach().clone()}

    def load(self, state: dict) -> None:
        with torch.no_grad():
            self.cells.copy_(state["cells"])


class ToyMethod(Method):
    name = NAME
    kind = "video"
    codec = ToyCodec
    Options = ToyOptions
    summary = "a G x G thumbnail per frame, for tests and docs"
    tiny = {"size": "1k", "steps": 5}
    held_copies, work_per_pixel = 3, 100

    def plan(self, shape: tuple[int, ...], options: ToyOptions) -> ToyConfig:
        frames = shape[0]
        grid = math.isqrt(parse_count(options.size) // (3 * frames))
        if grid < 1:
            raise ValueError(f"--size {options.size} is too small for {frames} frames")
        return ToyConfig(grid=min(grid, 256))

    def fit(self, source, config: ToyConfig, options: ToyOptions, ctx: FitContext):
        t, h, w, _ = source.frames.shape
        target = torch.from_numpy(source.frames).permute(0, 3, 1, 2).float() / 255
        start = F.adaptive_avg_pool2d(target, config.grid)
        cells = torch.nn.Parameter(start.clone())
        optim = torch.optim.Adam([cells], lr=1e-2)
        budget = fit.Budget.of(options.steps, options.time_budget)
        result = fit.run(_Trainer(cells, target, options.smooth, optim), budget, optim=optim,
                         schedule=fit.cosine(0.1), report=ctx.report, tag=NAME)
        q = quantize_best(cells.detach().numpy(), options.bits)
        return ToyCodec(config, VideoInfo(w, h, t, source.fps), q), result.stats()


def register() -> None:
    registry.load_builtin()
    registry.register(NAME, CODEC_ID, ToyConfig, kind="video")(ToyCodec)
    registry.register_method(ToyMethod)


def unregister() -> None:
    registry.unregister(NAME)
