"""The ``c3`` video model: multi-resolution latent grids coded with an auto-regressive context
model and a tiny synthesis network (C3, Kim et al. CVPR 2024; Cool-chic, Orange).

network.py: config, latent shapes, upsampling and synthesis; context.py: the context model
(float for training, integer for coding); latents.py: a group's latent stream; fit.py:
training on the shared fit loop; codec.py: the registered codec; method.py: options and the
registered method.
"""

from codec.video.c3.codec import C3Codec
from codec.video.c3.fit import RECIPE, Recipe, fit_c3
from codec.video.c3.method import C3Method, C3Options
from codec.video.c3.network import C3Config, plan_config

__all__ = ["RECIPE", "C3Codec", "C3Config", "C3Method", "C3Options", "Recipe", "fit_c3",
           "plan_config"]
