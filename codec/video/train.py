"""Fitting a frame-indexed video model: the HNeRV recipe (Adam, warm-up + cosine per iteration,
batch 2, L2 or L1+SSIM loss), optional quantization-aware fine-tuning of the decoder."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from codec import checkpoint
from codec.quant import fake_quantize, quantize_best

Report = Callable[[float, dict], None]  # (fraction done in [0, 1], stats)


@dataclass
class TrainOptions:
    epochs: int = 300
    time_budget: float | None = None
    """Seconds of training; replaces ``epochs`` (the schedule follows elapsed time)."""
    lr: float = 1e-3
    batch: int = 2
    warmup: float = 0.1
    loss: str = "l2"
    """``l2`` or ``l1+ssim`` (0.7 L1 + 0.3 (1 - SSIM), the reference code's default)."""
    qat_epochs: int = 0
    weight_bits: int = 8
    embed_bits: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in ("l2", "l1+ssim"):
            raise ValueError("loss must be 'l2' or 'l1+ssim'")
        if self.epochs < 1 or self.batch < 1 or self.qat_epochs < 0:
            raise ValueError("epochs and batch must be >= 1, qat epochs >= 0")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError("time budget must be positive")


def lr_at(progress: float, base: float, warmup: float) -> float:
    """Linear warm-up from 0.1 x base over the first ``warmup`` fraction, then cosine to 0."""
    if progress < warmup:
        return base * (0.1 + 0.9 * progress / warmup)
    t = (progress - warmup) / max(1e-12, 1 - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def frame_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "l2":
        return F.mse_loss(pred, target)
    from pytorch_msssim import ssim

    win = 11 if min(pred.shape[-2:]) >= 11 else 3
    return 0.7 * F.l1_loss(pred, target) + 0.3 * (
        1 - ssim(pred, target, data_range=1.0, win_size=win)
    )


def to_float(frames_u8: torch.Tensor) -> torch.Tensor:
    return frames_u8.float().div_(255.0)


def pad_frames(frames: np.ndarray, out_h: int, out_w: int, chunk: int = 16) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, out_h, out_w) uint8, edges replicated into the padding. A
    few frames at a time: a float copy of a whole long clip would not fit in memory."""
    t, h, w, _ = frames.shape
    out = torch.empty((t, 3, out_h, out_w), dtype=torch.uint8)
    for i in range(0, t, chunk):
        x = torch.from_numpy(frames[i : i + chunk]).permute(0, 3, 1, 2).float()
        out[i : i + chunk] = F.pad(x, (0, out_w - w, 0, out_h - h), mode="replicate").to(
            torch.uint8)
    return out


def fit_frames(
    model: torch.nn.Module,
    frames: torch.Tensor,
    valid_hw: tuple[int, int],
    opts: TrainOptions,
    report: Report | None = None,
    stall_check: bool = False,
    tag: str = "fit",
) -> dict:
    """Train ``model`` ((frames, indices) -> frames) on uint8 frames (T, 3, Hp, Wp); the loss
    covers the top-left ``valid_hw`` region (the rest is padding). Returns simple statistics; with
    ``stall_check``, returns early with ``stalled: True`` when the run has not left the
    mean-frame plateau by the end of the warm-up. With an active checkpoint (codec.checkpoint)
    the state is offered at every epoch's end under ``tag`` and restored from it."""
    t_count = frames.shape[0]
    h, w = valid_hw
    gen = torch.Generator().manual_seed(opts.seed)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=(0.9, 0.999))
    steps_per_epoch = math.ceil(t_count / opts.batch)
    total_steps = opts.epochs * steps_per_epoch
    start = time.perf_counter()
    step, epoch, last = 0, 0, {}
    guard = _DivergenceGuard(model, optim)
    first_loss = None
    ckpt = checkpoint.active()
    saved = ckpt.restore(tag) if ckpt else None
    if saved is not None:
        start -= checkpoint.load_training(saved, model, optim, gen)
        guard.load(saved["guard"])
        step, epoch, first_loss = saved["step"], saved["epoch"], saved["first_loss"]

    def state() -> dict:
        return checkpoint.training_state(model, optim, gen, start, guard=guard.state(),
                                         step=step, epoch=epoch, first_loss=first_loss)

    model.train()
    while True:
        order = torch.randperm(t_count, generator=gen)
        epoch_loss = 0.0
        for i in range(0, t_count, opts.batch):
            progress = _progress(step, total_steps, start, opts.time_budget)
            if progress >= 1.0:
                guard.restore_if_worse(epoch_loss / max(1, i // opts.batch))
                return _finish(last, step, epoch, start, guard.recoveries)
            for group in optim.param_groups:
                group["lr"] = lr_at(progress, opts.lr, opts.warmup) * guard.lr_scale
            index = order[i : i + opts.batch]
            target = to_float(frames[index])
            pred = model(target, index)[..., :h, :w]
            loss = frame_loss(pred, target[..., :h, :w], opts.loss)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            epoch_loss += loss.item()
            if report is not None:
                with torch.no_grad():
                    mse = F.mse_loss(pred, target[..., :h, :w]).item()
                last = {
                    "epoch": epoch + 1,
                    "loss": loss.item(),
                    "psnr": -10 * math.log10(max(mse, 1e-10)),
                }
                report(_progress(step, total_steps, start, opts.time_budget), last)
        mean_loss = epoch_loss / steps_per_epoch
        guard.end_epoch(mean_loss)
        epoch += 1
        first_loss = first_loss or mean_loss
        if (
            stall_check
            and epoch >= 3
            and _progress(step, total_steps, start, opts.time_budget) >= opts.warmup
            and mean_loss > first_loss / 2
        ):
            # Still near the mean-frame plateau after the warm-up (< 3 dB better than the
            # first epoch): this initialisation is stuck; the caller restarts with another.
            return {**_finish(last, step, epoch, start, guard.recoveries), "stalled": True}
        if ckpt is not None:
            ckpt.offer(tag, state)


class _DivergenceGuard:
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
        if self.best_state is not None and loss > self.best_loss * 1.5:
            self.model.load_state_dict(self.best_state[0])


def fine_tune_quantized(
    decoder: torch.nn.Module,
    embed: torch.Tensor,
    frames: torch.Tensor,
    valid_hw: tuple[int, int],
    opts: TrainOptions,
    report: Report | None = None,
) -> dict[str, int | None]:
    """Quantization-aware fine-tuning: the decoder sees straight-through weights at the coded
    bit depth and the already-quantized embeddings. Returns each parameter's quantization axis
    (chosen once, before fine-tuning), which the coder must then use."""
    h, w = valid_hw
    names = dict(decoder.named_parameters())
    axes = {
        n: quantize_best(p.detach().cpu().numpy(), opts.weight_bits).axis for n, p in names.items()
    }
    optim = torch.optim.Adam(decoder.parameters(), lr=opts.lr * 0.1)
    gen = torch.Generator().manual_seed(opts.seed + 1)
    t_count = frames.shape[0]
    total = opts.qat_epochs * math.ceil(t_count / opts.batch)
    step = 0
    decoder.train()
    for _ in range(opts.qat_epochs):
        order = torch.randperm(t_count, generator=gen)
        for i in range(0, t_count, opts.batch):
            for group in optim.param_groups:
                group["lr"] = lr_at(step / total, opts.lr * 0.1, 0.0)
            idx = order[i : i + opts.batch]
            weights = {
                n: fake_quantize(p, opts.weight_bits, axes[n], mode="ste") for n, p in names.items()
            }
            pred = decoder(embed[idx], weights)[..., :h, :w]
            target = to_float(frames[idx])[..., :h, :w]
            loss = frame_loss(pred, target, opts.loss)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            if report is not None:
                report(step / total, {"qat": True, "loss": loss.item()})
    return axes


def _progress(step: int, total_steps: int, start: float, budget: float | None) -> float:
    if budget is not None:
        return (time.perf_counter() - start) / budget
    return step / total_steps


def _finish(last: dict, step: int, epoch: int, start: float, recoveries: int) -> dict:
    return {
        **last,
        "steps": step,
        "epochs": epoch,
        "seconds": time.perf_counter() - start,
        "recoveries": recoveries,
    }
