"""Open3D screened Poisson (``recon.poisson.mesh``), the mesh-only baseline method. Importing
the package registers it."""

from recon.poisson.mesh import poisson_mesh
from recon.poisson.method import PoissonMethod, PoissonOptions

__all__ = ["PoissonMethod", "PoissonOptions", "poisson_mesh"]
