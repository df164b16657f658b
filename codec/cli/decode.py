"""``nircodec decode FILE.nirc -o OUT``: frames back from a file (PNG directory, .y4m, .mp4)."""

from __future__ import annotations

import argparse
import time


def add_parser(sub) -> None:
    from codec.cli.common import common_parent

    p = sub.add_parser(
        "decode",
        parents=[common_parent(output=True, device=True)],
        help="decode a .nirc video into frames",
        description="Decode a .nirc video. OUT is a directory (PNG frames, exact RGB), a .y4m "
        "file (4:4:4) or a .mp4 file (H.264, for viewing).",
    )
    p.add_argument("file", help="a .nirc file")
    p.add_argument("--frames", metavar="A:B", help="decode only frames A..B-1 (e.g. 10:20)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.api import decode_video, parse_range
    from codec.cli.common import emit_json

    t0 = time.perf_counter()
    frames = parse_range(args.frames) if args.frames else None
    decode_video(args.file, args.output, frames=frames, device=args.device)
    seconds = time.perf_counter() - t0
    if args.json:
        emit_json({"input": args.file, "output": args.output, "decode_seconds": seconds})
    elif not args.quiet:
        print(f"{args.output}: decoded in {seconds:.1f} s")
    return 0
