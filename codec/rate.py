"""What training prices: quantization proxies, learned step sizes and learned densities over
integer latents, so that a loss can be ``D + λ · R`` with ``R`` a differentiable estimate of
the bits an entropy coder spends on the rounded latents.

A weight ``w`` is stored as the integer ``round(w / step)``. During training the rounding is
replaced by a proxy that keeps gradients (:func:`proxy`):

- ``noise``: ``z + u``, ``u ~ U(-½, ½)`` (Ballé et al.): the rate of noisy latents under a
  density convolved with the unit box approximates the rate of the rounded ones;
- ``soft``: soft rounding with temperature ``T`` plus noise, ``s(s(z) + u)`` (C3's recipe,
  Kim et al. CVPR 2024, with uniform instead of Kumaraswamy noise): as ``T`` is annealed to 0
  it becomes rounding;
- ``ste``: rounding forward, identity backward (straight-through), for the last phase;
- ``round``: plain rounding (evaluation).

Densities give ``bits(values)`` = −Σ log2 P(values), P the probability of the unit interval
around each value: :class:`FactorizedDensity` (Ballé's non-parametric density, CompressAI's
``EntropyBottleneck``) and :class:`LaplaceDensity` (zero-mean, learned scale per channel).
Files are coded with integer tables built from the actual symbols (``codec.entropy``), so the
decoder never evaluates a float density.
"""

from __future__ import annotations

import math
import warnings

import torch

from codec.fit import full_precision
from codec.quant import QuantizedTensor, quantize_step

LIKELIHOOD_FLOOR = 1e-9
PROXIES = ("noise", "soft", "ste", "round")


# -- quantization proxies ----------------------------------------------------------------------
def noise(z: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """``z`` plus uniform noise in [-½, ½)."""
    return z + torch.rand(z.shape, generator=gen, device=z.device) - 0.5


def ste(z: torch.Tensor) -> torch.Tensor:
    """Rounded values whose gradient is the identity."""
    return z + (torch.round(z) - z).detach()


def soft_round(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Agustsson & Theis' soft rounding: ``m + tanh(r / T) / (2 tanh(1 / 2T))`` with
    ``m = floor(z) + ½`` and ``r = z − m``. Differentiable and monotone, it agrees with ``z``
    at half-integers; ``T → 0`` gives rounding and large ``T`` the identity."""
    if temperature <= 0:
        return torch.round(z)
    m = torch.floor(z) + 0.5
    r = z - m
    return m + torch.tanh(r / temperature) / (2 * math.tanh(0.5 / temperature))


def proxy(z: torch.Tensor, mode: str, *, temperature: float = 0.3,
          gen: torch.Generator | None = None) -> torch.Tensor:
    """``z`` as training sees its rounding in ``mode`` (one of PROXIES)."""
    if mode == "noise":
        return noise(z, gen)
    if mode == "soft":
        return soft_round(soft_round(z, temperature) + torch.rand(
            z.shape, generator=gen, device=z.device) - 0.5, temperature)
    if mode == "ste":
        return ste(z)
    if mode == "round":
        return torch.round(z)
    raise ValueError(f"unknown quantization proxy {mode!r} (choose from {', '.join(PROXIES)})")


def anneal(progress: float, start: float = 0.3, end: float = 0.05) -> float:
    """Soft-rounding temperature at ``progress`` in [0, 1]: geometric from ``start`` to
    ``end`` (C3 anneals linearly in 1/T-like schedules; geometric keeps the late, sharp phase
    long enough to matter)."""
    p = min(max(progress, 0.0), 1.0)
    return start * (end / start) ** p


RAMP = 0.3
"""Fraction of training over which a rate weight rises from 0: a network first learns the
frames, then the rate comes in (with the full weight from the start, λ = 5e-2 collapsed a
nirvana fit of bikes to the mean colour)."""


def ramp(lmbda: float, progress: float, over: float = RAMP) -> float:
    """The rate weight at ``progress`` in [0, 1]: ``lmbda`` reached after ``over``."""
    return lmbda * min(1.0, progress / over)


# -- learned step sizes ------------------------------------------------------------------------
class StepSizes(torch.nn.Module):
    """A learned quantization step per tensor (``log_step``, a scalar), so training can trade a
    coarser step (fewer bits) against a larger error. ``init``: tensors whose range sets the
    first step, ``range / 2**bits``."""

    def __init__(self, init: dict[str, torch.Tensor], bits: int = 6) -> None:
        super().__init__()
        self.names = list(init)
        self.log_steps = torch.nn.ParameterDict({
            _key(n): torch.nn.Parameter(torch.tensor(
                math.log(max(float(w.detach().abs().max()), 1e-3) * 2 / (1 << bits))))
            for n, w in init.items()})

    def step(self, name: str) -> torch.Tensor:
        return self.log_steps[_key(name)].exp()

    def latents(self, name: str, w: torch.Tensor) -> torch.Tensor:
        return w / self.step(name)

    def values(self, name: str, z: torch.Tensor) -> torch.Tensor:
        return z * self.step(name)

    def steps(self) -> dict[str, float]:
        return {n: float(self.step(n).detach()) for n in self.names}

    def proxied(self, name: str, w: torch.Tensor, mode: str, *,
                gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(``w``'s latents as training sees them rounded (:func:`proxy`), the values they
        stand for)."""
        z = proxy(self.latents(name, w), mode, gen=gen)
        return z, self.values(name, z)

    def store(self, name: str, w: torch.Tensor) -> QuantizedTensor:
        """``w`` as the file stores it: ``round(w / step)`` on the learned step."""
        return quantize_step(w.detach().cpu().numpy(), float(self.step(name).detach()))


def _key(name: str) -> str:
    return name.replace(".", "/")  # ParameterDict keys cannot hold dots


# -- densities ---------------------------------------------------------------------------------
class FactorizedDensity(torch.nn.Module):
    """Ballé et al.'s non-parametric density (CompressAI's ``EntropyBottleneck``) over each of
    ``channels`` rows of values: ``bits(values)`` = −Σ log2 P, values of shape (channels, n)
    (or any shape when ``channels`` is 1)."""

    def __init__(self, channels: int = 1, init_scale: float = 4.0) -> None:
        super().__init__()
        with warnings.catch_warnings():  # compressai scripts a helper with torch.jit on import
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
            from compressai.entropy_models import EntropyBottleneck

        self.channels = channels
        self.density = EntropyBottleneck(channels, init_scale=init_scale)

    def bits(self, values: torch.Tensor) -> torch.Tensor:
        with full_precision():
            likelihood = self.density._likelihood(
                values.float().reshape(1, self.channels, -1))[0]
            return -torch.log(likelihood.clamp_min(LIKELIHOOD_FLOOR)).sum() / math.log(2)

    def density_parameters(self) -> list[torch.nn.Parameter]:
        """The density's parameters (not its quantile helpers, which only CompressAI's own
        CDF-table building uses)."""
        return [p for n, p in self.named_parameters() if not n.endswith("quantiles")]


class LaplaceDensity(torch.nn.Module):
    """A zero-mean Laplace density with a learned scale per channel, integrated over each
    value's unit interval: a two-parameter-per-channel model that suits weights, which are
    peaked at zero with heavy tails."""

    def __init__(self, channels: int = 1, init_scale: float = 4.0) -> None:
        super().__init__()
        self.channels = channels
        self.log_scale = torch.nn.Parameter(torch.full((channels, 1), math.log(init_scale)))

    def bits(self, values: torch.Tensor) -> torch.Tensor:
        return laplace_bits(values.reshape(self.channels, -1), 0.0, self.log_scale.exp())

    def density_parameters(self) -> list[torch.nn.Parameter]:
        return [self.log_scale]


def laplace_bits(values: torch.Tensor, mean: torch.Tensor | float, scale: torch.Tensor
                 ) -> torch.Tensor:
    """−Σ log2 P(x in [v − ½, v + ½]) for x ~ Laplace(mean, scale), per value (broadcast),
    in float32 whatever the step's precision."""
    with full_precision():
        if isinstance(mean, torch.Tensor):
            mean = mean.float()
        v = (values.float() - mean).abs()
        scale = scale.float()
        # by symmetry with v >= 0: an interval around the mean leaves the two tails out; one
        # beyond ½ is a difference of one tail (computed in the tail, accurate far out)
        outer = torch.exp(-(v + 0.5) / scale)
        inner = torch.exp(-(0.5 - v).abs() / scale)
        p = torch.where(v < 0.5, 1 - 0.5 * (outer + inner), 0.5 * (inner - outer))
        return -torch.log(p.clamp_min(LIKELIHOOD_FLOOR)).sum() / math.log(2)


DENSITIES = {"factorized": FactorizedDensity, "laplace": LaplaceDensity}


def density(kind: str, channels: int = 1, init_scale: float = 4.0) -> torch.nn.Module:
    """A learned density by name (DENSITIES)."""
    try:
        return DENSITIES[kind](channels, init_scale)
    except KeyError:
        raise ValueError(f"unknown density {kind!r} (choose from {', '.join(DENSITIES)})"
                         ) from None
