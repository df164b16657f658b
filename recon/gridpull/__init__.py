"""GridPull (``recon.gridpull.fit``): a dense distance grid fitted directly to the points; its
codec stores the grid truncated and quantized. Importing the package registers both."""

from recon.gridpull.codec import GridCodecConfig, GridPullCodec
from recon.gridpull.fit import (
    MAX_RESOLUTION,
    RECIPE,
    Plan,
    Recipe,
    fit_grid,
    plan_fit,
    signed_init,
    stencil,
)
from recon.gridpull.method import GridPullMethod, GridPullOptions

__all__ = ["MAX_RESOLUTION", "RECIPE", "GridCodecConfig", "GridPullCodec", "GridPullMethod",
           "GridPullOptions", "Plan", "Recipe", "fit_grid", "plan_fit", "signed_init", "stencil"]
