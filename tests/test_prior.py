import numpy as np
import torch

from codec.entropy import empirical_entropy_bits
from codec.prior import FactorizedPrior


def test_prior_learns_close_to_empirical_entropy():
    torch.manual_seed(0)
    x = torch.round(torch.distributions.Laplace(0.0, 3.0).sample((8000,)))
    ideal = empirical_entropy_bits(x.numpy().astype(np.int64)) / x.numel()
    prior = FactorizedPrior()
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(120):
        _, bits = prior(x)
        loss = bits / x.numel() + prior.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    estimate = bits.item() / x.numel()
    assert abs(estimate - ideal) < 0.05 * ideal


def test_prior_gradient_reaches_values():
    prior = FactorizedPrior(channels=2)
    v = torch.randn(2, 50, requires_grad=True)
    noisy, bits = prior(v)
    assert noisy.shape == v.shape and bits.item() > 0
    bits.backward()
    assert v.grad is not None and torch.isfinite(v.grad).all()
