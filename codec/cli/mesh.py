"""``nircodec mesh POINTS -o MESH.ply``: reconstruct a mesh from a point cloud (no normals)."""

from __future__ import annotations

import argparse

METHODS = ("gridpull", "sdf", "csp", "poisson")  # recon.api.METHODS; recon loads lazily


def add_parser(sub) -> None:
    from codec.cli.common import add_coord_quant, common_parent

    p = sub.add_parser(
        "mesh",
        parents=[common_parent(output=True, seed=True)],
        help="reconstruct a mesh from a point cloud",
        description="Fit a field to a point cloud (.ply .pcd .xyz .npy; normals not needed) and "
        "extract its surface as a mesh (.ply or .obj) in the input's coordinate frame. "
        "gridpull: a distance grid fitted directly (default); sdf: hash-grid neural SDF "
        "(Neural-Pull); csp: closest-surface-point field, keeps open surfaces open; poisson: "
        "Open3D screened Poisson with estimated normals (the usual baseline).",
    )
    p.add_argument("points", help="point cloud file")
    p.add_argument("--method", default="gridpull", choices=METHODS, help="default gridpull")
    p.add_argument(
        "--resolution",
        type=int,
        help="marching-cubes lattice per axis (default: the grid's own 256 for gridpull, 256 "
        "for sdf and csp)",
    )
    p.add_argument("--steps", type=int, help="optimisation steps (default: the method's)")
    add_coord_quant(p)
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.cli.common import emit_json
    from codec.progress import fraction_bar
    from recon.api import reconstruct

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with fraction_bar(args.method, args.quiet) as report:
        result = reconstruct(args.points, args.output, method=args.method,
                             resolution=args.resolution, seed=args.seed,
                             coord_quant=args.coord_quant, steps=args.steps, report=report)
    if args.json:
        emit_json(result)
    else:
        print(f"{result['output']}: {result['vertices']:,} vertices, {result['triangles']:,} "
              f"triangles from {result['points']:,} points ({args.method}, "
              f"{result['seconds']:.1f} s)")
    return 0
