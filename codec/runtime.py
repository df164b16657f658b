"""Compute device and random seeds for library calls (the CLI's --device and --seed)."""

from __future__ import annotations

import random

from codec.errors import InputError


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed every RNG and ask torch for deterministic kernels (repeatable CPU encodes)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
