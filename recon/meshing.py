"""Meshes from fields: marching cubes over the padded normalised box, evaluated block-sparsely.

A field is a function from (n, 3) float32 normalised coordinates to (n,) values: a signed
distance (negative inside) or an unsigned distance. Evaluating a neural field at every node of a
256³ lattice costs minutes on a CPU, so the lattice is split into blocks of 4³ cells; a block is
evaluated only when its centre value says the surface can pass through it (the CSP paper's
coarse-to-fine pruning, one level). Blocks that are skipped take the sign of their centre.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BOX = 0.55
"""Half-width of the box fields live in: points fill [-0.5, 0.5]³, plus a margin."""

Field = Callable[[np.ndarray], np.ndarray]


def lattice(resolution: int, box: float = BOX) -> tuple[np.ndarray, float]:
    """Node coordinates along one axis (resolution,) and the spacing."""
    x = np.linspace(-box, box, resolution)
    return x, float(x[1] - x[0])


def grid_field(values: np.ndarray) -> Field:
    """Trilinear interpolation of a (R, R, R) grid of values on the box lattice, as a field
    over normalised points."""
    r = values.shape[0]
    _, h = lattice(r)

    def field(p: np.ndarray) -> np.ndarray:
        coords = ((np.asarray(p, np.float64) + BOX) / h).T
        return ndimage.map_coordinates(values, coords, order=1, mode="nearest")

    return field


def evaluate(field: Field, points: np.ndarray, batch: int = 1 << 17) -> np.ndarray:
    """field over (n, 3) points in batches → (n,) float32."""
    out = np.empty(len(points), np.float32)
    for s in range(0, len(points), batch):
        out[s : s + batch] = field(points[s : s + batch].astype(np.float32))
    return out


def sample_volume(
    field: Field,
    resolution: int,
    unsigned: bool = False,
    block: int = 4,
    margin: float = 2.0,
    box: float = BOX,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(values (R, R, R) float32 indexed [x, y, z], evaluated-node mask, spacing).

    A block is evaluated when |f(centre)| ≤ margin · half its diagonal;
    ``margin`` > 1 leaves room for fields that are not exactly 1-Lipschitz."""
    r = int(resolution)
    axis, h = lattice(r, box)
    nb = -(-(r - 1) // block)
    centres_idx = (np.arange(nb) * block + block / 2).clip(0, r - 1)
    centres = -box + centres_idx * h
    cx, cy, cz = np.meshgrid(centres, centres, centres, indexing="ij")
    c = evaluate(field, np.stack([cx.ravel(), cy.ravel(), cz.ravel()], 1)).reshape(nb, nb, nb)
    half_diag = block * h * np.sqrt(3) / 2
    keep = (c <= margin * half_diag) if unsigned else (np.abs(c) <= margin * half_diag)
    big = np.float32(2 * block * h)
    fill = np.full(c.shape, big, np.float32) if unsigned else np.where(c < 0, -big, big)
    # every node takes its block's fill; nodes of kept blocks are then evaluated
    owner = np.minimum(np.arange(r) // block, nb - 1)
    values = fill[np.ix_(owner, owner, owner)].astype(np.float32)
    mask = np.zeros((r, r, r), bool)
    for bi, bj, bk in np.argwhere(keep):
        s = [slice(b * block, min(r, b * block + block + 1)) for b in (bi, bj, bk)]
        mask[s[0], s[1], s[2]] = True
    nodes = np.argwhere(mask)
    values[mask] = evaluate(field, axis[nodes].astype(np.float32))
    return values, mask, h


def marching_cubes(
    values: np.ndarray, level: float, spacing: float, box: float = BOX, mask=None
) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) normalised float64, triangles (F, 3) int64), outward-facing for signed
    distances (negative inside). Empty arrays when the level is never crossed."""
    from skimage.measure import marching_cubes as mc

    lo, hi = float(np.min(values)), float(np.max(values))
    if not lo < level < hi:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    try:
        v, f, _, _ = mc(values, level=level, spacing=(spacing,) * 3, mask=mask,
                        gradient_direction="descent", allow_degenerate=False)
    except (ValueError, RuntimeError):  # no crossing inside the mask
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    return v.astype(np.float64) - box, f.astype(np.int64)


def extract(
    field: Field, resolution: int = 256, level: float = 0.0, unsigned: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mesh (normalised frame) of ``field == level`` on a ``resolution``³ lattice."""
    values, mask, h = sample_volume(field, resolution, unsigned=unsigned)
    return marching_cubes(values, level, h, mask=mask)


def component_labels(f: np.ndarray, n_vertices: int) -> np.ndarray:
    """(F,) label of the connected piece (shared vertices) each triangle of f (F, 3) is in."""
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]]])
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                     (n_vertices, n_vertices))
    return connected_components(adj, directed=False)[1][f[:, 0]]


def count_components(v: np.ndarray, f: np.ndarray) -> int:
    """Connected pieces of the mesh v (V, 3), f (F, 3); 0 for no triangles."""
    return len(np.unique(component_labels(f, len(v)))) if len(f) else 0


def drop_small_components(
    v: np.ndarray, f: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Remove connected pieces with fewer than ``fraction`` of the triangles, then unused
    vertices. v (V, 3), f (F, 3) → (v' (V', 3), f' (F', 3))."""
    if len(f) and fraction > 0:
        label = component_labels(f, len(v))
        sizes = np.bincount(label)
        f = f[sizes[label] >= fraction * len(f)]
    used, f = np.unique(f, return_inverse=True)
    return v[used], f.reshape(-1, 3).astype(np.int64)


MIN_COMPONENT = 0.01
"""Pieces of a distance grid's mesh with fewer triangles than this fraction are dropped: sign
flips between sparse or noisy points leave small closed bubbles that no surface has."""


def grid_mesh(values: np.ndarray, resolution: int | None = None,
              min_component: float = MIN_COMPONENT) -> tuple[np.ndarray, np.ndarray]:
    """Mesh (normalised frame) of the zero set of a (R, R, R) distance grid on the box lattice,
    on its own lattice or resampled trilinearly to ``resolution``³; small pieces dropped."""
    if resolution is None or resolution == values.shape[0]:
        v, f = marching_cubes(values, 0.0, lattice(values.shape[0])[1])
    else:
        v, f = extract(grid_field(values), resolution)
    return drop_small_components(v, f, min_component)
