"""A bias-free MLP with tiny-cuda-nn ``FullyFusedMLP``'s function and parameter layout.

Layout of the flat parameter vector (row-major matrices, tcnn's ``GPUMatrix<T, RM>``):
``W0 (width × pad16(n_in))``, then ``n_hidden_layers − 1`` matrices ``width × width``, then
``W_out (pad16(n_out) × width)``. tcnn pads the input with zeros (the grid encoding's padding)
and slices the padded output rows away, so only ``W0[:, :n_in]`` and ``W_out[:n_out]`` affect
the function; the padding is still stored so a parameter vector moves between backends as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

ALIGN = 16
WIDTHS = (16, 32, 64, 128)
OUTPUT_ACTIVATIONS = ("none", "sigmoid")


def pad16(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class MLPConfig:
    """A fully fused MLP: ReLU hidden layers, no biases."""

    n_input_dims: int
    n_output_dims: int
    n_neurons: int = 64
    """Hidden width: 16, 32, 64 or 128 (FullyFusedMLP's widths)."""
    n_hidden_layers: int = 2
    output_activation: str = "none"
    """"none" or "sigmoid"."""

    def __post_init__(self) -> None:
        if self.n_neurons not in WIDTHS:
            raise ValueError(f"mlp: n_neurons must be one of {WIDTHS}")
        if self.n_hidden_layers < 1 or self.n_input_dims < 1 or self.n_output_dims < 1:
            raise ValueError("mlp: need at least one hidden layer, input and output")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"mlp: output_activation must be one of {OUTPUT_ACTIVATIONS}")

    @property
    def shapes(self) -> list[tuple[int, int]]:
        w = self.n_neurons
        hidden = [(w, w)] * (self.n_hidden_layers - 1)
        return [(w, pad16(self.n_input_dims)), *hidden, (pad16(self.n_output_dims), w)]

    @property
    def n_params(self) -> int:
        return sum(r * c for r, c in self.shapes)

    @property
    def stored_shapes(self) -> list[tuple[int, int]]:
        """The matrices as files store them: tcnn's padded input columns and output rows are
        left out (a decoder fills them with zeros)."""
        shapes = list(self.shapes)
        shapes[0] = (shapes[0][0], self.n_input_dims)
        shapes[-1] = (self.n_output_dims, shapes[-1][1])
        return shapes

    def to_tcnn(self) -> dict[str, Any]:
        return {
            "otype": "FullyFusedMLP",
            "activation": "ReLU",
            "output_activation": "Sigmoid" if self.output_activation == "sigmoid" else "None",
            "n_neurons": self.n_neurons,
            "n_hidden_layers": self.n_hidden_layers,
        }



def split_params(params: torch.Tensor, cfg: MLPConfig) -> list[torch.Tensor]:
    """Flat vector → weight matrices (views)."""
    mats, at = [], 0
    for r, c in cfg.shapes:
        mats.append(params[at : at + r * c].view(r, c))
        at += r * c
    return mats


def mlp_forward(x: torch.Tensor, params: torch.Tensor, cfg: MLPConfig) -> torch.Tensor:
    """x: (N, n_in) → (N, n_out)."""
    mats = split_params(params, cfg)
    h = x @ mats[0][:, : cfg.n_input_dims].t()
    for m in mats[1:-1]:
        h = F.linear(F.relu(h), m)
    out = F.linear(F.relu(h), mats[-1][: cfg.n_output_dims])
    return torch.sigmoid(out) if cfg.output_activation == "sigmoid" else out


def init_params(cfg: MLPConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Xavier-uniform per matrix over its padded shape (what tcnn does)."""
    parts = []
    for r, c in cfg.shapes:
        bound = math.sqrt(6.0 / (r + c))
        parts.append((torch.rand(r * c, generator=generator) * 2.0 - 1.0) * bound)
    return torch.cat(parts)
