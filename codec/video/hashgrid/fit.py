"""Fitting a hash-grid video field: random pixel batches, Adam with Instant-NGP's settings, a
cosine decay to 3 % of the learning rate, and straight-through quantization of the grid over
the last part of training, on the shared fit loop (:func:`codec.fit.run`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from codec.fields.pack import fake_quantize_levels, quantize_field
from codec.fields.rate import GridRate
from codec.fit import Budget, Phase, Report, Step, Sums, Trainer, cosine, run
from codec.rate import ramp
from codec.video.hashgrid.codec import HashGridCodec
from codec.video.hashgrid.network import HashGridVideoConfig, VideoField, pixel_coords
from codec.video.meta import VideoInfo


@dataclass(frozen=True)
class Recipe:
    """Training constants (not options)."""

    batch: int = 1 << 16
    """Pixels per step (at most 1/16 of the clip's pixels, at least 256)."""
    lr: float = 3e-2
    """Adam, β = (0.9, 0.99), ε = 1e-15 (Instant-NGP's); cosine decay to 3 %."""
    qat_fraction: float = 0.1
    """Last fraction of training run with straight-through quantization of the grid."""
    rate_lr: float = 1e-2
    """Rate–distortion training: Adam learning rate of the steps and densities."""


RECIPE = Recipe()
REPORT_EVERY = 10  # steps between progress reports
SAFE_EVERY = 50  # steps between the points where a checkpoint may be taken


class FieldTrainer(Trainer):
    """One step: a random batch of pixels, MSE against their colours, one Adam step."""

    safe_every = SAFE_EVERY

    def __init__(self, field: VideoField, optim: torch.optim.Optimizer, target: torch.Tensor,
                 video: VideoInfo, batch: int, bits: int, gen: torch.Generator,
                 rate: GridRate | None = None, lmbda: float = 0.0) -> None:
        self.field, self.optim, self.target, self.video = field, optim, target, video
        self.batch, self.bits, self.gen = batch, bits, gen
        self.rate, self.lmbda = rate, lmbda
        self.n_pix = target.shape[0]
        self.losses = Sums(1)  # since the last report

    def step(self, at: Step) -> dict[str, Any] | None:
        field = self.field
        idx = torch.randint(0, self.n_pix, (self.batch,), generator=self.gen)
        idx = idx.to(self.target.device)
        coords = pixel_coords(idx, self.video, field.config.time_scale)
        grid_params, bpp = field.grid.params, None
        if self.rate is not None:  # priced: noise, then straight-through on learned steps
            grid_params, bpp = self.rate(field.grid.params,
                                         "ste" if at.phase == "qat" else "noise", self.gen)
        elif at.phase == "qat":
            grid_params = fake_quantize_levels(grid_params, field.grid.config, self.bits)
        pred = field(coords, grid_params)
        loss = torch.nn.functional.mse_loss(pred, self.target[idx].float() / 255.0)
        if bpp is not None:
            loss = loss + ramp(self.lmbda, at.progress) * bpp
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.losses.add(loss)
        if not at.report:
            return None
        (total,), n = self.losses.take()
        mse = total / n
        return {"epoch": round((at.step + 1) * self.batch / self.n_pix, 1), "loss": mse,
                "psnr": -10 * math.log10(max(mse, 1e-10))}

    def state(self) -> dict[str, Any]:
        return {"field": self.field.state_dict(), "gen": self.gen.get_state(),
                "losses": self.losses.state(),
                "rate": None if self.rate is None else self.rate.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self.field.load_state_dict(state["field"])
        self.gen.set_state(state["gen"])
        self.losses.load(state["losses"])
        if self.rate is not None:
            self.rate.load_state_dict(state["rate"])


def fit_field(frames: np.ndarray, fps: Fraction, config: HashGridVideoConfig, *,
              epochs: float = 20.0, time_budget: float | None = None, bits: int = 6,
              lmbda: float = 0.0, seed: int = 0, device: torch.device | str = "cpu",
              report: Report | None = None, recipe: Recipe = RECIPE
              ) -> tuple[HashGridCodec, dict[str, Any]]:
    """frames: (T, H, W, 3) uint8 → (codec, training statistics). Trains for ``epochs``
    passes over all pixels, or ``time_budget`` seconds when given; ``lmbda`` > 0 adds the
    grid's estimated rate to the loss (``codec.fields.rate``)."""
    t, h, w, _ = frames.shape
    video = VideoInfo(w, h, t, fps)
    n_pix = t * h * w
    target = torch.from_numpy(frames).reshape(-1, 3).to(device)  # (T·H·W, 3) uint8
    gen = torch.Generator(device=device).manual_seed(seed)  # pixels and noise drawn there
    torch.manual_seed(seed)
    field = VideoField(config).to(device)
    rate = GridRate(config.grid(), bits, n_pix).to(device) if lmbda else None
    groups = [{"params": [field.grid.params]},
              {"params": [field.mlp.params], "weight_decay": 1e-6}]
    if rate is not None:
        groups += rate.parameter_groups(recipe.rate_lr)
    optim = torch.optim.Adam(groups, lr=recipe.lr, betas=(0.9, 0.99), eps=1e-15)
    # small clips: smaller batches, so a pass over the pixels is still several steps
    batch = max(256, min(recipe.batch, n_pix // 16))
    budget = Budget.of(max(1, math.ceil(epochs * n_pix / batch)), time_budget)
    trainer = FieldTrainer(field, optim, target, video, batch, bits, gen, rate, lmbda)
    result = run(trainer, budget, optim=optim, schedule=cosine(0.03),
                 phases=(Phase("qat", 1.0 - recipe.qat_fraction),), report=report,
                 report_every=REPORT_EVERY, tag="hashgrid")
    stats = {"steps": result.steps, "train_seconds": result.seconds,
             "epochs": result.steps * batch / n_pix, "batch": batch}
    if rate is None:
        return HashGridCodec.from_field(field, video, bits), stats
    _, mlp_q = quantize_field(field.grid, field.mlp, bits)  # the MLP as without λ
    return HashGridCodec(config, video, rate.quantize(field.grid.params), mlp_q), stats
