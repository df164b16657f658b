"""``nircodec encode VIDEO -o OUT.nirc``: fit a neural representation and write the file."""

from __future__ import annotations

import argparse

from codec.cli.common import common_parent, emit_json, human_bytes, size_arg


def add_parser(sub) -> None:
    p = sub.add_parser(
        "encode",
        parents=[common_parent(output=True, device=True, seed=True)],
        help="encode a video into a .nirc file",
        description="Fit a neural representation (HNeRV or a hash-grid field) to a video, "
        "quantize and entropy-code it into a .nirc file, then decode that file and report "
        "bytes, bpp, PSNR and MS-SSIM measured on it.",
    )
    p.add_argument("input", help="any video FFmpeg can read")
    from codec.api import MODELS

    p.add_argument(
        "--model",
        default="hnerv",
        choices=MODELS,
        help="hnerv (conv decoder + frame embeddings) or hashgrid (Instant-NGP-style field, "
        "fast to encode); default hnerv",
    )
    p.add_argument(
        "--size",
        default="0.1M",
        help="parameter budget (decoder + embeddings, or grid + MLP), e.g. 0.1M, 50k "
        "(default 0.1M)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--epochs",
        type=float,
        help="hnerv: training epochs (default 300); hashgrid: passes over all pixels (default 20)",
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codec.api import encode_video
    from codec.progress import progress

    bar = None  # created at the first training step, so early errors print one line only

    def report(fraction: float, stats: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total=100, desc=args.model, unit="%", quiet=args.quiet)
        bar.update(round(max(0.0, min(100.0, fraction * 100)) - bar.n, 2))
        if "psnr" in stats:
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
