"""Fitting one video of a PFNR library: the widest network ``--size`` allows, then the video's
weights, scores and own tensors trained on the shared fit loop (:func:`codec.fit.run`), every
weight an earlier video uses frozen, with Adam as the reference (β = (0.5, 0.999)), a 10 %
warm-up and a cosine decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codec.fit import Budget, Phase, Report, Step, Trainer, run, warmup_cosine
from codec.quant import quantize_best
from codec.rate import ramp
from codec.video.frames import pad_frames, to_float
from codec.video.hnerv.network import plan_strides
from codec.video.meta import VideoInfo
from codec.video.pfnr.codec import PFNRCodec, VideoEntry, known_weights
from codec.video.pfnr.network import PFNRConfig, expand_mask, forward, init_tensors, inputs
from codec.video.pfnr.rate import SubnetRate
from codec.video.pfnr.subnet import freeze, subnet_mask, top_fraction


@dataclass(frozen=True)
class Recipe:
    """Training constants (not options)."""

    lr: float = 5e-3
    """Adam, β = (0.5, 0.999) as the reference; warm-up over 10 % of training, then cosine."""
    batch: int = 2
    """Frames per step."""
    rate_lr: float = 1e-2
    """Rate–distortion training: Adam learning rate of the steps and densities."""
    ste_fraction: float = 0.1
    """Rate–distortion training: last fraction run with straight-through rounding."""


RECIPE = Recipe()
WARMUP = 0.1
REPORT_EVERY = 5  # steps between progress reports


def plan_config(width: int, height: int, target: int, mask_unit: str = "weight"
                ) -> PFNRConfig:
    """Strides and stem size as HNeRV plans them for this frame, and the widest network whose
    shared tensors hold at most ``target`` weights (each video uses ``capacity`` of them)."""
    strides, embed_hw = plan_strides(width, height, target)
    # the FSO is the second block (the reference puts it early), on an input >= 2 rows high
    fh, fw = embed_hw[0] * strides[0], embed_hw[1] * strides[0]
    fso = 1 if len(strides) > 1 and fh >= 2 else -1
    best = None
    for c in range(8, 257, 4):
        for stem in (32, 64, 128):
            cfg = PFNRConfig(embed_hw=embed_hw, strides=strides, channels=c, stem_width=stem,
                             fso_block=fso, fso_modes=max(1, min(4, fh // 2, fw // 2 + 1)),
                             mask_unit=mask_unit)
            n = sum(math.prod(s) for s in cfg.shared_shapes().values())
            if n <= target and (best is None or n > best[0]):
                best = (n, cfg)
    if best is None:
        raise ValueError(f"--size {target} is too small for a pfnr network at {width}x{height}")
    return best[1]


class SubnetTrainer(Trainer):
    """One step: a batch of frames (a fresh random order each epoch), MSE of the video's
    masked subnetwork against them (plus ``lmbda`` x the estimated bits per pixel of what it
    adds, with ``rate``), one Adam step. Checkpoints are taken between epochs."""

    def __init__(self, config: PFNRConfig, video: int, target: torch.Tensor,
                 size: tuple[int, int], tensors: dict[str, dict[str, torch.nn.Parameter]],
                 optim: torch.optim.Optimizer, capacity: float, gen: torch.Generator,
                 used: dict[str, torch.Tensor], rate: SubnetRate | None = None,
                 lmbda: float = 0.0, batch: int = RECIPE.batch) -> None:
        self.config, self.video, self.target, (self.h, self.w) = config, video, target, size
        self.used = used  # where the library's videos stored weights (frozen here)
        self.tensors, self.optim, self.capacity, self.gen = tensors, optim, capacity, gen
        self.rate, self.lmbda, self.batch = rate, lmbda, batch
        self.count = target.shape[0]
        self.per_epoch = math.ceil(self.count / batch)
        self.safe_every = self.per_epoch  # checkpoints at epochs' ends
        self.batches = iter(())

    def step(self, at: Step) -> dict[str, Any] | None:
        if at.step % self.per_epoch == 0:  # a new epoch: a fresh order of the frames
            self.batches = iter(torch.randperm(self.count, generator=self.gen,
                                               device=self.gen.device).split(self.batch))
        idx = next(self.batches)
        shared, scores, own = (self.tensors[g] for g in ("shared", "scores", "own"))
        masks = {n: expand_mask(subnet_mask(scores[n], self.capacity), p.shape)
                 for n, p in shared.items()}
        bpp = None
        if self.rate is None:
            masked = {n: p * masks[n] for n, p in shared.items()}
        else:  # priced: noise, then straight-through on learned steps
            mode = "ste" if at.phase == "ste" else "noise"
            masked, own, bpp = self.rate(shared, masks, own, mode, self.gen)
        x = inputs(self.config, idx, self.count, self.video)
        pred = forward(self.config, masked, own, x)[..., : self.h, : self.w]
        mse = F.mse_loss(pred, to_float(self.target[idx][..., : self.h, : self.w]))
        loss = mse if bpp is None else mse + ramp(self.lmbda, at.progress) * bpp
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if not at.report:
            return None
        stats = {"epoch": (at.step + 1) // self.per_epoch + 1, "loss": loss.item(),
                 "psnr": -10 * math.log10(max(mse.item(), 1e-10))}
        return stats if bpp is None else {**stats, "bpp": float(bpp.detach())}

    def state(self) -> dict[str, Any]:
        return {**{g: {n: p.detach().clone() for n, p in v.items()}
                   for g, v in self.tensors.items()}, "gen": self.gen.get_state(),
                "rate": None if self.rate is None else self.rate.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self._load_tensors(state, keep_used=False)
        self.gen.set_state(state["gen"])

    def warm_start(self, state: dict[str, Any]) -> None:
        """Train from a state fitted against an older library: weights the library's videos
        use now (another append may have added some) keep their stored values."""
        self._load_tensors(state, keep_used=True)

    def _load_tensors(self, state: dict[str, Any], keep_used: bool) -> None:
        with torch.no_grad():
            for group, values in self.tensors.items():
                for n, p in values.items():
                    saved = state[group][n].to(p.device)
                    if keep_used and group == "shared":
                        saved = torch.where(self.used[n], p, saved)
                    p.copy_(saved)
        if self.rate is not None:
            self.rate.load_state_dict(state["rate"])


def fit_video(config: PFNRConfig, library: PFNRCodec | None, frames: np.ndarray, fps, *,
              epochs: int, time_budget: float | None, capacity: float, bits: int, seed: int,
              lmbda: float = 0.0, device: torch.device | str = "cpu",
              report: Report | None = None, recipe: Recipe = RECIPE
              ) -> tuple[VideoEntry, dict[str, Any]]:
    """Fit video ``len(library.videos)`` (or 0) of ``frames`` (T, H, W, 3) uint8 for
    ``epochs`` (or ``time_budget`` seconds) on ``device``, leaving every weight an earlier
    video uses exactly as stored. Its new weights and own tensors are quantized to ``bits``; with
    ``lmbda`` > 0 they are priced during training and stored on learned steps
    (``codec.video.pfnr.rate``)."""
    t, h, w, _ = frames.shape
    out_h, out_w = config.out_size
    k = 0 if library is None else len(library.videos)
    gen = torch.Generator().manual_seed(seed + 7919 * k)
    shapes = config.shared_shapes()
    init = init_tensors(shapes, gen)
    known, used = known_weights(config, []) if library is None else library.known()
    # initialised on the CPU (the same start on any device), then trained on ``device``
    shared = {n: torch.nn.Parameter(torch.where(torch.from_numpy(used[n]),
                                                torch.from_numpy(known[n]), init[n]).to(device))
              for n in shapes}
    scores = {n: torch.nn.Parameter(torch.randn(s, generator=gen).to(device))
              for n, s in config.unit_shapes().items()}
    own = {n: torch.nn.Parameter(v.to(device))
           for n, v in init_tensors(config.video_shapes(), gen).items()}
    used_t = {n: torch.from_numpy(u).to(device) for n, u in used.items()}
    hooks = [freeze(shared[n], used_t[n]) for n in shapes]
    x = pad_frames(frames, out_h, out_w).to(device)  # uint8; a batch at a time goes to float
    if torch.device(device).type != "cpu":  # orders and noise drawn there, without syncs
        gen = torch.Generator(device=device).manual_seed(seed + 7919 * k)
    groups = [{"params": [*shared.values(), *scores.values(), *own.values()]}]
    rate = None
    if lmbda:
        rate = SubnetRate({n: p.detach() for n, p in shared.items()},
                          {n: p.detach() for n, p in own.items()},
                          used_t, bits, t * h * w).to(device)
        groups += rate.parameter_groups(recipe.rate_lr)
    optim = torch.optim.Adam(groups, lr=recipe.lr, betas=(0.5, 0.999))
    tensors = {"shared": shared, "scores": scores, "own": own}
    trainer = SubnetTrainer(config, k, x, (h, w), tensors, optim, capacity, gen, used_t, rate,
                            lmbda, recipe.batch)
    budget = Budget.of(epochs * trainer.per_epoch, time_budget)
    phases = () if rate is None else (Phase("ste", 1.0 - recipe.ste_fraction),)
    result = run(trainer, budget, optim=optim, schedule=warmup_cosine(WARMUP), phases=phases,
                 report=report, report_every=REPORT_EVERY, tag=f"pfnr/{k}")
    for hk in hooks:
        hk.remove()
    mask = {n: expand_mask(top_fraction(scores[n], capacity).cpu().numpy(), s)
            for n, s in shapes.items()}
    if rate is None:
        def store(name: str, values: torch.Tensor):
            return quantize_best(values.detach().cpu().numpy(), bits)
    else:  # the file stores what training priced, on the learned steps
        store = rate.store
    new = {}
    for n in shapes:
        fresh = mask[n] & ~used[n]
        if fresh.any():
            new[n] = store(n, shared[n].detach().cpu()[torch.from_numpy(fresh)])
    own_q = {n: store(n, p) for n, p in own.items()}
    info = VideoInfo(w, h, t, Fraction(fps), (out_w - w, out_h - h))
    stats = {"steps": result.steps, "seconds": result.seconds,
             "new_weights": int(sum(q.symbols.size for q in new.values())),
             "reused_weights": int(sum((mask[n] & used[n]).sum() for n in shapes))}
    return VideoEntry(info, capacity, mask, new, own_q), stats
