"""Rate–distortion training of one PFNR video (``--lmbda`` > 0). What the video adds to the
library is priced while it learns: the shared weights it is the first to use (in its mask and
in no earlier video's) and its own biases and head. Each shared and own tensor gets a learned
step (``codec.rate.StepSizes``) and passes through a quantization proxy (uniform noise, then
straight-through rounding in the last phase); a factorized density prices the new shared
weights, another the own tensors. Weights earlier videos stored keep their exact values (they
cost this video nothing). The loss adds ``λ · bits / pixels`` of this video (λ ramping in over
the first 30 %, ``codec.rate.ramp``). The file then stores ``round(value / step)`` of the new
weights and own tensors on the learned steps (``codec.quant.quantize_step``)."""

from __future__ import annotations

import torch

from codec.quant import QuantizedTensor
from codec.rate import FactorizedDensity, StepSizes

BIAS_RANGE = 0.25  # |bias| trained pfnr networks reach (about 0.2 on the sample clip)


class SubnetRate(torch.nn.Module):
    """Steps and densities of one video's new weights. ``shared``/``own``: the tensors being
    trained (their values set the first steps); ``used``: where earlier videos stored weights;
    ``pixels``: the video's pixels."""

    def __init__(self, shared: dict[str, torch.Tensor], own: dict[str, torch.Tensor],
                 used: dict[str, torch.Tensor], bits: int, pixels: int) -> None:
        super().__init__()
        self.used, self.pixels = used, pixels
        # biases start at zero: their first steps assume the range trained biases reach
        start = {n: w if w.abs().max() > 0 else torch.full((1,), BIAS_RANGE)
                 for n, w in own.items()}
        self.steps = StepSizes({**shared, **start}, bits)
        self.shared_density = FactorizedDensity()
        self.own_density = FactorizedDensity()

    def forward(self, shared: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                own: dict[str, torch.Tensor], mode: str, gen: torch.Generator
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """(the masked shared tensors and the own tensors as training sees them stored,
        estimated bits per pixel of what the video adds)."""
        seen, new_latents = {}, []
        for n, w in shared.items():
            z, values = self.steps.proxied(n, w, mode, gen=gen)
            used = self.used[n]
            seen[n] = torch.where(used, w, values) * masks[n]
            new_latents.append(z[(masks[n].detach() > 0) & ~used])
        own_seen, own_latents = {}, []
        for n, w in own.items():
            z, own_seen[n] = self.steps.proxied(n, w, mode, gen=gen)
            own_latents.append(z.reshape(-1))
        bits = (self.shared_density.bits(torch.cat(new_latents))
                + self.own_density.bits(torch.cat(own_latents)))
        return seen, own_seen, bits / self.pixels

    def parameter_groups(self, lr: float) -> list[dict]:
        """Adam groups for the steps and the densities."""
        params = [*self.steps.parameters(), *self.shared_density.density_parameters(),
                  *self.own_density.density_parameters()]
        return [{"params": params, "lr": lr}]

    def store(self, name: str, values: torch.Tensor) -> QuantizedTensor:
        """``values`` of tensor ``name`` as the file stores them, on its learned step."""
        return self.steps.store(name, values)
