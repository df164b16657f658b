"""The ``sdf`` codec: the quantized hash-grid + MLP signed distance field
(``recon.surface_codec.NeuralSurfaceCodec``), meshed by marching cubes at its zero level."""

from __future__ import annotations

import numpy as np

from codec.container.format import CodecId
from codec.registry import register
from recon import meshing
from recon.neural import SurfaceFieldConfig
from recon.sdf.fit import sdf
from recon.surface_codec import NeuralSurfaceCodec, in_input_frame


@register("sdf", CodecId.SDF, SurfaceFieldConfig, kind="surface")
class NeuralSDFCodec(NeuralSurfaceCodec):
    n_outputs = 1

    def mesh(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        v, f = meshing.extract(sdf(self.build_field()), resolution or 256, level=self.level)
        return in_input_frame(self.normalization, v, f)
