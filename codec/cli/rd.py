"""``nircodec rd INPUT -o DIR``: rate–distortion curves of INR codecs against FFmpeg anchors."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from codec import registry
    from codec.cli.common import common_parent, size_arg

    default = registry.default_method("video")
    ladder = f"{default}:0.05M,0.1M,0.2M"
    from codec.rd import budget_field

    fields = {m.name: budget_field(m.name) for m in registry.methods("video")}
    epochs = ", ".join(f"{m.name} {getattr(m.Options, fields[m.name]):g} {fields[m.name]}"
                       for m in registry.methods("video"))

    p = sub.add_parser(
        "rd",
        parents=[common_parent(output=True, seed=True)],
        help="rate-distortion sweep with BD-rate against FFmpeg anchors",
        description="Encode the same frames with nircodec models and FFmpeg anchors, measure "
        "every point from real bytes, and write results.json, results.csv, rd.png and "
        "summary.md (BD-rate/BD-PSNR against --reference) into the output directory. Completed "
        "points are cached there: rerunning skips them.",
    )
    p.add_argument("input", help="any video FFmpeg can read")
    p.add_argument(
        "--models",
        default=ladder,
        help=f"model:size,size;model:... or, for models with --lmbda, model:SIZE@λ,λ,... (one "
        f"size at several rate weights; default {ladder}; models: "
        f"{', '.join(m.name for m in registry.methods('video'))})",
    )
    p.add_argument(
        "--anchors",
        default="x264,x265",
        help="comma list of x264, x264-veryslow, x265, svtav1 (default x264,x265)",
    )
    p.add_argument("--reference", default="x265", help="curve the BD metrics compare against")
    p.add_argument("--resize", type=size_arg("--resize"), metavar="WxH")
    p.add_argument("--crop", type=size_arg("--crop"), metavar="WxH")
    p.add_argument("--max-frames", type=int)
    p.add_argument(
        "--epochs",
        help="training epochs (or steps) of INR points: N for every model or MODEL=N,... "
        f"(defaults: {epochs}; see `nircodec encode --help`)",
    )
    p.add_argument("--log-x", action="store_true", help="logarithmic bpp axis in rd.png")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    from codec.cli.common import emit_json
    from codec.errors import InputError
    from codec.rd import SweepSpec, parse_epochs, parse_models, sweep, write_outputs

    anchors = [a.strip() for a in args.anchors.split(",") if a.strip()]
    models = parse_models(args.models) if args.models else {}
    spec = SweepSpec(
        args.input,
        models,
        anchors,
        args.reference,
        args.max_frames,
        args.crop,
        args.resize,
        parse_epochs(args.epochs, models) if args.epochs else None,
        args.seed,
    )
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError(f"{args.output}: exists and is not a directory")
    points = sweep(spec, args.output, quiet=args.quiet)
    summary = write_outputs(points, spec, args.output, log_x=args.log_x)
    if args.json:
        emit_json({"output": args.output, **summary})
        return 0
    with open(os.path.join(args.output, "summary.md")) as fh:
        print(fh.read())
    return 0
