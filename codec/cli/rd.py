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
        help="rate-distortion sweep with BD-rate against FFmpeg (or Poisson+Draco) anchors, "
        "on Ray",
        description="Encode the same frames with nircodec models and FFmpeg anchors, measure "
        "every point from real bytes, and write results.json, results.csv, rd.png and "
        "summary.md (BD-rate/BD-PSNR against --reference) into the output directory. Point "
        "clouds and meshes: nircodec surface fields against a Poisson mesh stored with Draco, "
        "bytes against CD-L1 (BD on the CD axis). Each (input, model, rate point) and each "
        "anchor ladder is one Ray task: with no --address Ray runs embedded on this machine. "
        "Several inputs: one folder of outputs per input, and the data set's (BD-rate "
        "averaged over the inputs, mean curves) in the output directory. Completed points are "
        "cached there: rerunning skips them.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="videos FFmpeg can read, point clouds or meshes; folders of them, or "
                   "glob patterns")
    p.add_argument(
        "--models",
        help=f"model:size,size;model:... or, for models with --lmbda, model:SIZE@λ,λ,... (one "
        f"size at several rate weights; default {ladder}, for surfaces {SURFACE_LADDER}; "
        f"video models: {', '.join(m.name for m in registry.methods('video'))})",
    )
    p.add_argument(
        "--anchors",
        help="comma list of x264, x264-veryslow, x265, svtav1 (default x264,x265); surfaces: "
        "poisson-draco (the default)",
    )
    p.add_argument("--reference",
                   help="curve the BD metrics compare against (default x265; surfaces: "
                   "poisson-draco)")
    p.add_argument("--resize", type=size_arg("--resize"), metavar="WxH")
    p.add_argument("--crop", type=size_arg("--crop"), metavar="WxH")
    p.add_argument("--max-frames", type=int)
    p.add_argument(
        "--epochs",
        help="training epochs (or steps) of INR points: N for every model or MODEL=N,... "
        f"(defaults: {epochs}; see `nircodec encode --help`)",
    )
    p.add_argument("--log-x", action="store_true", help="logarithmic bpp axis in rd.png")
    g = p.add_argument_group("surfaces")
    g.add_argument("--conditions", metavar="C,...",
                   help="how meshes are sampled (and clouds degraded), each a data-set input: "
                   "clean, noisy[:SIGMA] (default 0.005), sparse[:N] (default 3000); default "
                   "clean")
    g.add_argument("--points", type=int, metavar="N",
                   help="points sampled on a mesh (default 30000)")
    g.add_argument("--samples", type=int, metavar="N",
                   help="metric samples each way (default 100000)")
    g = p.add_argument_group("Ray")
    g.add_argument("--address", metavar="HOST:PORT",
                   help="join a running Ray cluster (default: RAY_ADDRESS, else start Ray "
                   "on this machine for the sweep)")
    g.add_argument("--task-cpus", type=float, default=1.0, metavar="N",
                   help="CPUs per task, its PyTorch threads (default 1)")
    g.add_argument("--task-gpus", type=float, default=0.0, metavar="F",
                   help="GPUs per task, fractions share one (default 0: train on CPUs)")
    p.set_defaults(run=run)


SURFACE_LADDER = "gridpull:32k,110k,262k,auto"
VIDEO_ONLY = ("resize", "crop", "max_frames")
SURFACE_ONLY = ("conditions", "points", "samples")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from codec.cli.common import emit_json
    from codec.errors import InputError
    from codec.rd import write_outputs
    from codec.sweep import Engine, expand_inputs, input_names, kind_of, run_sweep

    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError(f"{args.output}: exists and is not a directory")
    engine = Engine(args.address, args.task_cpus, args.task_gpus)
    inputs = expand_inputs(args.inputs)
    kind = kind_of(inputs[0])
    wrong = VIDEO_ONLY if kind == "surface" else SURFACE_ONLY
    given = [f"--{k.replace('_', '-')}" for k in wrong if getattr(args, k) is not None]
    if given:
        raise InputError(f"{', '.join(given)}: not for {kind} inputs")
    names = input_names(inputs)
    if kind == "video":
        sweep_kind, specs, describe = _video_specs(args, inputs)
    else:
        sweep_kind, specs, names, describe = _surface_specs(args, inputs, names)
    out = Path(args.output)
    outs = [out] if len(specs) == 1 else [out / n for n in names]
    results = run_sweep(sweep_kind, specs, outs, engine, quiet=args.quiet)
    summaries = {n: write_outputs(pts, spec, o, log_x=args.log_x, describe_curve=describe)
                 for n, pts, spec, o in zip(names, results, specs, outs, strict=True)}
    if len(specs) == 1:
        summary = summaries[names[0]]
    else:
        from codec.dataset import write_dataset

        summary = write_dataset(dict(zip(names, results, strict=True)), specs[0].reference,
                                out, describe, log_x=args.log_x)
        summary["per_input"] = summaries
    if args.json:
        emit_json({"output": args.output, **summary})
        return 0
    print((out / "summary.md").read_text())
    return 0


def _video_specs(args, inputs):
    from dataclasses import replace

    from codec import registry
    from codec.rd import SweepSpec, describe, parse_epochs, parse_models
    from codec.sweep import VIDEO

    models = parse_models(args.models or f"{registry.default_method('video')}:0.05M,0.1M,0.2M")
    given = args.anchors if args.anchors is not None else "x264,x265"  # "": no anchors
    anchors = [a.strip() for a in given.split(",") if a.strip()]
    template = SweepSpec(
        str(inputs[0]),
        models,
        anchors,
        args.reference or "x265",
        args.max_frames,
        args.crop,
        args.resize,
        parse_epochs(args.epochs, models) if args.epochs else None,
        args.seed,
    )
    specs = [replace(template, input=str(p)) for p in inputs]
    return VIDEO, specs, lambda curve: describe(curve, template)


def _surface_specs(args, inputs, names):
    from codec.errors import InputError
    from codec.rd import parse_epochs, parse_models
    from recon.rd import ANCHOR, POINTS, SURFACE, SurfaceSpec, parse_condition

    models = parse_models(args.models or SURFACE_LADDER, "surface")
    anchors = [a.strip() for a in (args.anchors if args.anchors is not None else ANCHOR)
               .split(",") if a.strip()]
    conditions = [c.strip() for c in (args.conditions or "clean").split(",") if c.strip()]
    for c in conditions:
        parse_condition(c)
    for flag, value in (("--points", args.points), ("--samples", args.samples)):
        if value is not None and not 10 <= value <= 10_000_000:
            raise InputError(f"{flag} must be in 10..10M, got {value}")
    epochs = parse_epochs(args.epochs, models) if args.epochs else None
    specs, spec_names = [], []
    for path, name in zip(inputs, names, strict=True):
        for c in conditions:
            specs.append(SurfaceSpec(str(path), models, anchors, args.reference or ANCHOR, c,
                                     args.points or POINTS, args.samples or 100_000, epochs,
                                     args.seed))
            spec_names.append(name if len(conditions) == 1 else
                              f"{name}-{c.replace(':', '')}")
    return SURFACE, specs, spec_names, specs[0].describe
