"""CSP (``recon.csp.fit``): a closest-surface-point field, meshed so that open surfaces stay open
(``recon.csp.extract``); its codec stores the quantized field. Importing the package registers
both."""

from recon.csp.codec import CSPCodec
from recon.csp.extract import drop_small_components, fitted_level, mesh, offsets, udf
from recon.csp.fit import RECIPE, Recipe, field_config, fit_csp, plane_targets, tangent_planes
from recon.csp.method import CSPMethod, CSPOptions

__all__ = ["RECIPE", "CSPCodec", "CSPMethod", "CSPOptions", "Recipe", "drop_small_components",
           "field_config", "fit_csp", "fitted_level", "mesh", "offsets", "plane_targets",
           "tangent_planes", "udf"]
