"""Hash-grid neural SDF fitted with the Neural-Pull loss (Ma et al., ICML 2021) on a tcnn-exact
hash grid + small MLP (``recon.neural``), with CQ-NIR coordinate quantization as an option.

Loss: ``‖q − f(q)·∇f(q)/‖∇f(q)‖ − t‖`` for near-surface queries q and their nearest input points
t, plus ``w_surface · f(t)²`` and an optional eikonal term ``(‖∇f(q)‖ − 1)²``. ∇f is taken by
central differences (step ``fd_step``) rather than double backward: the hash grid's backward is
first-order only, and differences of a piecewise-trilinear field are what Neuralangelo found to
train hash-grid SDFs best. The field starts as a sphere (``sphere_prior``) and is first
regressed, in the ``warmup`` phase (the first quarter of the run), onto GridPull's signed first
guess (a closing of the points, ``recon.gridpull.signed_init``), so its sign is right
everywhere — far from the points too, where Neural-Pull's queries never go (from the sphere
alone, 300 steps left spurious sheets: CD-L1 0.054 on spot). The guess is only a training
target; decoders never need it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from codec.fit import Budget, Phase, Report, Step, cosine, run
from recon.gridpull.fit import signed_init
from recon.meshing import grid_field
from recon.neural import FieldTrainer, SurfaceField, SurfaceFieldConfig, plan_field
from recon.sampling import QueryPool

_OFFSETS = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                        dtype=torch.float32)


@dataclass(frozen=True)
class Recipe:
    """The SDF's training recipe (not options: tuned once, README)."""

    batch: int = 4096
    lr: float = 1e-2
    """Adam (0.9, 0.99, 1e-15), cosine decay to 5 %."""
    w_surface: float = 1.0
    w_eikonal: float = 0.0
    """Eikonal weight; 0 = off (see README for the measurement)."""
    fd_step: float = 2e-3
    """Central-difference step for ∇f (normalised units; ~half the finest cell)."""
    warmup: float = 0.25
    """Fraction of the run spent regressing onto the signed first guess."""
    sigma_k: int = 50
    sigma_max: float = 0.05


RECIPE = Recipe()
SCHEDULE = cosine(0.05)
REPORT_EVERY = 10
"""Steps between the points where a checkpoint may be taken."""


def field_config(size: int, coord_quant: int = 0) -> SurfaceFieldConfig:
    """The largest field within ``size`` parameters (ValueError when none fits)."""
    return plan_field(size, n_outputs=1, sphere_prior=0.3, coord_quant=coord_quant)


def value_and_gradient(field: SurfaceField, q: torch.Tensor, h: float):
    """f(q) (n,) and central-difference ∇f(q) (n, 3), differentiable w.r.t. the parameters."""
    n = len(q)
    pts = torch.cat([q, (q[None] + h * _OFFSETS[:, None]).reshape(-1, 3)])
    out = field(pts)[:, 0]
    f, nb = out[:n], out[n:].view(6, n)
    grad = torch.stack([nb[0] - nb[1], nb[2] - nb[3], nb[4] - nb[5]], 1) / (2 * h)
    return f, grad


class SDFTrainer(FieldTrainer):
    """One step: in the ``warmup`` phase an L1 regression onto the first guess, then the
    Neural-Pull loss."""

    def __init__(self, points: np.ndarray, config: SurfaceFieldConfig, recipe: Recipe,
                 seed: int, device: torch.device | str = "cpu") -> None:
        torch.manual_seed(seed)
        self.field = SurfaceField(config, backend="torch").to(device)
        self.recipe = recipe
        tree = cKDTree(points)
        pool = QueryPool.build(points, per_point=20, k=recipe.sigma_k,
                               sigma_max=recipe.sigma_max, seed=seed, tree=tree)
        self.queries = torch.from_numpy(pool.queries).to(device)
        self.targets = torch.from_numpy(pool.targets).to(device)
        self.guess = _first_guess(tree)
        field = self.field
        self.optim = torch.optim.Adam(
            [{"params": [field.grid.params]},
             {"params": [field.mlp.params], "weight_decay": 1e-6}],
            lr=recipe.lr, betas=(0.9, 0.99), eps=1e-15)
        self.gen = torch.Generator(device=device).manual_seed(seed)  # batches drawn there
        # a snapped field is flat inside a lattice cell: differences need at least one cell
        cq = config.coord_quant
        self.h = max(recipe.fd_step, 2 * 0.55 / cq) if cq else recipe.fd_step

    def step(self, at: Step) -> dict | None:
        rc = self.recipe
        gen = self.gen
        pick = torch.randint(0, len(self.queries), (rc.batch,), generator=gen, device=gen.device)
        q, t = self.queries[pick], self.targets[pick]
        field, bits = self.view(at)
        if at.phase == "warmup":
            x = torch.cat([q, (torch.rand(rc.batch, 3, generator=gen, device=gen.device) - 0.5)
                           * 1.1])
            loss = self.priced((field(x)[:, 0] - self.guess(x)).abs().mean(), bits, at)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            self.optim.step()
            return None
        f, grad = value_and_gradient(field, q, self.h)
        norm = grad.norm(dim=1, keepdim=True)
        pulled = q - f[:, None] * grad / norm.clamp_min(1e-8)
        l_pull = (pulled - t).norm(dim=1).mean()
        loss = l_pull
        if rc.w_surface:
            loss = loss + rc.w_surface * (field(t)[:, 0] ** 2).mean()
        if rc.w_eikonal:
            loss = loss + rc.w_eikonal * ((norm[:, 0] - 1) ** 2).mean()
        loss = self.priced(loss, bits, at)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if not at.report:
            return None
        stats = {"step": at.step + 1, "pull": l_pull.item()}
        return stats if bits is None else {**stats, "bits/point": bits.item()}



def fit_sdf(points: np.ndarray, config: SurfaceFieldConfig, budget: Budget, *,
            recipe: Recipe = RECIPE, seed: int = 0, device: torch.device | str = "cpu",
            report: Report | None = None, lmbda: float = 0.0, bits: int = 8
            ) -> tuple[SurfaceField, dict]:
    """points: (N, 3) normalised → (trained field of ``config``, on the CPU, statistics).
    Trains on ``device``; ``lmbda`` > 0 prices the grid (as ``recon.csp.fit.fit_csp``)."""
    start = time.perf_counter()
    trainer = SDFTrainer(points, config, recipe, seed, device)
    trainer.price_rate(lmbda, bits, len(points))
    phases = trainer.phases(Phase("warmup", 0.0), Phase("pull", recipe.warmup))
    result = run(trainer, budget, optim=trainer.optim, schedule=SCHEDULE, phases=phases,
                 report=report, report_every=REPORT_EVERY, tag="sdf")
    field = trainer.finish()  # meshing and coding run on the CPU
    return field, {"steps": result.steps, "seconds": time.perf_counter() - start,
                   "params": config.n_params(), **result.last}


def _first_guess(tree: cKDTree) -> Callable[[torch.Tensor], torch.Tensor]:
    field = grid_field(signed_init(tree, 128))
    # on the CPU (numpy): a copy each warm-up step when the field trains elsewhere
    return lambda x: torch.from_numpy(field(x.cpu().numpy()).astype(np.float32)).to(x.device)


def sdf(field: SurfaceField) -> Callable[[np.ndarray], np.ndarray]:
    """numpy wrapper: (n, 3) float32 normalised points → (n,) signed distances."""

    def evaluate(p: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return field(torch.from_numpy(np.ascontiguousarray(p, np.float32)))[:, 0].numpy()

    return evaluate
