"""``nircodec encode VIDEO -o OUT.nirc``: fit a neural representation and write the file."""

from __future__ import annotations

import argparse

from codec.cli.common import (
    add_checkpoint,
    add_coord_quant,
    common_parent,
    emit_json,
    human_bytes,
    size_arg,
)

SURFACE_MODELS = ("gridpull", "sdf", "csp")  # recon.api.MODELS; recon is imported lazily


def add_parser(sub) -> None:
    p = sub.add_parser(
        "encode",
        parents=[common_parent(output=True, device=True, seed=True)],
        help="encode a video or a point cloud into a .nirc file",
        description="Video: fit a neural representation (HNeRV or a hash-grid field), quantize "
        "and entropy-code it into a .nirc file, then decode that file and report bytes, bpp, "
        "PSNR and MS-SSIM measured on it. Point cloud (.ply .pcd .xyz .npy): fit a surface "
        "field (gridpull, sdf or csp) and store it with its normalisation; `nircodec decode` "
        "turns the file into a mesh.",
    )
    p.add_argument("input", help="any video FFmpeg can read, or a point cloud")
    from codec.api import MODELS

    p.add_argument(
        "--model",
        choices=(*MODELS, *SURFACE_MODELS),
        help="video: hnerv (conv decoder + frame embeddings, default), hashgrid "
        "(Instant-NGP-style field, fast to encode) or nirvana (a small network per group of "
        "frames, warm-started, random access, streamed); point cloud: gridpull (distance grid, "
        "default), sdf (hash-grid neural SDF) or csp (closest surface points, open surfaces)",
    )
    p.add_argument(
        "--size",
        help="parameter budget (decoder + embeddings, or grid + MLP), e.g. 0.1M, 50k "
        "(defaults: video 0.1M; nirvana: each group's network, 10k; gridpull 2.1M stored "
        "grid nodes, i.e. 128³; sdf and csp 200k)",
    )
    p.add_argument("--steps", type=int, help="surfaces: optimisation steps")
    add_coord_quant(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--epochs",
        type=float,
        help="hnerv: training epochs (default 300); hashgrid: passes over all pixels (default "
        "20); nirvana: passes over each warm-started group's patches (default 100; a chain's "
        "first group trains 4x as long)",
    )
    g.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="train for this long instead of a number of epochs",
    )
    p.add_argument(
        "--bits",
        type=int,
        help="hnerv: weight bit depth (default 8); hashgrid: bit depth of the widest grid level, "
        "the others share its step (default 6)",
    )
    p.add_argument("--embed-bits", type=int, help="hnerv: embedding bit depth (default 6)")
    p.add_argument(
        "--qat-epochs",
        type=int,
        help="hnerv: quantization-aware fine-tuning epochs after training (default 0)",
    )
    p.add_argument("--loss", choices=("l2", "l1+ssim"), help="hnerv: training loss (default l2)")
    g = p.add_argument_group("nirvana (groups of frames, one small network each)")
    g.add_argument("--gop", type=int, help="frames per group (default 3)")
    g.add_argument("--lmbda", type=float,
                   help="rate weight: loss = MSE + LMBDA x estimated bits per pixel "
                   "(default 3e-3; larger = smaller file)")
    g.add_argument("--intra-period", type=int, metavar="N",
                   help="a group decodable on its own at least every N groups (default 8); "
                   "the others may be coded as residuals against the group before")
    g.add_argument("--workers", type=int,
                   help="fit this many chunks of groups in parallel processes (default 1)")
    p.add_argument("--capacity", type=float,
                   help="pfnr: fraction of the shared network the video may use (default 0.3)")
    p.add_argument("--start", type=int, default=0, help="first frame to use (default 0)")
    p.add_argument("--max-frames", type=int, help="use at most N frames")
    p.add_argument(
        "--crop",
        type=size_arg("--crop"),
        metavar="WxH",
        help="centre crop before resizing",
    )
    p.add_argument(
        "--resize",
        type=size_arg("--resize"),
        metavar="WxH",
        help="resize frames (after cropping)",
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    add_checkpoint(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.input).suffix.lower() in (".ply", ".pcd", ".xyz", ".xyzn", ".pts", ".npy"):
        return _run_surface(args)
    if args.model in SURFACE_MODELS:
        from codec.errors import InputError

        raise InputError(f"--model {args.model} needs a point cloud (.ply .pcd .xyz .npy)")
    if args.steps is not None or args.coord_quant:
        from codec.errors import InputError

        raise InputError("--steps and --coord-quant are point-cloud options")
    args.model = args.model or "hnerv"
    model_options = {k: getattr(args, k) for k in ("gop", "lmbda", "intra_period", "workers")}
    model_options = {k: v for k, v in model_options.items() if v is not None}
    if model_options and args.model != "nirvana":
        from codec.errors import InputError

        flags = ", ".join("--" + k.replace("_", "-") for k in model_options)
        raise InputError(f"{flags}: nirvana options (add --model nirvana)")
    if args.capacity is not None:
        if args.model != "pfnr":
            from codec.errors import InputError

            raise InputError("--capacity: a pfnr option (add --model pfnr)")
        model_options["capacity"] = args.capacity
    from codec.api import DEFAULT_SIZE, encode_video

    args.size = args.size or DEFAULT_SIZE[args.model]
    from codec.progress import progress

    bar = None  # created at the first training step, so early errors print one line only

    def report(fraction: float, stats: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total=100, desc=args.model, unit="%", quiet=args.quiet)
        bar.update(round(max(0.0, min(100.0, fraction * 100)) - bar.n, 2))
        if "bits" in stats:  # nirvana: the group's training MSE and estimated kbit
            bar.set_postfix(mse=f"{stats['mse']:.3g}", kbit=f"{stats['bits'] / 1e3:.1f}",
                            refresh=False)
        elif "psnr" in stats:
            bar.set_postfix(
                epoch=stats["epoch"],
                loss=f"{stats['loss']:.4g}",
                psnr=f"{stats['psnr']:.2f}",
                refresh=False,
            )
        elif stats.get("qat"):
            bar.set_description(f"{args.model} (QAT)", refresh=False)

    try:
        result = encode_video(
            args.input,
            args.output,
            model=args.model,
            size=args.size,
            epochs=args.epochs,
            time_budget=args.time_budget,
            bits=args.bits,
            embed_bits=args.embed_bits,
            qat_epochs=args.qat_epochs,
            loss=args.loss,
            start=args.start,
            max_frames=args.max_frames,
            crop=args.crop,
            resize=args.resize,
            seed=args.seed,
            device=args.device,
            threads=args.threads,
            report=report,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            **model_options,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        emit_json(result.to_dict())
        return 0
    print(
        f"{result.path}: {result.frames} frames {result.width}x{result.height}, "
        f"{result.params:,} parameters, {human_bytes(result.bytes)}, {result.bpp:.4f} bpp"
    )
    print(
        f"PSNR {result.psnr:.2f} dB, {result.ssim_kind.upper()} {result.ms_ssim:.4f} "
        f"(measured on frames decoded from the file); encoded in {result.encode_seconds:.1f} s"
    )
    return 0


def _run_surface(args: argparse.Namespace) -> int:
    from codec.errors import InputError
    from codec.progress import fraction_bar
    from recon.api import encode_surface

    model = args.model or "gridpull"
    if model not in SURFACE_MODELS:
        raise InputError(f"--model {model} encodes videos; for point clouds use "
                         f"{', '.join(SURFACE_MODELS)}")
    video_only = {"--epochs": args.epochs, "--embed-bits": args.embed_bits,
                  "--gop": args.gop, "--lmbda": args.lmbda, "--workers": args.workers,
                  "--intra-period": args.intra_period, "--capacity": args.capacity,
                  "--qat-epochs": args.qat_epochs, "--loss": args.loss,
                  "--max-frames": args.max_frames, "--crop": args.crop, "--resize": args.resize,
                  "--checkpoint-every": args.checkpoint_every, "--resume": args.resume or None}
    given = [k for k, v in video_only.items() if v is not None]
    if given or args.start:
        raise InputError(f"{', '.join(given) or '--start'}: video options, not for point clouds")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with fraction_bar(model, args.quiet) as report:
        result = encode_surface(args.input, args.output, model=model, size=args.size,
                                bits=args.bits, seed=args.seed, coord_quant=args.coord_quant,
                                steps=args.steps, time_budget=args.time_budget, report=report)
    if args.json:
        emit_json(result)
    else:
        print(f"{result['output']}: {model} field of {result['points']:,} points, "
              f"{result['params']:,} parameters, {human_bytes(result['bytes'])}; "
              f"encoded in {result['encode_seconds']:.1f} s")
    return 0
