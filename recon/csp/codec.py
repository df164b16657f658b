"""The ``csp`` codec: the quantized hash-grid + MLP offset field
(``recon.surface_codec.NeuralSurfaceCodec``) with the shell distance its meshes use."""

from __future__ import annotations

import numpy as np

from codec.container.format import CodecId
from codec.fit import Budget
from codec.registry import register
from recon.csp.extract import mesh
from recon.csp.fit import Recipe, field_config, fit_csp
from recon.neural import SurfaceFieldConfig
from recon.pointcloud import Normalization
from recon.surface_codec import NeuralSurfaceCodec, in_input_frame


@register("csp", CodecId.CSP, SurfaceFieldConfig, kind="surface")
class CSPCodec(NeuralSurfaceCodec):
    n_outputs = 3

    @classmethod
    def example(cls):
        """A tiny field fitted (briefly) to points on a sphere: random weights have no surface."""
        rng = np.random.default_rng(0)
        p = rng.standard_normal((400, 3))
        p = 0.3 * p / np.linalg.norm(p, axis=1, keepdims=True)
        recipe = Recipe(finest=16, batch=256, plane_k=0)
        field, _ = fit_csp(p, field_config(12_000, recipe), Budget(steps=30), recipe=recipe)
        return cls.from_field(field, Normalization((0.0, 0.0, 0.0), 1.0), bits=8)

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        # level 0: the shell distance of recon.csp.extract.mesh (0.6 of the lattice spacing)
        v, f = mesh(self.build_field(), resolution or 256, level=self.level or None)
        return in_input_frame(self.normalization, v, f)
