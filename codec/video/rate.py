"""A learned rate model for network weights: a factorized density (Ballé et al.'s
non-parametric prior, compressai's ``EntropyBottleneck`` with one channel) over integer
latents, evaluated on values that carry uniform quantization noise, so ``bits`` is a
differentiable estimate of what an entropy coder would spend on the rounded values.

One density covers all of a network's latents because the coder codes them as one stream with
one table (the latents are per-tensor steps apart, so they are on comparable scales); one
density per tensor also cost 12 small evaluations a step, 40 % of a step's time.

Only training uses it. The file stores integer frequency tables computed from the actual
symbols (``codec.entropy``), which are never worse than the learned prior on those symbols
apart from the table's own bytes, and keep the decoder free of float density evaluation.
"""

from __future__ import annotations

import math
import warnings

import torch

LIKELIHOOD_FLOOR = 1e-9


class WeightPrior(torch.nn.Module):
    """A learned density: ``bits(values)`` = −Σ log2 p(values)."""

    def __init__(self) -> None:
        super().__init__()
        with warnings.catch_warnings():  # compressai scripts a helper with torch.jit on import
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
            from compressai.entropy_models import EntropyBottleneck

        self.density = EntropyBottleneck(1, init_scale=4.0)

    def bits(self, values: torch.Tensor) -> torch.Tensor:
        """values: any shape, already noisy (training) or integers; returns a scalar (bits)."""
        likelihood = self.density._likelihood(values.reshape(1, 1, -1))[0]
        return -torch.log(likelihood.clamp_min(LIKELIHOOD_FLOOR)).sum() / math.log(2)

    def density_parameters(self) -> list[torch.nn.Parameter]:
        """The density's parameters (not its quantile helpers, which only compressai's own
        CDF-table building uses)."""
        return [p for n, p in self.named_parameters() if not n.endswith("quantiles")]
