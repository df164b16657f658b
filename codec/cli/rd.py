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
        help="rate-distortion sweep with BD-rate against FFmpeg anchors, on Ray",
        description="Encode the same frames with nircodec models and FFmpeg anchors, measure "
        "every point from real bytes, and write results.json, results.csv, rd.png and "
        "summary.md (BD-rate/BD-PSNR against --reference) into the output directory. Each "
        "(input, model, rate point) and each anchor ladder is one Ray task: with no --address "
        "Ray runs embedded on this machine. Several inputs: one folder of outputs per input, "
        "and the data set's (BD-rate averaged over the inputs, mean curves) in the output "
        "directory. Completed points are cached there: rerunning skips them.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="videos FFmpeg can read, folders of them, or glob patterns")
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
    g = p.add_argument_group("Ray")
    g.add_argument("--address", metavar="HOST:PORT",
                   help="join a running Ray cluster (default: RAY_ADDRESS, else start Ray "
                   "on this machine for the sweep)")
    g.add_argument("--task-cpus", type=float, default=1.0, metavar="N",
                   help="CPUs per task, its PyTorch threads (default 1)")
    g.add_argument("--task-gpus", type=float, default=0.0, metavar="F",
                   help="GPUs per task, fractions share one (default 0: train on CPUs)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os
    from dataclasses import replace
    from pathlib import Path

    from codec.cli.common import emit_json
    from codec.errors import InputError
    from codec.rd import SweepSpec, parse_epochs, parse_models, write_outputs
    from codec.sweep import VIDEO, Engine, expand_inputs, input_names, kind_of, run_sweep

    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError(f"{args.output}: exists and is not a directory")
    engine = Engine(args.address, args.task_cpus, args.task_gpus)
    inputs = expand_inputs(args.inputs)
    if kind_of(inputs[0]) == "surface":
        raise InputError("rd of point clouds and meshes: not yet supported")
    anchors = [a.strip() for a in args.anchors.split(",") if a.strip()]
    models = parse_models(args.models) if args.models else {}
    template = SweepSpec(
        str(inputs[0]),
        models,
        anchors,
        args.reference,
        args.max_frames,
        args.crop,
        args.resize,
        parse_epochs(args.epochs, models) if args.epochs else None,
        args.seed,
    )
    specs = [replace(template, input=str(p)) for p in inputs]
    out = Path(args.output)
    names = input_names(inputs)
    outs = [out] if len(inputs) == 1 else [out / n for n in names]
    results = run_sweep(VIDEO, specs, outs, engine, quiet=args.quiet)
    summaries = {n: write_outputs(pts, spec, o, log_x=args.log_x)
                 for n, pts, spec, o in zip(names, results, specs, outs, strict=True)}
    if len(inputs) == 1:
        summary = summaries[names[0]]
    else:
        from codec.dataset import write_dataset
        from codec.rd import describe

        summary = write_dataset(dict(zip(names, results, strict=True)), args.reference, out,
                                lambda c: describe(c, template), log_x=args.log_x)
        summary["per_input"] = summaries
    if args.json:
        emit_json({"output": args.output, **summary})
        return 0
    print((out / "summary.md").read_text())
    return 0
