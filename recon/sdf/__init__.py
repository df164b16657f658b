"""Hash-grid neural SDF (``recon.sdf.fit``: Neural-Pull, optional CQ-NIR); its codec stores the
quantized field. Importing the package registers both."""

from recon.sdf.codec import NeuralSDFCodec
from recon.sdf.fit import RECIPE, Recipe, field_config, fit_sdf, sdf, value_and_gradient
from recon.sdf.method import SDFMethod, SDFOptions

__all__ = ["RECIPE", "NeuralSDFCodec", "Recipe", "SDFMethod", "SDFOptions", "field_config",
           "fit_sdf", "sdf", "value_and_gradient"]
