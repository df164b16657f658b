"""``nircodec append LIB.nirc VIDEO``: fit one more video into a PFNR library file."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from codec.cli.common import add_checkpoint, common_parent, size_arg

    p = sub.add_parser(
        "append",
        parents=[common_parent(seed=True)],
        help="add a video to a pfnr library file",
        description="Fit a video as a new masked subnetwork of a pfnr library (made by "
        "`nircodec encode VIDEO -o LIB.nirc --model pfnr`). Weights the earlier videos use "
        "stay frozen and their bytes in the file are never rewritten, so they decode exactly "
        "as before. The file is replaced atomically (or written to -o).",
    )
    p.add_argument("library", help="a pfnr .nirc file")
    p.add_argument("input", help="any video FFmpeg can read, the library's frame size")
    p.add_argument("-o", "--output", help="write the grown library here instead")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, help="training epochs (default 150)")
    g.add_argument("--time-budget", type=float, metavar="SECONDS")
    p.add_argument("--capacity", type=float, help="fraction of the network this video may use "
                   "(default 0.3)")
    p.add_argument("--bits", type=int, help="bit depth of its new weights (default 8)")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--max-frames", type=int)
    p.add_argument("--crop", type=size_arg("--crop"), metavar="WxH")
    p.add_argument("--resize", type=size_arg("--resize"), metavar="WxH")
    p.add_argument("--threads", type=int)
    add_checkpoint(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.api import append_video, check_output_path
    from codec.cli.common import emit_json, human_bytes
    from codec.progress import fraction_bar

    if args.output:
        check_output_path(args.output)
    with fraction_bar("pfnr", args.quiet) as report:
        result = append_video(args.library, args.input, start=args.start,
                              max_frames=args.max_frames, crop=args.crop, resize=args.resize,
                              output=args.output, epochs=args.epochs,
                              time_budget=args.time_budget, capacity=args.capacity,
                              bits=args.bits, seed=args.seed, threads=args.threads,
                              report=report, checkpoint_every=args.checkpoint_every,
                              resume=args.resume)
    if args.json:
        emit_json({**result.to_dict(), "video": result.train["video"],
                   "library_bytes": result.train["library_bytes"]})
        return 0
    print(f"{result.path}: video {result.train['video']} ({result.frames} frames "
          f"{result.width}x{result.height}) adds {human_bytes(result.bytes)}, "
          f"{result.bpp:.4f} bpp; PSNR {result.psnr:.2f} dB; library now "
          f"{human_bytes(result.train['library_bytes'])}")
    return 0
