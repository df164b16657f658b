"""``nircodec decode FILE.nirc -o OUT``: frames back from a file (PNG directory, .y4m, .mp4)."""

from __future__ import annotations

import argparse
import time


def add_parser(sub) -> None:
    from codec.cli.common import common_parent

    p = sub.add_parser(
        "decode",
        parents=[common_parent(output=True, device=True)],
        help="decode a .nirc file into frames or a mesh",
        description="Decode a .nirc file. Video: OUT is a directory (PNG frames, exact RGB), a "
        ".y4m file (4:4:4) or a .mp4 file (H.264, for viewing). Surface: OUT is a .ply or .obj "
        "mesh in the original point cloud's frame.",
    )
    p.add_argument("file", help="a .nirc file")
    p.add_argument("--frames", metavar="A:B", help="video: decode only frames A..B-1 (e.g. 10:20)")
    p.add_argument("--video", type=int, help="library files: which video (default 0)")
    p.add_argument(
        "--resolution",
        type=int,
        help="surface: marching-cubes lattice per axis (default: the method's, e.g. a stored "
        "grid's own resolution, else 256)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.api import decode_video, parse_range
    from codec.cli.common import emit_json
    from codec.errors import InputError

    t0 = time.perf_counter()
    if _kind(args.file) == "surface":
        from recon.api import decode_surface

        if args.frames:
            raise InputError("--frames applies to videos; this file holds a surface")
        decode_surface(args.file, args.output, resolution=args.resolution)
    else:
        if args.resolution is not None:
            raise InputError("--resolution applies to surfaces; this file holds a video")
        frames = parse_range(args.frames) if args.frames else None
        decode_video(args.file, args.output, frames=frames, device=args.device,
                     video=args.video)
    seconds = time.perf_counter() - t0
    if args.json:
        emit_json({"input": args.file, "output": args.output, "decode_seconds": seconds})
    elif not args.quiet:
        print(f"{args.output}: decoded in {seconds:.1f} s")
    return 0


def _kind(path: str) -> str:
    from codec import registry
    from codec.container import ContainerReader

    with ContainerReader(path) as reader:
        return registry.by_id(reader.codec_id).kind
