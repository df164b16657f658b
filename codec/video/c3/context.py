"""The c3 context model: what each latent is conditioned on, the float network training
prices latents with, and its integer twin that coders evaluate.

**Context** (``CONTEXT_SIZE`` = 23 values, all already decoded when a latent is): levels are
coded coarse to fine, a level's time slices in order, each slice in two checkerboard passes
(cells with ``(row + col)`` even, then odd). A latent sees

- the 3x3 neighbourhood of its position in the previous slice of its level (9, zero at t = 0),
- the 3x3 neighbourhood of its parent cell in the next coarser level (9, zero for the
  coarsest), parent = ``(t · ts_l // ts_{l+1}, row // 2, col // 2)``,
- in the second pass, its 4 direct neighbours in its own slice (all from the first pass) and
  a flag 1 (first pass: 4 zeros and 0).

Every value is the latent clamped to ±``CLAMP``. A whole half-slice is therefore predicted at
once: decoding is a loop over levels × slices × 2, never over latents.

**Network**: 23 → ``arm_width`` → ``arm_width`` → 2 (ReLU), giving the Laplace mean ``μ`` and
``s``, the position of the scale on the coder's table bank (``SCALES``: scale
``low · (high/low)**(s / 63)``). Weights and biases are multiples of ``2**-FRAC`` (training
rounds them straight-through), so the coders evaluate it in integers
(:class:`IntegerContext`): inputs are integers, layer 1 accumulates at scale ``2**-FRAC``,
layers 2 and 3 at ``2**-2·FRAC`` (biases shifted up), layer 2's output is floored back to
``2**-FRAC``; hidden values are clamped to ``[0, 2**30]``. The latent's table is
``clamp(round(s), 0, 63)`` and its coded mean ``round(μ)`` (round = floor(x + ½)). With at most
64 inputs and hidden units, ``|weights| <= 2**15`` and inputs ``<= 2**8``, every partial sum is
an integer below ``2**52``: float64 arithmetic on them is exact in any order, so BLAS with any
thread count, or any device with IEEE doubles, gives the same integers by construction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from codec.entropy.indexed import LaplaceBank

CONTEXT_SIZE = 23
CLAMP = 255
FRAC = 8
MAX_WEIGHT = (1 << 15) - 1  # integer weights, |w| · 2**-FRAC < 128
HIDDEN_MAX = float(1 << 30)
SCALES = LaplaceBank(radius=63)  # 64 tables, scales 0.1 .. 64 (geometric), residuals ±63
# + escape: each slot's frequency is at least 1/65536, so a narrower window leaves more to a
# confident prediction (a latent predicted as a sure zero costs 0.003 bits, not 0.011)
TABLES = len(SCALES.cdfs)


def arm_shapes(config) -> dict[str, tuple[int, ...]]:
    h = config.arm_width
    return {"arm.0.weight": (h, CONTEXT_SIZE), "arm.0.bias": (h,),
            "arm.1.weight": (h, h), "arm.1.bias": (h,),
            "arm.2.weight": (2, h), "arm.2.bias": (2,)}


# -- gathering contexts (the same code for training, encoding and decoding) -------------------
def _window(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) → (N, H, W, 9): each cell's 3x3 neighbourhood, zero outside."""
    h, w = x.shape[1:]
    p = F.pad(x[:, None], (1, 1, 1, 1))[:, 0]
    return torch.stack([p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], -1)


def _cross(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) → (N, H, W, 4): up, down, left and right neighbours, zero outside."""
    h, w = x.shape[1:]
    p = F.pad(x[:, None], (1, 1, 1, 1))[:, 0]
    return torch.stack([p[:, 0:h, 1 : w + 1], p[:, 2 : h + 2, 1 : w + 1],
                        p[:, 1 : h + 1, 0:w], p[:, 1 : h + 1, 2 : w + 2]], -1)


def odd_cells(h: int, w: int, device=None) -> torch.Tensor:
    """(H, W) bool: the second pass's cells."""
    r = torch.arange(h, device=device)[:, None]
    c = torch.arange(w, device=device)[None, :]
    return (r + c) % 2 == 1


def parent_window(coarse: torch.Tensor | None, fine_shape: tuple[int, int, int],
                  fine_stride: int, coarse_stride: int) -> torch.Tensor:
    """(T, H, W, 9) of the coarser level's 3x3 windows around each fine cell's parent."""
    t, h, w = fine_shape
    if coarse is None:
        return torch.zeros(t, h, w, 9, dtype=torch.float64)
    win = _window(coarse.clamp(-CLAMP, CLAMP))
    ti = torch.arange(t) * fine_stride // coarse_stride
    ri, ci = torch.arange(h) // 2, torch.arange(w) // 2
    return win[ti][:, ri][:, :, ci]


def features(prev: torch.Tensor, cur: torch.Tensor, parent: torch.Tensor,
             second: torch.Tensor) -> torch.Tensor:
    """Contexts of every cell of N slices: ``prev``, ``cur`` (N, H, W) the previous and the
    current slices (only ``cur``'s first-pass cells are read), ``parent`` (N, H, W, 9),
    ``second`` (H, W) the cells coded in the second pass (all False while coding the first)
    → (N, H, W, CONTEXT_SIZE)."""
    on = second.to(cur.dtype)
    own = _cross(cur.clamp(-CLAMP, CLAMP)) * on[..., None]
    return torch.cat([_window(prev.clamp(-CLAMP, CLAMP)), parent, own,
                      on.expand(cur.shape)[..., None]], -1)


def level_contexts(grid: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
    """All contexts of one level at once (training, encoding): (T, H, W) → (T, H, W, K)."""
    prev = torch.cat([torch.zeros_like(grid[:1]), grid[:-1]])
    return features(prev, grid, parent.to(grid.dtype),
                    odd_cells(*grid.shape[1:], device=grid.device))


# -- the float network (training) ------------------------------------------------------------
def scale_of(s: torch.Tensor) -> torch.Tensor:
    """Laplace scale at table position ``s`` (continuous, clamped to the bank)."""
    lo, hi = math.log(SCALES.scales[0]), math.log(SCALES.scales[-1])
    return torch.exp(lo + (hi - lo) * s.clamp(0, TABLES - 1) / (TABLES - 1))


def _fixed(w: torch.Tensor) -> torch.Tensor:
    """``w`` on the 2**-FRAC grid, straight-through."""
    q = (w * (1 << FRAC)).clamp(-MAX_WEIGHT, MAX_WEIGHT)
    return (q + (torch.round(q) - q).detach()) / (1 << FRAC)


class ContextModel(torch.nn.Module):
    """(n, CONTEXT_SIZE) contexts → (μ, s), each (n,)."""

    def __init__(self, config) -> None:
        super().__init__()
        h = config.arm_width
        self.arm = torch.nn.ModuleList([torch.nn.Linear(CONTEXT_SIZE, h),
                                        torch.nn.Linear(h, h), torch.nn.Linear(h, 2)])
        with torch.no_grad():  # start near μ = 0 and a scale of about 1
            self.arm[2].weight.mul_(0.1)
            self.arm[2].bias.copy_(torch.tensor([0.0, TABLES * 0.4]))

    def forward(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = ctx
        for i, layer in enumerate(self.arm):
            x = F.linear(x, _fixed(layer.weight), _fixed(layer.bias))
            if i < 2:
                x = F.relu(x)
        return x[..., 0], x[..., 1]

    def integers(self) -> dict[str, np.ndarray]:
        """Weights and biases as the integers (× 2**-FRAC) the file stores."""
        return {f"arm.{name}": np.rint((p.detach().double() * (1 << FRAC)).clamp(
            -MAX_WEIGHT, MAX_WEIGHT).cpu().numpy()).astype(np.int64)
            for name, p in self.arm.named_parameters()}


# -- the integer network (coding) -----------------------------------------------------------------
class IntegerContext:
    """The context network on integers (see the module docstring): contexts → (table index,
    mean), identical on every machine."""

    def __init__(self, ints: dict[str, np.ndarray]) -> None:
        for v in ints.values():
            if np.abs(v).max(initial=0) > MAX_WEIGHT:
                raise ValueError("context model weights out of range")
        d = {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in ints.items()}
        one = float(1 << FRAC)
        self.w = [d["arm.0.weight"].T.contiguous(), d["arm.1.weight"].T.contiguous(),
                  d["arm.2.weight"].T.contiguous()]
        self.b = [d["arm.0.bias"], d["arm.1.bias"] * one, d["arm.2.bias"] * one]

    def __call__(self, ctx: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(n, CONTEXT_SIZE) float64 integers → (table indexes, means), int64 (n,)."""
        return self.head(ctx @ self.w[0])

    def head(self, a1: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(table indexes, means) from layer 1's products ``A0 · c`` (n, arm_width)."""
        one = float(1 << FRAC)
        x = (a1 + self.b[0]).clamp_(0, HIDDEN_MAX)
        x = torch.floor((x @ self.w[1] + self.b[1]) / one).clamp_(0, HIDDEN_MAX)
        out = torch.floor((x @ self.w[2] + self.b[2]) / (one * one) + 0.5)
        mean = out[:, 0].clamp_(-(1 << 30), 1 << 30)
        index = out[:, 1].clamp_(0, TABLES - 1)
        return index.numpy().astype(np.int64), mean.numpy().astype(np.int64)

    # Layer 1 by parts, for decoders: the same integer sums as ``ctx @ A0`` (exact in any
    # order), but each part computed where it is cheapest — the previous slice's and the
    # parent level's once a slice and a level, the own-slice neighbours for second-pass
    # cells only.
    def window_terms(self, grid: torch.Tensor, part: str) -> torch.Tensor:
        """(N, H, W) → (N·H·W, arm_width): ``grid``'s 3x3 windows times the weights of the
        ``part`` ("prev" or "parent") of the context."""
        rows = slice(0, 9) if part == "prev" else slice(9, 18)
        return _window(grid.clamp(-CLAMP, CLAMP)).reshape(-1, 9) @ self.w[0][rows]

    def own_terms(self, cur: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """(H, W) slice, flat second-pass ``cells`` → (n, arm_width): their 4 neighbours and
        the pass flag times their weights."""
        near = _cross(cur[None].clamp(-CLAMP, CLAMP)).reshape(-1, 4)[cells]
        return near @ self.w[0][18:22] + self.w[0][22]
