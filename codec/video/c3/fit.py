"""Fitting c3: every group's latent grids, one synthesis network and one context model shared
by all groups, trained for ``MSE + λ · bits per pixel`` on the shared fit loop
(:func:`codec.fit.run`), C3's two phases: soft rounding plus noise with an annealed
temperature, then straight-through rounding (phase "ste"). One step is one group (all its
frames); groups come in a fresh random order each pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from codec.fit import Budget, Phase, Report, Step, Sums, Trainer, cosine, full_precision, run
from codec.quant import quantize_best
from codec.rate import laplace_bits, proxy
from codec.video.c3.context import ContextModel, level_contexts, parent_window, scale_of
from codec.video.c3.network import C3Config, Synthesis, upsample


@dataclass(frozen=True)
class Recipe:
    """Training constants (not options)."""

    lr: float = 1e-2
    """Adam for the networks (C3's), cosine decay to 1 %."""
    latent_lr: float = 1e-1
    """Adam for the latents: C3's 1e-2 needs tens of thousands of steps; on a CPU budget of a
    few hundred steps a group, 1e-2 left bikes' latents at zero (13.8 dB after 40 passes)
    where 1e-1 reached 33.6 dB after 100 (16 frames, λ 1e-3)."""
    ste_from: float = 0.85
    """Progress where soft rounding + noise gives way to straight-through rounding."""
    temperature: tuple[float, float] = (0.3, 0.1)
    """Soft-rounding temperature, annealed geometrically over the first phase."""
    synthesis_bits: int = 8
    """Bit depth of the stored synthesis weights."""


RECIPE = Recipe()
REPORT_EVERY = 5


class Latents(torch.nn.Module):
    """Float latent grids of every group, (T_l, H_l, W_l) per level, finest first."""

    def __init__(self, config: C3Config, group_frames: list[int], height: int, width: int
                 ) -> None:
        super().__init__()
        self.grids = torch.nn.ModuleList(
            torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(s))
                                   for s in config.latent_shapes(n, height, width))
            for n in group_frames)

    def integers(self, group: int) -> list[np.ndarray]:
        return [torch.round(p.detach()).cpu().numpy().astype(np.int64)
                for p in self.grids[group]]


def group_rate(config: C3Config, context: ContextModel, grids: list[torch.Tensor]
               ) -> torch.Tensor:
    """Estimated bits of one group's (proxied) latent grids under the context model."""
    bits, coarser = 0.0, None
    for lv in reversed(range(len(grids))):
        g = grids[lv]
        fine, coarse = config.time_stride(lv), config.time_stride(min(lv + 1, config.levels - 1))
        parent = parent_window(coarser, tuple(g.shape), fine, coarse).to(g.device)
        with full_precision():  # the context model is an entropy model: float32
            mu, s = context(level_contexts(g.float(), parent.float()))
        bits = bits + laplace_bits(g, mu, scale_of(s))
        coarser = g
    return bits


class C3Trainer(Trainer):
    safe_every = 1

    def __init__(self, config: C3Config, frames: torch.Tensor, gop: int, latents: Latents,
                 synthesis: Synthesis, context: ContextModel, optim: torch.optim.Optimizer,
                 lmbda: float, gen: torch.Generator, recipe: Recipe) -> None:
        self.config, self.frames, self.gop = config, frames, gop
        self.latents, self.synthesis, self.context = latents, synthesis, context
        self.optim, self.lmbda, self.gen, self.recipe = optim, lmbda, gen, recipe
        # the rounding noise is drawn where the latents live (a CPU generator cannot fill a
        # CUDA tensor); the group order on the CPU
        self.noise = torch.Generator(device=frames.device).manual_seed(int(
            torch.randint(0, 1 << 62, (1,), generator=gen)))
        self.order: list[int] = []
        self.sums = Sums(2)  # mse, bpp since the last report

    def _next_group(self) -> int:
        if not self.order:
            self.order = torch.randperm(len(self.latents.grids), generator=self.gen).tolist()
        return self.order.pop()

    def step(self, at: Step) -> dict[str, Any] | None:
        g = self._next_group()
        target = self.frames[g * self.gop : (g + 1) * self.gop].float() / 255
        n, h, w = target.shape[0], target.shape[2], target.shape[3]
        first, (t0, t1) = self.recipe.ste_from, self.recipe.temperature
        if at.phase == "ste":
            grids = [proxy(p, "ste") for p in self.latents.grids[g]]
        else:
            temp = t0 * (t1 / t0) ** min(at.progress / first, 1.0)
            grids = [proxy(p, "soft", temperature=temp, gen=self.noise)
                     for p in self.latents.grids[g]]
        pred = self.synthesis(upsample(grids, n, h, w, self.config))
        mse = torch.nn.functional.mse_loss(pred, target)
        bpp = group_rate(self.config, self.context, grids) / (n * h * w)
        loss = mse + self.lmbda * bpp
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.sums.add(mse, bpp)
        if not at.report:
            return None
        (m, b), k = self.sums.take()
        return {"epoch": round((at.step + 1) / len(self.latents.grids), 1),
                "loss": (m + self.lmbda * b) / k, "psnr": -10 * math.log10(max(m / k, 1e-10)),
                "bpp": b / k}

    def state(self) -> dict[str, Any]:
        return {"latents": self.latents.state_dict(), "synthesis": self.synthesis.state_dict(),
                "context": self.context.state_dict(), "gen": self.gen.get_state(),
                "noise": self.noise.get_state(),
                "order": list(self.order), "sums": self.sums.state()}

    def load(self, state: dict[str, Any]) -> None:
        self.latents.load_state_dict(state["latents"])
        self.synthesis.load_state_dict(state["synthesis"])
        self.context.load_state_dict(state["context"])
        self.gen.set_state(state["gen"])
        self.noise.set_state(state["noise"])
        self.order = list(state["order"])
        self.sums.load(state["sums"])


def fit_c3(frames: np.ndarray, config: C3Config, *, lmbda: float, epochs: float,
           time_budget: float | None = None, seed: int = 0, device: Any = "cpu",
           report: Report | None = None, recipe: Recipe = RECIPE
           ) -> tuple[Latents, dict, dict, dict[str, Any]]:
    """frames: (T, H, W, 3) uint8 → (latents, synthesis weights quantized, context model
    integers, statistics)."""
    t, h, w, _ = frames.shape
    gop = config.gop
    sizes = [min(gop, t - s) for s in range(0, t, gop)]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    target = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().to(device)
    latents = Latents(config, sizes, h, w).to(device)
    synthesis = Synthesis(config).to(device)
    context = ContextModel(config).to(device)
    optim = torch.optim.Adam([
        {"params": [*synthesis.parameters(), *context.parameters()]},
        {"params": list(latents.parameters()), "lr": recipe.latent_lr}], lr=recipe.lr)
    trainer = C3Trainer(config, target, gop, latents, synthesis, context, optim, lmbda, gen,
                        recipe)
    budget = Budget.of(max(1, math.ceil(epochs * len(sizes))), time_budget)
    result = run(trainer, budget, optim=optim, schedule=cosine(0.01),
                 phases=(Phase("ste", recipe.ste_from),), report=report,
                 report_every=REPORT_EVERY, tag="c3")
    synth_q = {name: quantize_best(p.detach().cpu().numpy(), recipe.synthesis_bits)
               for name, p in synthesis.named_parameters()}
    stats = {"steps": result.steps, "train_seconds": result.seconds,
             "epochs": result.steps / len(sizes), **{k: v for k, v in result.last.items()
                                                      if k in ("psnr", "bpp")}}
    return latents.cpu(), synth_q, context.integers(), stats
