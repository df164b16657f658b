"""``nircodec append LIB.nirc VIDEO``: fit one more video into a library file (pfnr)."""

from __future__ import annotations

import argparse
import math

from codec import registry


def _libraries() -> list[type]:
    return [m for m in registry.methods("video") if m.library]


def add_parser(sub) -> None:
    from codec.cli.common import (
        add_checkpoint,
        add_method_flags,
        add_precision,
        add_preset,
        common_parent,
        size_arg,
    )

    names = ", ".join(m.name for m in _libraries())
    p = sub.add_parser(
        "append",
        parents=[common_parent(device=True, seed=True)],
        help=f"add a video to a library file ({names})",
        description="Fit a video into a library file (made by `nircodec encode VIDEO -o "
        f"LIB.nirc --model {names}`). Weights the earlier videos use stay frozen and their "
        "bytes in the file are never rewritten, so they decode exactly as before. The file is "
        "replaced atomically (or written to -o).",
    )
    p.add_argument("library", help="a library .nirc file")
    p.add_argument("input", help="any video FFmpeg can read, the library's frame size")
    p.add_argument("-o", "--output", help="write the grown library here instead")
    add_method_flags(p, _libraries(), skip=("size",))  # the library fixed its network
    p.add_argument("--start", type=int, default=0, help="first frame to use (default 0)")
    p.add_argument("--max-frames", type=int, help="use at most N frames")
    p.add_argument("--crop", type=size_arg("--crop"), metavar="WxH")
    p.add_argument("--resize", type=size_arg("--resize"), metavar="WxH")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    add_preset(p)
    add_precision(p)
    add_checkpoint(p)
    p.add_argument("--wait", type=_seconds, nargs="?", const=math.inf, metavar="SECONDS",
                   help="when another process is appending to the same file, wait for it "
                   "(at most SECONDS; no number: as long as it takes), then append to the "
                   "library as it left it (default: fail at once)")
    p.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"--wait takes a number of seconds >= 0, not {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from codec.api import append_video, check_output_path
    from codec.cli.common import emit_json, human_bytes, notice_printer
    from codec.options import specs
    from codec.progress import fraction_bar

    if args.output:
        check_output_path(args.output)
    fields = {s.name for m in _libraries() for s in specs(m.Options)} - {"size"}
    options = {k: getattr(args, k) for k in fields if hasattr(args, k)}
    with fraction_bar("append", args.quiet) as report:
        result = append_video(args.library, args.input, start=args.start,
                              max_frames=args.max_frames, crop=args.crop, resize=args.resize,
                              output=args.output, seed=args.seed, device=args.device,
                              threads=args.threads,
                              report=report, checkpoint_every=args.checkpoint_every,
                              resume=args.resume, preset=args.preset,
                              notice=notice_printer(args.quiet), precision=args.precision,
                              wait=args.wait, **options)
    if args.json:
        emit_json({**result.to_dict(), "video": result.train["video"],
                   "library_bytes": result.train["library_bytes"]})
        return 0
    print(f"{result.path}: video {result.train['video']} ({result.frames} frames "
          f"{result.width}x{result.height}) adds {human_bytes(result.bytes)}, "
          f"{result.bpp:.4f} bpp; PSNR {result.psnr:.2f} dB; library now "
          f"{human_bytes(result.train['library_bytes'])}")
    return 0
