"""The rate module: quantization proxies, learned steps and densities."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from codec import rate
from codec.entropy import empirical_entropy_bits


def test_proxies_forward_and_backward():
    z = torch.linspace(-3, 3, 601, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    n = rate.noise(z, gen)
    assert ((n - z).abs() <= 0.5).all()
    again = rate.noise(z, torch.Generator().manual_seed(0))
    assert torch.equal(n, again)  # repeatable from its generator
    s = rate.ste(z)
    assert torch.equal(s, torch.round(z))
    s.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))
    assert torch.equal(rate.proxy(z, "round"), torch.round(z))
    with pytest.raises(ValueError, match="unknown quantization proxy"):
        rate.proxy(z, "dither")


def test_soft_round_goes_from_identity_to_rounding():
    z = torch.linspace(-2.4, 2.4, 97)
    assert torch.allclose(rate.soft_round(z, 100.0), z, atol=1e-3)
    away = z[((z - torch.floor(z)) - 0.5).abs() > 0.1]  # rounding is ambiguous at halves
    assert torch.allclose(rate.soft_round(away, 0.01), torch.round(away), atol=1e-3)
    mid = rate.soft_round(z, 0.3)
    assert (mid[1:] >= mid[:-1]).all()  # monotone
    ints = torch.arange(-3.0, 4.0)
    assert torch.allclose(rate.soft_round(ints, 0.3), ints, atol=1e-6)  # exact on integers
    halves = ints + 0.5
    assert torch.allclose(rate.soft_round(halves, 0.3), halves, atol=1e-6)
    assert rate.anneal(0.0) == pytest.approx(0.3) and rate.anneal(1.0) == pytest.approx(0.05)
    soft = rate.proxy(z.clone().requires_grad_(), "soft", temperature=0.2,
                      gen=torch.Generator().manual_seed(1))
    assert ((soft - z).abs() <= 1.0).all()


def test_laplace_probabilities_sum_to_one_and_match_its_entropy():
    d = rate.LaplaceDensity(init_scale=2.0)
    values = torch.arange(-200.0, 201.0)
    with torch.no_grad():
        per = torch.stack([d.bits(v.reshape(1)) for v in values])
    assert float((2.0 ** -per).sum()) == pytest.approx(1.0, abs=1e-6)
    # trained on integer Laplace samples, its rate is close to their empirical entropy
    rng = np.random.default_rng(0)
    symbols = np.round(rng.laplace(0, 6.0, 20_000))
    x = torch.from_numpy(symbols).float()
    d = rate.LaplaceDensity(init_scale=1.0)
    opt = torch.optim.Adam(d.density_parameters(), lr=0.05)
    for _ in range(300):
        loss = d.bits(x) / x.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert math.exp(float(d.log_scale.detach())) == pytest.approx(6.0, rel=0.1)
    with torch.no_grad():
        model_bits = float(d.bits(x)) / x.numel()
    assert model_bits == pytest.approx(empirical_entropy_bits(symbols) / x.numel(), rel=0.03)


@pytest.mark.parametrize("kind", sorted(rate.DENSITIES))
def test_densities_learn_and_price_noisy_values(kind):
    rng = np.random.default_rng(1)
    symbols = np.round(rng.laplace(0, 3.0, 2000)).reshape(1, -1)
    x = torch.from_numpy(symbols).float()
    d = rate.density(kind)
    with torch.no_grad():
        before = float(d.bits(x))
    opt = torch.optim.Adam(d.density_parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    for _ in range(250):
        loss = d.bits(rate.noise(x, gen)) / x.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(d.bits(x)) / x.numel()
    assert after < before / x.numel()
    assert after < empirical_entropy_bits(symbols.ravel()) / x.numel() + 0.25
    with pytest.raises(ValueError):
        rate.density("gaussian-mixture")


def test_step_sizes_are_learned_per_tensor():
    w = {"conv.weight": torch.randn(8, 4) * 0.1, "head": torch.randn(3) * 2}
    steps = rate.StepSizes(w, bits=6)
    assert set(steps.steps()) == set(w)
    for name, t in w.items():
        z = steps.latents(name, t).detach()
        assert float(z.abs().max()) == pytest.approx(32, rel=1e-4)  # range / 2**bits
        assert torch.allclose(steps.values(name, z), t)
    loss = sum(steps.proxied(n, t, "ste")[1].sum() for n, t in w.items())
    loss.backward()
    assert all(p.grad is not None for p in steps.parameters())
    for name, t in w.items():  # the file stores the integers the "round" proxy gives
        z, _ = steps.proxied(name, t, "round")
        assert np.array_equal(steps.store(name, t).symbols, z.detach().numpy())


def test_import_is_quiet():
    """compressai's import-time torch.jit.script warning is silenced where it is imported."""
    code = "from codec.rate import FactorizedDensity; FactorizedDensity()"
    r = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "deprecated" not in r.stderr, r.stderr
