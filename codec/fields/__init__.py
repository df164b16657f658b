"""Neural fields: hash encodings and fused MLPs with tiny-cuda-nn semantics.

The PyTorch code is the reference; ``backend="tcnn"`` (or ``"auto"`` on CUDA tensors with
tinycudann installed) runs the same function with the same flat parameter vectors through
tinycudann. The backend never changes what is stored.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from codec.fields import hashgrid as _hg
from codec.fields import mlp as _mlp
from codec.fields.hashgrid import GridGeometry, HashGridConfig, hash_grid_encode
from codec.fields.mlp import MLPConfig, mlp_forward

BACKENDS = ("auto", "torch", "tcnn")


def largest_within(target: int, configs):
    """The first of ``configs`` (anything with ``n_params()``) with the most parameters that
    fit ``target``: how the hash-grid field planners choose a table and a level count."""
    best = None
    for cfg in configs:
        n = cfg.n_params()
        if n <= target and (best is None or n > best[0]):
            best = (n, cfg)
    if best is None:
        raise ValueError(f"--size {target} is too small for a hash-grid field")
    return best[1]

__all__ = [
    "BACKENDS",
    "FusedMLP",
    "GridGeometry",
    "HashGrid",
    "HashGridConfig",
    "MLPConfig",
    "hash_grid_encode",
    "largest_within",
    "mlp_forward",
    "resolve_backend",
    "tcnn_available",
]


@functools.cache
def _tcnn():
    try:
        import tinycudann  # type: ignore[import-not-found]
    except Exception:  # missing, or built for another CUDA: the torch path is used
        return None
    return tinycudann


def tcnn_available() -> bool:
    return _tcnn() is not None


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")


def resolve_backend(backend: str, device: torch.device) -> str:
    """"auto" → "tcnn" when tinycudann imports and the tensors are on CUDA, else "torch"."""
    _check_backend(backend)
    if backend == "auto":
        return "tcnn" if device.type == "cuda" and tcnn_available() else "torch"
    if backend == "tcnn" and (device.type != "cuda" or not tcnn_available()):
        raise RuntimeError("backend 'tcnn' needs tinycudann and CUDA tensors")
    return backend


class _Field(nn.Module):
    """A flat ``params`` vector plus a lazily built tinycudann twin sharing it."""

    def __init__(self, n_params: int, init: torch.Tensor, backend: str) -> None:
        super().__init__()
        _check_backend(backend)
        if init.numel() != n_params:
            raise ValueError(f"expected {n_params} parameters, got {init.numel()}")
        self.backend = backend
        self.params = nn.Parameter(init.detach().clone().float())
        self._twin: list = []  # not a submodule: state_dict holds only our params

    def _tcnn_module(self):
        if not self._twin:
            self._twin.append(self._make_twin(_tcnn()))
        twin = self._twin[0]
        twin.params = self.params  # one parameter tensor for both backends
        return twin


class HashGrid(_Field):
    """x: (N, D) in [0, 1] → (N, n_levels · F)."""

    def __init__(self, config: HashGridConfig, backend: str = "auto",
                 params: torch.Tensor | None = None, generator: torch.Generator | None = None):
        init = params if params is not None else _hg.init_params(config, generator)
        super().__init__(config.n_params, init, backend)
        self.config = config

    def _make_twin(self, tcnn):
        cfg = self.config
        return tcnn.Encoding(cfg.n_input_dims, cfg.to_tcnn(), dtype=torch.float32).to("cuda")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if resolve_backend(self.backend, x.device) == "tcnn":
            return self._tcnn_module()(x.float().contiguous()).float()
        return hash_grid_encode(x, self.params, self.config)


class FusedMLP(_Field):
    """x: (N, n_in) → (N, n_out); FullyFusedMLP's function (tcnn runs it in half precision)."""

    def __init__(self, config: MLPConfig, backend: str = "auto",
                 params: torch.Tensor | None = None, generator: torch.Generator | None = None):
        init = params if params is not None else _mlp.init_params(config, generator)
        super().__init__(config.n_params, init, backend)
        self.config = config

    def _make_twin(self, tcnn):
        cfg = self.config
        # we pad the input ourselves so the padding is zeros whatever tcnn pads with
        return tcnn.Network(_mlp.pad16(cfg.n_input_dims), cfg.n_output_dims, cfg.to_tcnn()).to(
            "cuda"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if resolve_backend(self.backend, x.device) == "tcnn":
            pad = _mlp.pad16(self.config.n_input_dims) - x.shape[1]
            xp = torch.nn.functional.pad(x.float(), (0, pad)).contiguous()
            return self._tcnn_module()(xp).float()
        return mlp_forward(x, self.params, self.config)
