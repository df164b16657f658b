"""Fitting a frame-indexed video model: the HNeRV recipe (Adam, warm-up + cosine per iteration,
batch 2, L2 or L1+SSIM loss), optional quantization-aware fine-tuning of the decoder."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


def fit_frames(
    model: torch.nn.Module,
    frames: torch.Tensor,
    valid_hw: tuple[int, int],
    opts: TrainOptions,
    report: Report | None = None,
) -> dict:
    """Train ``model`` (frames -> frames) on uint8 frames (T, 3, Hp, Wp); the loss covers the
    top-left ``valid_hw`` region (the rest is padding). Returns simple statistics."""
    t_count = frames.shape[0]
    h, w = valid_hw
    gen = torch.Generator().manual_seed(opts.seed)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=(0.9, 0.999))
    steps_per_epoch = math.ceil(t_count / opts.batch)
    total_steps = opts.epochs * steps_per_epoch
    start = time.perf_counter()
    step, epoch, last = 0, 0, {}
    model.train()
    while True:
        order = torch.randperm(t_count, generator=gen)
        for i in range(0, t_count, opts.batch):
            progress = _progress(step, total_steps, start, opts.time_budget)
            if progress >= 1.0:
                return _finish(last, step, epoch, start)
            for group in optim.param_groups:
                group["lr"] = lr_at(progress, opts.lr, opts.warmup)
            target = to_float(frames[order[i : i + opts.batch]])
            pred = model(target)[..., :h, :w]
            loss = frame_loss(pred, target[..., :h, :w], opts.loss)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            if report is not None:
                with torch.no_grad():
                    mse = F.mse_loss(pred, target[..., :h, :w]).item()
                last = {
                    "epoch": epoch + 1,
                    "loss": loss.item(),
                    "psnr": -10 * math.log10(max(mse, 1e-10)),
                }
                report(_progress(step, total_steps, start, opts.time_budget), last)
        epoch += 1


def fine_tune_quantized(
    decoder: torch.nn.Module,
    embed: torch.Tensor,
    frames: torch.Tensor,
    valid_hw: tuple[int, int],
    opts: TrainOptions,
    report: Report | None = None,
) -> None:
    """Quantization-aware fine-tuning: the decoder sees straight-through 8-bit weights (axes
    fixed to what the coder will pick) and the already-quantized embeddings."""
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


def _progress(step: int, total_steps: int, start: float, budget: float | None) -> float:
    if budget is not None:
        return (time.perf_counter() - start) / budget
    return step / total_steps


def _finish(last: dict, step: int, epoch: int, start: float) -> dict:
    return {**last, "steps": step, "epochs": epoch, "seconds": time.perf_counter() - start}
