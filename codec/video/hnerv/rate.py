"""Rate–distortion training of HNeRV (``--lmbda`` > 0): every number the file stores is priced
while the network learns. Decoder weights and frame embeddings are divided by learned steps
(one per tensor, ``codec.rate.StepSizes``), pass through a quantization proxy (uniform noise,
then straight-through rounding in the last phase) and are priced by a learned factorized
density each (weights and embeddings have different statistics). The loss adds
``λ · bits / pixels``; λ ramps in over the first 30 % of training (``codec.rate.ramp``), once
the network has left the mean frame. The file then stores exactly ``round(value / step)`` with
the learned steps (``codec.quant.quantize_step``)."""

from __future__ import annotations

import torch

from codec.quant import QuantizedTensor
from codec.rate import FactorizedDensity, StepSizes
from codec.video.hnerv.network import HNeRV

EMBED = "embed"


class HNeRVRate(torch.nn.Module):
    """Steps and densities of one HNeRV's stored tensors. ``pixels``: pixels of the whole clip
    (the decoder's bits are spread over all of them)."""

    def __init__(self, model: HNeRV, bits: int, embed_bits: int, pixels: int) -> None:
        super().__init__()
        self.pixels = pixels
        self.steps = StepSizes(dict(model.decoder.named_parameters()), bits)
        self.embed_step = StepSizes({EMBED: model.offsets}, embed_bits)
        self.weight_density = FactorizedDensity()
        self.embed_density = FactorizedDensity()

    def forward(self, model: HNeRV, frames: torch.Tensor, index: torch.Tensor, mode: str,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(frames decoded from proxied weights and embeddings (B, 3, H, W), estimated bits
        per pixel of the clip's weights and of this batch's embeddings)."""
        weights, latents = {}, []
        for name, p in model.decoder.named_parameters():
            z, weights[name] = self.steps.proxied(name, p, mode, gen=gen)
            latents.append(z.reshape(-1))
        e, embed = self.embed_step.proxied(EMBED, model.embed(frames, index), mode, gen=gen)
        pred = model.decoder(embed, weights)
        per_frame = self.pixels / model.offsets.shape[0]
        bpp = (self.weight_density.bits(torch.cat(latents)) / self.pixels
               + self.embed_density.bits(e) / (per_frame * len(index)))
        return pred, bpp

    def parameter_groups(self, lr: float) -> list[dict]:
        """Adam groups for the steps and the densities."""
        params = [*self.steps.parameters(), *self.embed_step.parameters(),
                  *self.weight_density.density_parameters(),
                  *self.embed_density.density_parameters()]
        return [{"params": params, "lr": lr}]

    def quantize(self, model: HNeRV, embed: torch.Tensor
                 ) -> tuple[dict[str, QuantizedTensor], QuantizedTensor]:
        """The decoder's tensors and the embeddings (T, d, h, w) on their learned steps."""
        decoder = {n: self.steps.store(n, p) for n, p in model.decoder.named_parameters()}
        return decoder, self.embed_step.store(EMBED, embed)

