"""``nircodec mesh POINTS -o MESH.ply``: reconstruct a mesh from a point cloud (no normals).

The ``--method`` choices and their flags come from the registry's surface methods."""

from __future__ import annotations

import argparse

from codec import registry


def add_parser(sub) -> None:
    from codec.cli.common import add_method_flags, common_parent

    methods = registry.methods("surface")
    p = sub.add_parser(
        "mesh",
        parents=[common_parent(output=True, seed=True)],
        help="reconstruct a mesh from a point cloud",
        description="Fit a field to a point cloud (.ply .pcd .xyz .npy; normals not needed) and "
        "extract its surface as a mesh (.ply or .obj) in the input's coordinate frame. "
        + " ".join(f"{m.name}: {m.summary}." for m in methods),
    )
    p.add_argument("points", help="point cloud file")
    default = registry.default_method("surface")
    p.add_argument("--method", default=default, choices=[m.name for m in methods],
                   help=f"default {default}")
    p.add_argument(
        "--resolution",
        type=int,
        help="marching-cubes lattice per axis (default: the method's: gridpull its fitted "
        "grid, set by --grid; sdf and csp 256)",
    )
    add_method_flags(p, methods, mesh=True)
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.cli.common import emit_json, method_options
    from codec.progress import fraction_bar
    from recon.api import reconstruct

    method = registry.method(args.method, "surface")
    options = method_options(args, method, registry.methods("surface"), "--method")
    with fraction_bar(args.method, args.quiet) as report:
        result = reconstruct(args.points, args.output, method=args.method, options=options,
                             resolution=args.resolution, seed=args.seed, threads=args.threads,
                             report=report)
    if args.json:
        emit_json(result)
    else:
        print(f"{result['output']}: {result['vertices']:,} vertices, {result['triangles']:,} "
              f"triangles from {result['points']:,} points ({args.method}, "
              f"{result['seconds']:.1f} s)")
    return 0
