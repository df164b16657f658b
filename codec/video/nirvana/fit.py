"""Fitting NIRVANA group networks one after another: each group starts from the previous
group's weights (a warm start) and trains against MSE + λ · (estimated bits per pixel), the bits
coming from a learned density over the weights' integer latents (``codec/rate.py``), on the
shared fit loop (:func:`codec.fit.run`): cosine decay to 5 % of every learning rate, noise on
the latents and straight-through rounding over the last part of each group's steps.

A chain is a run of groups fitted in order; its first group starts cold (SIREN init) and trains
``cold_factor`` times longer. Within a chain, groups are priced (and later coded) as residuals
against the previous group's integers, except every ``intra_period``-th group, which is priced
on its own integers so that a decoder can start there (random access).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codec.fit import Budget, Phase, Report, Step, Trainer, cosine, run
from codec.rate import FactorizedDensity, noise, ramp, ste
from codec.video.nirvana.network import (
    NirvanaConfig,
    forward,
    init_weights,
    patch_centres,
    to_patches,
)

CUT_DISTANCE = 0.5  # histogram distance (0..2) between consecutive frames that is a scene cut
REPORT_EVERY = 10  # steps between progress reports
PRIOR_LR = 1e-2  # Adam learning rate of the rate prior's density and of the steps


@dataclass(frozen=True)
class Recipe:
    """Training constants (not options)."""

    cold_factor: float = 4.0
    """A chain's first group (no warm start) trains this many times as long."""
    lr: float = 2e-2
    """Adam learning rate of a cold group (cosine decay to 5 %)."""
    warm_lr: float = 1e-2
    """Adam learning rate of a warm-started group."""
    batch: int = 64
    """Patches per step (all of them when the frame has fewer)."""
    qat_fraction: float = 0.15
    """Last fraction of each group's steps with straight-through rounding instead of noise."""


RECIPE = Recipe()


@dataclass
class ChainState:
    """What a group hands to the next: continuous weights, log-steps, priors and integers."""

    weights: dict[str, torch.Tensor]
    log_steps: dict[str, torch.Tensor]
    intra_prior: FactorizedDensity
    residual_prior: FactorizedDensity
    symbols: dict[str, torch.Tensor] | None = None  # the previous group's integers
    groups: int = 0  # groups fitted so far in this chain
    since_intra: int = 0  # groups since the last intra group (that one included)

    @classmethod
    def cold(cls, config: NirvanaConfig, seed: int) -> ChainState:
        gen = torch.Generator().manual_seed(seed)
        weights = init_weights(config, gen)
        # about 6 bits over each tensor's initial range; the rate term then moves the steps
        log_steps = {n: torch.tensor(math.log(max(float(w.abs().max()), 1e-3) / 32))
                     for n, w in weights.items()}
        torch.manual_seed(seed)  # the priors' initialisation
        return cls(weights, log_steps, FactorizedDensity(), FactorizedDensity())

    def to(self, device: torch.device | str) -> ChainState:
        """This state with its tensors and priors on ``device`` (in place; returns self)."""
        self.weights = {k: v.to(device) for k, v in self.weights.items()}
        self.log_steps = {k: v.to(device) for k, v in self.log_steps.items()}
        self.intra_prior.to(device)
        self.residual_prior.to(device)
        if self.symbols is not None:
            self.symbols = {k: v.to(device) for k, v in self.symbols.items()}
        return self

    def state(self) -> dict:
        """Tensors and numbers only (a checkpoint, codec.checkpoint)."""
        return {"weights": self.weights, "log_steps": self.log_steps,
                "intra_prior": self.intra_prior.state_dict(),
                "residual_prior": self.residual_prior.state_dict(), "symbols": self.symbols,
                "groups": self.groups, "since_intra": self.since_intra}

    def load(self, state: dict) -> None:
        self.weights, self.log_steps = state["weights"], state["log_steps"]
        self.intra_prior.load_state_dict(state["intra_prior"])
        self.residual_prior.load_state_dict(state["residual_prior"])
        self.symbols, self.groups = state["symbols"], state["groups"]
        self.since_intra = state["since_intra"]


@dataclass
class GroupResult:
    symbols: dict[str, np.ndarray]  # int64, shapes of config.param_shapes()
    steps: dict[str, float]  # float32 values
    intra: bool  # priced (and to be coded) on its own integers
    stats: dict


def group_steps(n_patches: int, epochs: float, cold: bool, recipe: Recipe = RECIPE) -> int:
    """Steps of ``epochs`` passes over a group of ``n_patches`` patches (``cold_factor`` times
    as many for a chain's first group)."""
    per_pass = math.ceil(n_patches / min(recipe.batch, n_patches))
    return max(1, round(epochs * per_pass * (recipe.cold_factor if cold else 1.0)))


@dataclass
class GroupData:
    """One group's frames as training targets."""

    target: torch.Tensor  # (n, g, 3, P, P) in [0, 1], padded by replication
    mask: torch.Tensor  # (n, g, 1, P, P): 1 on real pixels
    centres: torch.Tensor  # (n, 2)
    pixels: int  # real pixels (g · H · W)

    @classmethod
    def of(cls, config: NirvanaConfig, frames: np.ndarray, grid: tuple[int, int]) -> GroupData:
        """frames: (g, H, W, 3) uint8, g <= G; grid: (rows, cols) of patches after padding."""
        g = frames.shape[0]
        rows, cols = grid
        p = config.patch
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255)
        h, w = x.shape[-2:]
        pad = (0, cols * p - w, 0, rows * p - h)
        target = to_patches(F.pad(x, pad, mode="replicate"), p)
        mask = to_patches(F.pad(torch.ones(g, 1, h, w), pad), p)
        return cls(target, mask, patch_centres(config, rows, cols), g * h * w)

    def to(self, device: torch.device | str) -> GroupData:
        return GroupData(self.target.to(device), self.mask.to(device), self.centres.to(device),
                         self.pixels)

    def mse(self, pred: torch.Tensor, idx=slice(None)) -> torch.Tensor:
        m = self.mask[idx]
        g = self.target.shape[1]
        return ((pred[:, :g] - self.target[idx]) ** 2 * m).sum() / (m.sum() * 3)


def rounded_mse(config: NirvanaConfig, state: ChainState, data: GroupData) -> float:
    """MSE on ``data`` of the state's weights rounded to their steps (what a decoder gets)."""
    with torch.no_grad():
        weights = {k: torch.round(w / state.log_steps[k].exp()) * state.log_steps[k].exp()
                   for k, w in state.weights.items()}
        return float(data.mse(forward(config, weights, data.centres)))


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over R, G, B of the L1 distance between two frames' 32-bin histograms (each
    normalised to 1): 0 for the same colours, 2 for disjoint ones."""
    def hist(f: np.ndarray) -> np.ndarray:
        h = np.stack([np.bincount(f[..., c].ravel() >> 3, minlength=32) for c in range(3)])
        return h / h.sum(axis=1, keepdims=True)

    return float(np.abs(hist(a) - hist(b)).sum(axis=1).mean())


def is_cut(previous: np.ndarray | None, frames: np.ndarray) -> bool:
    """Whether a scene cut falls between ``previous`` (the last frame of the group before, or
    None) and the end of ``frames`` (g, H, W, 3): then the group restarts the chain. Colour
    histograms and not the previous network's error decide, because with camera motion that
    error grows by 1.2–5.5× between groups of one shot of bikes (and more the longer a network
    trains), while consecutive frames' histograms stay within 0.11 of each other and its cut
    measures 1.42. Warm-starting across that cut left the second shot 7 dB below the first."""
    seq = ([previous] if previous is not None else []) + list(frames)
    return any(histogram_distance(a, b) > CUT_DISTANCE for a, b in itertools.pairwise(seq))


class GroupTrainer(Trainer):
    """One step: a random batch of patches from the group's network with noisy (or, in the
    "ste" phase, straight-through rounded) integer latents, loss = MSE + λ · bits / pixels."""

    def __init__(self, config: NirvanaConfig, state: ChainState, data: GroupData, *,
                 cold: bool, intra: bool, lmbda: float, seed: int, recipe: Recipe) -> None:
        self.config, self.data, self.cold, self.lmbda = config, data, cold, lmbda
        self.batch = min(recipe.batch, data.centres.shape[0])
        self.weights = {k: v.clone().requires_grad_() for k, v in state.weights.items()}
        self.log_steps = {k: v.clone().requires_grad_(cold) for k, v in state.log_steps.items()}
        self.prior = state.intra_prior if intra else state.residual_prior
        self.ref = (None if intra else
                    torch.cat([v.float().ravel() for v in state.symbols.values()]))
        groups = [{"params": list(self.weights.values()),
                   "lr": recipe.lr if cold else recipe.warm_lr},
                  {"params": self.prior.density_parameters(), "lr": PRIOR_LR}]
        if cold:  # steps are learned once per chain, so residuals stay in one integer grid
            groups.append({"params": list(self.log_steps.values()), "lr": PRIOR_LR})
        self.optim = torch.optim.Adam(groups, foreach=True)
        # patches and noise are drawn where the data lives (no copy or sync per step)
        device = data.target.device
        self.gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + state.groups)
        nan = torch.tensor(float("nan"))
        self.last = (nan, nan)  # the last step's MSE and bits (read when the group ends)

    def step(self, at: Step) -> dict[str, Any] | None:
        n, data = self.data.centres.shape[0], self.data
        idx = (torch.randperm(n, generator=self.gen, device=self.gen.device)[: self.batch]
               if self.batch < n else slice(None))
        noisy, latents = {}, []
        for name, wt in self.weights.items():
            s = self.log_steps[name].exp()
            z = wt / s
            zq = ste(z) if at.phase == "ste" else noise(z, self.gen)
            noisy[name] = zq * s
            latents.append(zq.ravel())
        z_all = torch.cat(latents)
        bits = self.prior.bits(z_all if self.ref is None else z_all - self.ref)
        mse = data.mse(forward(self.config, noisy, data.centres[idx]), idx)
        # a cold network first learns the frames, then the rate term comes in (with the full
        # weight from the start, λ = 5e-2 collapsed bikes to the mean colour)
        lam = ramp(self.lmbda, at.progress) if self.cold else self.lmbda
        loss = mse + lam * bits / data.pixels
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.last = (mse.detach(), bits.detach())
        if not at.report:
            return None
        return {"loss": loss.item(), "mse": float(self.last[0]), "bits": float(self.last[1])}


def fit_group(config: NirvanaConfig, state: ChainState, data: GroupData, budget: Budget, *,
              lmbda: float, intra_period: int, seed: int = 0, recipe: Recipe = RECIPE,
              restart: bool = False, report: Report | None = None) -> GroupResult:
    """Fit one group, warm from ``state`` (which it updates), for ``budget``. The chain's first
    group, or any with ``restart``, trains like a fresh chain: full learning rate, steps
    relearned, priced and coded intra; otherwise a group is intra every ``intra_period``."""
    cold = state.groups == 0 or restart
    intra = cold or state.since_intra >= intra_period
    trainer = GroupTrainer(config, state, data, cold=cold, intra=intra, lmbda=lmbda, seed=seed,
                           recipe=recipe)
    result = run(trainer, budget, optim=trainer.optim, schedule=cosine(0.05),
                 phases=(Phase("ste", 1.0 - recipe.qat_fraction),), report=report,
                 report_every=REPORT_EVERY)
    out_steps = {k: float(v.detach().exp().float()) for k, v in trainer.log_steps.items()}
    symbols = {k: torch.round(v.detach() / torch.tensor(out_steps[k], device=v.device))
               .to(torch.int64) for k, v in trainer.weights.items()}
    state.weights = {k: v.detach() for k, v in trainer.weights.items()}
    state.log_steps = {k: v.detach() for k, v in trainer.log_steps.items()}
    state.symbols = symbols
    state.groups += 1
    state.since_intra = 1 if intra else state.since_intra + 1
    stats = {"steps": result.steps, "seconds": result.seconds, "cold": cold,
             "restart": restart, "intra": intra, "train_mse": float(trainer.last[0]),
             "train_bits": float(trainer.last[1]), "mse": rounded_mse(config, state, data)}
    return GroupResult({k: v.cpu().numpy() for k, v in symbols.items()}, out_steps, intra,
                       stats)
