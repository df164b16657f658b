"""Fitting HNeRV to a clip on the shared fit loop (:func:`codec.fit.run`): the reference recipe
(Adam, warm-up + cosine per iteration, batch 2, L2 or L1+SSIM loss), a restart when an
initialisation stalls, and optional quantization-aware fine-tuning of the decoder."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codec import checkpoint
from codec.fit import Budget, Phase, Step, Sums, Trainer, run, warmup_cosine
from codec.method import FitContext, Report
from codec.options import whole
from codec.quant import fake_quantize, quantize, quantize_best
from codec.rate import ramp
from codec.video.frames import frame_loss, pad_frames, to_float
from codec.video.hnerv.codec import HNeRVCodec
from codec.video.hnerv.network import HNeRV, HNeRVConfig
from codec.video.hnerv.rate import HNeRVRate
from codec.video.meta import VideoInfo


@dataclass(frozen=True)
class Recipe:
    """The reference's training constants (not options)."""

    lr: float = 1e-3
    batch: int = 2
    warmup: float = 0.1
    """Fraction of training spent warming the learning rate up from 0.1 x lr."""
    qat_lr: float = 0.1
    """Fine-tuning's learning rate, as a fraction of ``lr``."""
    rate_lr: float = 1e-2
    """Rate–distortion training: Adam learning rate of the steps and densities."""
    ste_fraction: float = 0.1
    """Rate–distortion training: last fraction run with straight-through rounding."""


RECIPE = Recipe()
REPORT_EVERY = 10
"""Steps between progress reports (the only per-step reads of the loss from the device)."""
MAX_ATTEMPTS = 3  # initialisations tried when a run stalls on the mean-frame plateau


def fit_clip(frames: np.ndarray, fps, config: HNeRVConfig, options: Any, ctx: FitContext,
             recipe: Recipe = RECIPE) -> tuple[HNeRVCodec, dict]:
    """frames: (T, H, W, 3) uint8; ``options``: the method's HNeRVOptions. Returns the
    quantized codec and training statistics."""
    t, h, w, _ = frames.shape
    out_h, out_w = config.out_size
    x = pad_frames(frames, out_h, out_w)
    x = x.to(ctx.device).contiguous(memory_format=torch.channels_last)
    steps = whole(options.epochs, "--epochs", "hnerv") * math.ceil(t / recipe.batch)
    start = time.perf_counter()
    ckpt = checkpoint.active()
    resumed = ckpt.resumed_tag if ckpt else None
    first = int(resumed.split("/")[1]) if resumed and resumed.startswith("hnerv/") else 0
    for attempt in range(first, MAX_ATTEMPTS):
        torch.manual_seed(ctx.seed + attempt)
        model = HNeRV(config, t).to(device=ctx.device, memory_format=torch.channels_last)
        if options.time_budget is None:
            budget = Budget(steps=steps)
        else:
            left = options.time_budget - (time.perf_counter() - start)
            budget = Budget(seconds=max(left, 1e-3))
        rate = (HNeRVRate(model, options.bits, options.embed_bits, t * h * w).to(ctx.device)
                if options.lmbda else None)
        stats = train(model, x, (h, w), budget, options.loss, ctx.seed, recipe, ctx.report,
                      stall_check=attempt + 1 < MAX_ATTEMPTS, tag=f"hnerv/{attempt}",
                      rate=rate, lmbda=options.lmbda)
        if not stats.get("stalled"):
            break
    stats["attempts"] = attempt + 1
    model.eval()
    with torch.no_grad():
        embed = torch.cat([
            model.embed(x[i : i + 8].float() / 255, torch.arange(i, min(i + 8, t)))
            for i in range(0, t, 8)
        ])
    video = VideoInfo(w, h, t, fps, (out_w - w, out_h - h))
    if rate is not None:  # the file stores what training priced, on the learned steps
        decoder_q, embed_q = rate.quantize(model, embed)
        return HNeRVCodec(config, video, decoder_q, embed_q), stats
    embed_q = quantize_best(embed.cpu().numpy(), options.embed_bits)
    axes = None
    if options.qat_epochs:
        embed_hat = torch.from_numpy(embed_q.dequantize()).to(ctx.device)
        axes = fine_tune_quantized(model.decoder, embed_hat, x, (h, w), options, ctx.seed,
                                   recipe, ctx.report)
    decoder_q = {}
    for name, p in model.decoder.named_parameters():
        w_np = p.detach().cpu().numpy()
        decoder_q[name] = (quantize(w_np, options.bits, axes[name]) if axes
                           else quantize_best(w_np, options.bits))
    return HNeRVCodec(config, video, decoder_q, embed_q), stats


def train(model: HNeRV, frames: torch.Tensor, valid_hw: tuple[int, int], budget: Budget,
          loss: str, seed: int, recipe: Recipe = RECIPE, report: Report | None = None,
          stall_check: bool = False, tag: str | None = None, rate: HNeRVRate | None = None,
          lmbda: float = 0.0) -> dict:
    """Train ``model`` on uint8 frames (T, 3, Hp, Wp) for ``budget``; the loss covers the
    top-left ``valid_hw`` region (the rest is padding). With ``stall_check`` it stops early
    (``stalled: True`` in the statistics) when the run has not left the mean-frame plateau by
    the end of the warm-up. ``tag`` names the run in a checkpoint. With ``rate``, the loss adds
    ``lmbda`` x the estimated bits per pixel of what the file will store."""
    groups = [{"params": list(model.parameters()), "lr": recipe.lr}]
    if rate is not None:
        groups += rate.parameter_groups(recipe.rate_lr)
    optim = torch.optim.Adam(groups, lr=recipe.lr, betas=(0.9, 0.999))
    trainer = FrameTrainer(model, optim, frames, valid_hw, loss, seed, recipe, stall_check,
                           rate, lmbda)
    model.train()
    phases = () if rate is None else (Phase("ste", 1.0 - recipe.ste_fraction),)
    result = run(trainer, budget, optim=optim, schedule=warmup_cosine(recipe.warmup),
                 phases=phases, report=report, report_every=REPORT_EVERY, tag=tag)
    if not trainer.stalled:
        (epoch_loss,), steps = trainer.epoch_loss.read()
        trainer.guard.restore_if_worse(epoch_loss / max(1, steps))
    stats = {**result.last, "steps": result.steps, "epochs": trainer.epoch,
             "seconds": result.seconds, "recoveries": trainer.guard.recoveries}
    return {**stats, "stalled": True} if trainer.stalled else stats


class FrameTrainer(Trainer):
    """HNeRV's steps: each epoch visits the frames in a fresh random order (from its own
    seeded generator), ``batch`` at a time. At each epoch's end the divergence guard sees the
    mean loss and, with ``stall_check``, a run still on the plateau ends early."""

    def __init__(self, model: HNeRV, optim: torch.optim.Optimizer, frames: torch.Tensor,
                 valid_hw: tuple[int, int], loss: str, seed: int, recipe: Recipe,
                 stall_check: bool, rate: HNeRVRate | None = None, lmbda: float = 0.0) -> None:
        self.model, self.optim, self.frames, self.valid_hw = model, optim, frames, valid_hw
        self.loss, self.recipe, self.stall_check = loss, recipe, stall_check
        self.gen = torch.Generator().manual_seed(seed)
        self.steps_per_epoch = math.ceil(frames.shape[0] / recipe.batch)
        self.guard = DivergenceGuard(model, optim)
        self.order = torch.empty(0, dtype=torch.long)
        self.pos = 0  # steps taken in the current epoch
        self.epoch = 0  # epochs completed
        self.epoch_loss = Sums(1)  # the current epoch's step losses (read at its end)
        self.first_loss: float | None = None  # the first epoch's mean loss
        self.stalled = False
        self.rate, self.lmbda = rate, lmbda
        # quantization noise, drawn where the frames live (no copy or sync per step)
        self.noise = torch.Generator(device=frames.device).manual_seed(seed + 2)

    def step(self, at: Step) -> dict[str, Any] | None:
        if self.pos == 0:
            self.order = torch.randperm(self.frames.shape[0], generator=self.gen)
        h, w = self.valid_hw
        b = self.recipe.batch
        index = self.order[self.pos * b : (self.pos + 1) * b]
        target = to_float(self.frames[index])
        if self.rate is None:
            pred = self.model(target, index)[..., :h, :w]
            loss = frame_loss(pred, target[..., :h, :w], self.loss)
        else:
            mode = "ste" if at.phase == "ste" else "noise"
            pred, bpp = self.rate(self.model, target, index, mode, self.noise)
            pred = pred[..., :h, :w]
            loss = (frame_loss(pred, target[..., :h, :w], self.loss)
                    + ramp(self.lmbda, at.progress) * bpp)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.pos += 1
        self.epoch_loss.add(loss)
        if not at.report:
            return None
        with torch.no_grad():
            mse = F.mse_loss(pred, target[..., :h, :w]).item()
        stats = {"epoch": self.epoch + 1, "loss": loss.item(),
                 "psnr": -10 * math.log10(max(mse, 1e-10))}
        return stats if self.rate is None else {**stats, "bpp": float(bpp.detach())}

    def lr_scale(self) -> float:
        return self.guard.lr_scale

    def after_step(self, at: Step) -> bool:
        if self.pos < self.steps_per_epoch:
            return False
        (total,), _ = self.epoch_loss.take()
        mean_loss = total / self.steps_per_epoch
        self.pos = 0
        self.guard.end_epoch(mean_loss)
        self.epoch += 1
        self.first_loss = self.first_loss or mean_loss
        # Still near the mean-frame plateau after the warm-up (< 3 dB better than the first
        # epoch): this initialisation is stuck; the caller restarts with another.
        self.stalled = (self.stall_check and self.epoch >= 3 and at.done >= self.recipe.warmup
                        and mean_loss > self.first_loss / 2)
        return self.stalled

    def safe_point(self, at: Step) -> bool:
        return self.pos == 0  # an epoch's end

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "gen": self.gen.get_state(),
                "guard": self.guard.state(), "epoch": self.epoch, "first_loss": self.first_loss,
                "noise": self.noise.get_state(),
                "rate": None if self.rate is None else self.rate.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.gen.set_state(state["gen"])
        self.guard.load(state["guard"])
        self.epoch, self.first_loss = state["epoch"], state["first_loss"]
        self.noise.set_state(state["noise"])
        if self.rate is not None:
            self.rate.load_state_dict(state["rate"])


class DivergenceGuard:
    """Undo training blow-ups: when an epoch's mean loss exceeds twice the best epoch's, go
    back to the best weights and optimizer state and halve the learning rate from then on.
    Small networks trained with batch 2 occasionally jump into a dead state (outputs stuck
    at the mean frame) that costs more than the lost epoch to climb out of."""

    def __init__(self, model: torch.nn.Module, optim: torch.optim.Optimizer) -> None:
        self.model, self.optim = model, optim
        self.best_loss = math.inf
        self.best_state = None
        self.lr_scale = 1.0
        self.recoveries = 0

    def end_epoch(self, loss: float) -> None:
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_state = (
                copy.deepcopy(self.model.state_dict()),
                copy.deepcopy(self.optim.state_dict()),
            )
        elif loss > 2 * self.best_loss and self.best_state is not None:
            self.model.load_state_dict(self.best_state[0])
            self.optim.load_state_dict(self.best_state[1])
            self.lr_scale *= 0.5
            self.recoveries += 1

    def state(self) -> dict:
        return {"best_loss": self.best_loss, "lr_scale": self.lr_scale,
                "recoveries": self.recoveries,
                "best": None if self.best_state is None else list(self.best_state)}

    def load(self, state: dict) -> None:
        self.best_loss, self.lr_scale = state["best_loss"], state["lr_scale"]
        self.recoveries = state["recoveries"]
        self.best_state = None if state["best"] is None else tuple(state["best"])

    def restore_if_worse(self, loss: float) -> None:
        """At the end of training: back to the best weights when the last (partial) epoch's
        mean ``loss`` is well above the best."""
        if self.best_state is not None and loss > self.best_loss * 1.5:
            self.model.load_state_dict(self.best_state[0])


def fine_tune_quantized(decoder: torch.nn.Module, embed: torch.Tensor, frames: torch.Tensor,
                        valid_hw: tuple[int, int], options: Any, seed: int,
                        recipe: Recipe = RECIPE, report: Report | None = None
                        ) -> dict[str, int | None]:
    """Quantization-aware fine-tuning for ``options.qat_epochs`` epochs: the decoder sees
    straight-through weights at the coded bit depth (``options.bits``) and the already-quantized
    embeddings (T, d, h, w). Returns each parameter's quantization axis (chosen once, before
    fine-tuning), which the coder must then use."""
    trainer = QATTrainer(decoder, embed, frames, valid_hw, options.bits, options.loss, seed,
                         recipe)
    decoder.train()
    run(trainer, Budget(steps=options.qat_epochs * trainer.steps_per_epoch),
        optim=trainer.optim, schedule=warmup_cosine(0.0), report=report)
    return trainer.axes


class QATTrainer(Trainer):
    """Fine-tuning steps on straight-through quantized weights (their axes fixed before the
    first step), a fresh frame order per epoch (generator seeded with ``seed + 1``)."""

    def __init__(self, decoder: torch.nn.Module, embed: torch.Tensor, frames: torch.Tensor,
                 valid_hw: tuple[int, int], bits: int, loss: str, seed: int,
                 recipe: Recipe) -> None:
        self.decoder, self.embed, self.frames, self.valid_hw = decoder, embed, frames, valid_hw
        self.bits, self.loss, self.batch = bits, loss, recipe.batch
        self.names = dict(decoder.named_parameters())
        self.axes = {n: quantize_best(p.detach().cpu().numpy(), bits).axis
                     for n, p in self.names.items()}
        self.optim = torch.optim.Adam(decoder.parameters(), lr=recipe.lr * recipe.qat_lr)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.steps_per_epoch = math.ceil(frames.shape[0] / recipe.batch)
        self.order = torch.empty(0, dtype=torch.long)
        self.pos = 0  # steps taken in the current epoch

    def step(self, at: Step) -> dict[str, Any]:
        if self.pos == 0:
            self.order = torch.randperm(self.frames.shape[0], generator=self.gen)
        h, w = self.valid_hw
        idx = self.order[self.pos * self.batch : (self.pos + 1) * self.batch]
        weights = {n: fake_quantize(p, self.bits, self.axes[n], mode="ste")
                   for n, p in self.names.items()}
        pred = self.decoder(self.embed[idx], weights)[..., :h, :w]
        target = to_float(self.frames[idx])[..., :h, :w]
        loss = frame_loss(pred, target, self.loss)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.pos = (self.pos + 1) % self.steps_per_epoch
        return {"qat": True, "loss": loss.item()}
