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

from codec.fit import Budget, Report, Step, Trainer, run, warmup_cosine
from codec.quant import quantize_best
from codec.video.frames import pad_frames, to_float
from codec.video.hnerv.network import plan_strides
from codec.video.meta import VideoInfo
from codec.video.pfnr.codec import PFNRCodec, VideoEntry, known_weights
from codec.video.pfnr.network import PFNRConfig, forward, init_tensors, inputs
from codec.video.pfnr.subnet import freeze, subnet_mask, top_fraction


@dataclass(frozen=True)
class Recipe:
    """Training constants (not options)."""

    lr: float = 5e-3
    """Adam, β = (0.5, 0.999) as the reference; warm-up over 10 % of training, then cosine."""
    batch: int = 2
    """Frames per step."""


RECIPE = Recipe()
WARMUP = 0.1
REPORT_EVERY = 5  # steps between progress reports


def plan_config(width: int, height: int, target: int) -> PFNRConfig:
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
                             fso_block=fso, fso_modes=max(1, min(4, fh // 2, fw // 2 + 1)))
            n = sum(math.prod(s) for s in cfg.shared_shapes().values())
            if n <= target and (best is None or n > best[0]):
                best = (n, cfg)
    if best is None:
        raise ValueError(f"--size {target} is too small for a pfnr network at {width}x{height}")
    return best[1]


class SubnetTrainer(Trainer):
    """One step: a batch of frames (a fresh random order each epoch), MSE of the video's
    masked subnetwork against them, one Adam step. Checkpoints are taken between epochs."""

    def __init__(self, config: PFNRConfig, video: int, target: torch.Tensor,
                 size: tuple[int, int], tensors: dict[str, dict[str, torch.nn.Parameter]],
                 optim: torch.optim.Optimizer, capacity: float, gen: torch.Generator) -> None:
        self.config, self.video, self.target, (self.h, self.w) = config, video, target, size
        self.tensors, self.optim, self.capacity, self.gen = tensors, optim, capacity, gen
        self.count = target.shape[0]
        self.per_epoch = math.ceil(self.count / RECIPE.batch)
        self.safe_every = self.per_epoch  # checkpoints at epochs' ends
        self.batches = iter(())

    def step(self, at: Step) -> dict[str, Any] | None:
        if at.step % self.per_epoch == 0:  # a new epoch: a fresh order of the frames
            self.batches = iter(torch.randperm(self.count, generator=self.gen)
                                .split(RECIPE.batch))
        idx = next(self.batches)
        shared, scores, own = (self.tensors[g] for g in ("shared", "scores", "own"))
        masked = {n: p * subnet_mask(scores[n], self.capacity) for n, p in shared.items()}
        x = inputs(self.config, idx, self.count, self.video)
        pred = forward(self.config, masked, own, x)[..., : self.h, : self.w]
        loss = F.mse_loss(pred, to_float(self.target[idx][..., : self.h, : self.w]))
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if not at.report:
            return None
        return {"epoch": (at.step + 1) // self.per_epoch + 1, "loss": loss.item(),
                "psnr": -10 * math.log10(max(loss.item(), 1e-10))}

    def state(self) -> dict[str, Any]:
        return {**{g: {n: p.detach().clone() for n, p in v.items()}
                   for g, v in self.tensors.items()}, "gen": self.gen.get_state()}

    def load(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for group, values in self.tensors.items():
                for n, p in values.items():
                    p.copy_(state[group][n])
        self.gen.set_state(state["gen"])


def fit_video(config: PFNRConfig, library: PFNRCodec | None, frames: np.ndarray, fps, *,
              epochs: int, time_budget: float | None, capacity: float, bits: int, seed: int,
              report: Report | None = None) -> tuple[VideoEntry, dict[str, Any]]:
    """Fit video ``len(library.videos)`` (or 0) of ``frames`` (T, H, W, 3) uint8 for
    ``epochs`` (or ``time_budget`` seconds), leaving every weight an earlier video uses
    exactly as stored. Its new weights and own tensors are quantized to ``bits``."""
    t, h, w, _ = frames.shape
    out_h, out_w = config.out_size
    k = 0 if library is None else len(library.videos)
    gen = torch.Generator().manual_seed(seed + 7919 * k)
    shapes = config.shared_shapes()
    init = init_tensors(shapes, gen)
    known, used = known_weights(config, []) if library is None else library.known()
    shared = {n: torch.nn.Parameter(torch.where(torch.from_numpy(used[n]),
                                                torch.from_numpy(known[n]), init[n]))
              for n in shapes}
    scores = {n: torch.nn.Parameter(torch.randn(s, generator=gen)) for n, s in shapes.items()}
    own = {n: torch.nn.Parameter(v) for n, v in init_tensors(config.video_shapes(), gen).items()}
    hooks = [freeze(shared[n], torch.from_numpy(used[n])) for n in shapes]
    x = pad_frames(frames, out_h, out_w)  # uint8; a batch at a time goes to float
    optim = torch.optim.Adam([*shared.values(), *scores.values(), *own.values()], lr=RECIPE.lr,
                             betas=(0.5, 0.999))
    tensors = {"shared": shared, "scores": scores, "own": own}
    trainer = SubnetTrainer(config, k, x, (h, w), tensors, optim, capacity, gen)
    budget = Budget.of(epochs * trainer.per_epoch, time_budget)
    result = run(trainer, budget, optim=optim, schedule=warmup_cosine(WARMUP), report=report,
                 report_every=REPORT_EVERY, tag=f"pfnr/{k}")
    for hk in hooks:
        hk.remove()
    mask = {n: top_fraction(scores[n], capacity).numpy() for n in shapes}
    new = {}
    for n in shapes:
        fresh = mask[n] & ~used[n]
        if fresh.any():
            new[n] = quantize_best(shared[n].detach().numpy()[fresh], bits)
    own_q = {n: quantize_best(p.detach().numpy(), bits) for n, p in own.items()}
    info = VideoInfo(w, h, t, Fraction(fps), (out_w - w, out_h - h))
    stats = {"steps": result.steps, "seconds": result.seconds,
             "new_weights": int(sum(q.symbols.size for q in new.values())),
             "reused_weights": int(sum((mask[n] & used[n]).sum() for n in shapes))}
    return VideoEntry(info, capacity, mask, new, own_q), stats
