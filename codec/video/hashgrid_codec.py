"""The ``hashgrid`` codec: an Instant-NGP-style field over (x, y, t) — a tcnn-exact hash grid and
a small bias-free MLP → RGB — fitted on random pixel batches, then quantized per grid level and
entropy-coded. Decoding renders whole frames, batched.

Coordinates: pixel centres scaled by one common extent ``S = max(W, H, time_scale · T)``:
``x = (col + ½)/S, y = (row + ½)/S, t = (time_scale · frame + ½)/S``, so a grid cell is square
in pixels and spans ``1/time_scale`` frames at the same level. ``time_scale`` > 1 gives time a
finer grid than space; 4 fitted bikes (scene cuts, camera motion) best of 1, 2 and 4 in a fixed
time (README). One 3-D grid was chosen over per-GOP 2-D grids because hashed levels pay only for
cells the video visits, and a cut costs nothing special.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from codec import checkpoint
from codec.container import ContainerReader, Section, SectionKind
from codec.container.format import CodecId
from codec.errors import ContainerError
from codec.fields import FusedMLP, HashGrid, HashGridConfig, MLPConfig, hash_grid_encode
from codec.fields.pack import (
    check_field_tensors,
    fake_quantize_levels,
    load_field,
    quantize_field,
)
from codec.quant import QuantizedTensor
from codec.registry import config_from_dict, register
from codec.tensorpack import pack_tensors, unpack_tensors
from codec.video.meta import VideoInfo
from codec.video.train import Report


@dataclass(frozen=True)
class HashGridVideoConfig:
    """Architecture of a hash-grid video field (everything the decoder needs besides tensors)."""

    n_levels: int = 12
    n_features_per_level: int = 2
    log2_hashmap_size: int = 14
    base_resolution: int = 16
    per_level_scale: float = 1.5
    time_scale: float = 4.0
    """Temporal cells per spatial cell at a level (see module docstring)."""
    n_neurons: int = 64
    n_hidden_layers: int = 2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_scale) and 0 < self.time_scale <= 1024):
            raise ValueError(f"time_scale must be in (0, 1024], got {self.time_scale}")

    def grid(self) -> HashGridConfig:
        return HashGridConfig(3, self.n_levels, self.n_features_per_level,
                              self.log2_hashmap_size, self.base_resolution, self.per_level_scale)

    def mlp(self) -> MLPConfig:
        return MLPConfig(self.n_levels * self.n_features_per_level, 3, self.n_neurons,
                         self.n_hidden_layers)

    def n_params(self) -> int:
        return self.grid().n_params + sum(r * c for r, c in self.mlp().stored_shapes)


def plan_config(width: int, height: int, target: int, **overrides: Any) -> HashGridVideoConfig:
    """The largest table (and level count, 8–16) whose parameters fit ``target``; levels span
    16 cells to one pixel (finest resolution = the longer side). The MLP gets a second hidden
    layer when that costs at most 10 % of the budget: +0.5 dB on bikes at 200k, but on small
    budgets the grid needs the parameters more (12k on a 48×32 clip: 23.0 → 17.3 dB)."""
    if "n_hidden_layers" not in overrides:
        deep = HashGridVideoConfig(n_hidden_layers=2).mlp().stored_shapes
        cost = sum(r * c for r, c in deep) + 3 * 64  # upper bound over level counts
        overrides = {**overrides, "n_hidden_layers": 2 if cost <= target // 10 else 1}
    best = None
    for log2 in range(4, 25):
        for levels in range(8, 17):
            pls = (max(width, height) / 16) ** (1 / (levels - 1))
            cfg = HashGridVideoConfig(n_levels=levels, log2_hashmap_size=log2,
                                      per_level_scale=max(1.0, pls), **overrides)
            n = cfg.n_params()
            if n <= target and (best is None or n > best[0]):
                best = (n, cfg)
    if best is None:
        raise ValueError(f"--size {target} is too small for a hash-grid field")
    return best[1]


@dataclass
class FieldTrainOptions:
    epochs: float = 20.0
    """Passes over all pixels (random batches)."""
    time_budget: float | None = None
    batch: int = 1 << 16
    lr: float = 3e-2
    """Adam, β = (0.9, 0.99), ε = 1e-15 (Instant-NGP's); cosine decay to 3 %."""
    bits: int = 6
    """Bit depth of the widest grid level; the others use the same step (``level_bits``)."""
    qat_fraction: float = 0.1
    """Last fraction of training run with straight-through quantization of the grid."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch < 1 or not 0 <= self.qat_fraction < 1:
            raise ValueError("epochs and batch must be positive, qat fraction in [0, 1)")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError("time budget must be positive")
        if not 2 <= self.bits <= 16:
            raise ValueError("--bits must be in 2..16")


class VideoField(torch.nn.Module):
    """(n, 3) normalised coordinates → (n, 3) RGB (unclamped)."""

    def __init__(self, config: HashGridVideoConfig, backend: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.grid = HashGrid(config.grid(), backend)
        self.mlp = FusedMLP(config.mlp(), backend)

    def forward(self, coords: torch.Tensor, grid_params: torch.Tensor | None = None):
        """``grid_params`` replaces the table (e.g. by its fake-quantized version, torch path)."""
        if grid_params is None:
            return self.mlp(self.grid(coords))
        return self.mlp(hash_grid_encode(coords, grid_params, self.grid.config))


def pixel_coords(idx: torch.Tensor, video: VideoInfo, time_scale: float) -> torch.Tensor:
    """Flat pixel indices (frame-major) → (n, 3) float32 coordinates."""
    w, h, t = video.width, video.height, video.frames
    extent = float(max(w, h, time_scale * t))
    col = idx % w
    row = (idx // w) % h
    frame = idx // (w * h)
    xyz = torch.stack((col + 0.5, row + 0.5, frame * time_scale + 0.5), dim=1)
    return (xyz.double() / extent).float()


@register("hashgrid", CodecId.HASHGRID, HashGridVideoConfig, kind="video")
class HashGridCodec:
    """Quantized grid levels + MLP matrices + video geometry."""

    def __init__(self, config: HashGridVideoConfig, video: VideoInfo,
                 grid: dict[str, QuantizedTensor], mlp: dict[str, QuantizedTensor]) -> None:
        self.config, self.video, self.grid_q, self.mlp_q = config, video, grid, mlp
        check_field_tensors("hashgrid", config.grid(), config.mlp(), grid, mlp)

    # -- encoding -----------------------------------------------------------------------
    @classmethod
    def fit(cls, frames: np.ndarray, fps, config: HashGridVideoConfig, opts: FieldTrainOptions,
            device: torch.device | str = "cpu", report: Report | None = None):
        """frames: (T, H, W, 3) uint8 → (codec, training statistics)."""
        t, h, w, _ = frames.shape
        video = VideoInfo(w, h, t, fps)
        n_pix = t * h * w
        target = torch.from_numpy(frames).reshape(-1, 3).to(device)
        gen = torch.Generator().manual_seed(opts.seed)
        torch.manual_seed(opts.seed)
        model = VideoField(config).to(device)
        optim = torch.optim.Adam(
            [{"params": [model.grid.params]}, {"params": [model.mlp.params], "weight_decay": 1e-6}],
            lr=opts.lr, betas=(0.9, 0.99), eps=1e-15,
        )
        # small clips: smaller batches, so a pass over the pixels is still several steps
        batch = max(256, min(opts.batch, n_pix // 16))
        steps = max(1, math.ceil(opts.epochs * n_pix / batch))
        start = time.perf_counter()
        step, loss_sum, loss_n, progress = 0, 0.0, 0, 0.0
        ckpt = checkpoint.active()
        saved = ckpt.restore("hashgrid") if ckpt else None
        if saved is not None:
            start -= checkpoint.load_training(saved, model, optim, gen)
            step, loss_sum, loss_n = saved["step"], saved["loss_sum"], saved["loss_n"]

        def state() -> dict:
            return checkpoint.training_state(model, optim, gen, start, step=step,
                                             loss_sum=loss_sum, loss_n=loss_n)

        while True:
            elapsed = time.perf_counter() - start
            progress = elapsed / opts.time_budget if opts.time_budget else step / steps
            if progress >= 1.0:
                break
            for g in optim.param_groups:  # cosine to 3% of the base rate
                g["lr"] = opts.lr * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * progress)))
            idx = torch.randint(0, n_pix, (batch,), generator=gen).to(device)
            coords = pixel_coords(idx, video, config.time_scale)
            grid_params = model.grid.params
            if progress >= 1.0 - opts.qat_fraction:
                grid_params = fake_quantize_levels(grid_params, model.grid.config, opts.bits)
            pred = model(coords, grid_params)
            loss = torch.nn.functional.mse_loss(pred, target[idx].float() / 255.0)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
            if report is not None and (step % 10 == 0 or step == 1):
                mse = loss_sum / loss_n
                report(min(progress, 1.0), {"epoch": round(step * batch / n_pix, 1),
                                            "loss": mse, "psnr": -10 * math.log10(max(mse, 1e-10))})
                loss_sum, loss_n = 0.0, 0
            if ckpt is not None and step % 50 == 0:
                ckpt.offer("hashgrid", state)
        stats = {"steps": step, "train_seconds": time.perf_counter() - start,
                 "epochs": step * batch / n_pix, "batch": batch}
        grid_q, mlp_q = quantize_field(model.grid, model.mlp, opts.bits)
        return cls(config, video, grid_q, mlp_q), stats

    # -- container ----------------------------------------------------------------------
    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        header = {"codec": self.name, "config": asdict(self.config), "video": self.video.to_dict()}
        return header, [
            Section(SectionKind.TENSORS, "grid", pack_tensors(self.grid_q)),
            Section(SectionKind.TENSORS, "mlp", pack_tensors(self.mlp_q)),
        ]

    @classmethod
    def from_container(cls, reader: ContainerReader) -> HashGridCodec:
        h = reader.header
        try:
            config = config_from_dict(HashGridVideoConfig, h.get("config"), "hashgrid config")
            config.grid()
            config.mlp()
        except ValueError as exc:
            raise ContainerError(f"hashgrid: bad configuration: {exc}") from None
        video = VideoInfo.from_dict(h.get("video"))
        grid = unpack_tensors(reader.read("grid", SectionKind.TENSORS))
        mlp = unpack_tensors(reader.read("mlp", SectionKind.TENSORS))
        return cls(config, video, grid, mlp)

    @classmethod
    def example(cls) -> HashGridCodec:
        from fractions import Fraction

        config = HashGridVideoConfig(n_levels=3, log2_hashmap_size=6, base_resolution=4,
                                     per_level_scale=2.0, n_neurons=16, n_hidden_layers=1)
        torch.manual_seed(0)
        model = VideoField(config, backend="torch")
        with torch.no_grad():
            model.grid.params.normal_(0, 0.1)
        grid, mlp = quantize_field(model.grid, model.mlp, 8)
        return cls(config, VideoInfo(15, 13, 3, Fraction(25)), grid, mlp)

    # -- decoding -----------------------------------------------------------------------
    def params(self) -> int:
        return sum(int(np.prod(q.shape)) for q in (*self.grid_q.values(), *self.mlp_q.values()))

    def build_field(self, device: torch.device | str = "cpu") -> VideoField:
        model = VideoField(self.config)
        load_field(model.grid, model.mlp, self.grid_q, self.mlp_q)
        return model.to(device).eval()

    def render(self, indices: Sequence[int] | None = None, device: torch.device | str = "cpu",
               batch_pixels: int = 1 << 17) -> Iterator[np.ndarray]:
        """Decoded RGB uint8 frames (H, W, 3) for ``indices`` (default: all), in order."""
        indices = range(self.video.frames) if indices is None else indices
        field = self.build_field(device)
        w, h = self.video.width, self.video.height
        per_frame = torch.arange(w * h, device=device)
        with torch.inference_mode():
            for i in indices:
                idx = per_frame + int(i) * w * h
                out = torch.cat([
                    field(pixel_coords(idx[s : s + batch_pixels], self.video,
                                       self.config.time_scale))
                    for s in range(0, w * h, batch_pixels)
                ])
                frame = (out.clamp(0, 1) * 255).round().to(torch.uint8).view(h, w, 3)
                yield frame.cpu().numpy()
