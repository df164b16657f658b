"""The ``hashgrid`` video model: an Instant-NGP-style hash-grid field over (x, y, t).

network.py: the field, its config and the size planner; fit.py: training on the shared fit
loop; codec.py: the registered codec (file sections, decoding); method.py: options and the
registered method.
"""

from codec.video.hashgrid.codec import HashGridCodec
from codec.video.hashgrid.fit import RECIPE, FieldTrainer, Recipe, fit_field
from codec.video.hashgrid.method import HashGridMethod, HashGridOptions
from codec.video.hashgrid.network import HashGridVideoConfig, VideoField, pixel_coords, plan_config

__all__ = ["RECIPE", "FieldTrainer", "HashGridCodec", "HashGridMethod", "HashGridOptions",
           "HashGridVideoConfig", "Recipe", "VideoField", "fit_field", "pixel_coords",
           "plan_config"]
