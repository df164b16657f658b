"""Learned factorized prior for rate-regularized training (an estimate, never the file).

Wraps compressai's ``EntropyBottleneck``: a per-channel non-parametric density convolved with a
unit box, evaluated on values with uniform noise while training. ``bits`` is differentiable, so a
loss like ``mse + lambda * bits / n`` trades quality for rate. Files are always coded by
:mod:`codec.entropy` with integer tables built from the actual symbols.
"""

from __future__ import annotations

import torch
from torch import nn


class FactorizedPrior(nn.Module):
    """Density over scalars in ``channels`` independent groups.

    forward(values: (C, N) or (N,) float, in quantization-step units) -> (noisy values, bits)
    """

    def __init__(self, channels: int = 1, filters: tuple[int, ...] = (3, 3, 3, 3)) -> None:
        super().__init__()
        from compressai.entropy_models import EntropyBottleneck

        self.channels = channels
        self.bottleneck = EntropyBottleneck(channels, filters=filters)

    def forward(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = values.reshape(self.channels, -1).unsqueeze(0)  # (1, C, N)
        noisy, likelihoods = self.bottleneck(x, training=self.training)
        bits = -torch.log2(likelihoods.clamp_min(1e-9)).sum()
        return noisy.reshape(values.shape), bits

    def aux_loss(self) -> torch.Tensor:
        """Keeps the density's tail bounds honest (compressai's auxiliary loss)."""
        return self.bottleneck.loss()
