"""PFNR network: shapes, the Fourier subnetwork operator, and the append guarantee at the
network level (training a later video never changes an earlier video's output)."""

import numpy as np
import pytest
import torch

from codec.video.pfnr import (
    PFNRConfig,
    forward,
    init_tensors,
    inputs,
    spectral_up,
)
from codec.video.subnet import freeze, subnet_mask, top_fraction

TINY = PFNRConfig(embed_hw=[2, 2], strides=[2, 2, 2], channels=8, min_channels=4,
                  stem_width=16, frame_levels=4, video_levels=2, fso_block=1, fso_modes=2)


def test_shapes():
    gen = torch.Generator().manual_seed(0)
    shared = init_tensors(TINY.shared_shapes(), gen)
    own = init_tensors(TINY.video_shapes(), gen)
    y = forward(TINY, shared, own, inputs(TINY, torch.arange(3), 3, 0))
    assert y.shape == (3, 3, *TINY.out_size) == (3, 3, 16, 16)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(ValueError):
        PFNRConfig(fso_block=0, fso_modes=99)


def test_spectral_up_keeps_low_frequencies(rng):
    # a constant map stays constant (only the DC mode) and is scaled by mix · filter
    x = torch.full((1, 1, 4, 4), 2.0)
    mix = torch.tensor([[[3.0, 0.0]]])
    filt = torch.zeros(1, 2, 1, 2)
    filt[0, 0, 0, 0] = 0.5
    y = spectral_up(x, mix, filt, (8, 8), 1)
    assert y.shape == (1, 1, 8, 8) and torch.allclose(y, torch.full_like(y, 3.0))
    # band-limited input: upsampling by spectral zero-padding interpolates it exactly
    t = torch.arange(8, dtype=torch.float64)
    x = torch.cos(2 * torch.pi * t / 8)[None, None, :, None].expand(1, 1, 8, 8).float()
    one = torch.tensor([[[1.0, 0.0]]])
    flat = torch.zeros(1, 4, 2, 2)
    flat[..., 0] = 1.0
    y = spectral_up(x, one, flat, (16, 16), 2)
    want = torch.cos(2 * torch.pi * torch.arange(16) / 16)[:, None].expand(16, 16)
    assert torch.allclose(y[0, 0], want.float(), atol=1e-5)


def _train(shared, scores, own, frames, video, capacity, steps, frozen=None):
    params = [*shared.values(), *scores.values(), *own.values()]
    hooks = [freeze(shared[n], frozen[n]) for n in shared] if frozen else []
    optim = torch.optim.Adam(params, lr=1e-2)
    x = inputs(TINY, torch.arange(len(frames)), len(frames), video)
    for _ in range(steps):
        masked = {n: w * subnet_mask(scores[n], capacity) for n, w in shared.items()}
        loss = torch.nn.functional.mse_loss(forward(TINY, masked, own, x), frames)
        optim.zero_grad()
        loss.backward()
        optim.step()
    for h in hooks:
        h.remove()
    return {n: top_fraction(scores[n], capacity) for n in scores}


def test_a_later_video_never_changes_an_earlier_one(rng):
    gen = torch.Generator().manual_seed(0)
    shared = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.shared_shapes(), gen).items()}
    scores = {n: torch.nn.Parameter(torch.randn(v.shape, generator=gen)) for n, v in shared.items()}
    clips = [torch.from_numpy(rng.random((4, 3, 16, 16), dtype=np.float32)) for _ in range(2)]
    own0 = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.video_shapes(), gen).items()}
    mask0 = _train(shared, scores, own0, clips[0], 0, 0.3, 15)
    x0 = inputs(TINY, torch.arange(4), 4, 0)

    def render0():
        with torch.no_grad():
            return forward(TINY, {n: w * mask0[n] for n, w in shared.items()}, own0, x0)

    before = render0()
    before_shared = {n: w.detach().clone() for n, w in shared.items()}
    own1 = {n: torch.nn.Parameter(v) for n, v in init_tensors(TINY.video_shapes(), gen).items()}
    mask1 = _train(shared, scores, own1, clips[1], 1, 0.3, 15, frozen=mask0)
    assert torch.equal(render0(), before)  # bit-identical
    changed = sum(int((w.detach() != before_shared[n]).sum()) for n, w in shared.items())
    assert changed > 0  # video 1 did train new weights
    assert any(not torch.equal(mask1[n], mask0[n]) for n in mask0)  # its own subnetwork
