"""``nircodec encode INPUT -o OUT.nirc``: fit a model (video or surface) and write the file.

``--model`` choices and the model flags come from the registry (codec.registry.methods)."""

from __future__ import annotations

import argparse

from codec import registry
from codec.cli.common import (
    add_checkpoint,
    add_method_flags,
    add_precision,
    add_preset,
    common_parent,
    emit_json,
    human_bytes,
    method_options,
    notice_printer,
    size_arg,
)
from codec.errors import InputError

POINT_SUFFIXES = (".ply", ".pcd", ".xyz", ".xyzn", ".pts", ".npy")


def _model_help() -> str:
    parts = []
    for kind, what in (("video", "video"), ("surface", "point cloud")):
        names = [f"{m.name} ({m.summary}{', default' if m.default else ''})"
                 for m in registry.methods(kind) if m.codec is not None]
        parts.append(f"{what}: " + ", ".join(names))
    return "; ".join(parts)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "encode",
        parents=[common_parent(output=True, device=True, seed=True)],
        help="encode a video or a point cloud into a .nirc file",
        description="Video: fit a neural representation, quantize and entropy-code it into a "
        ".nirc file, then decode that file and report bytes, bpp, PSNR and MS-SSIM measured "
        "on it. Point cloud (.ply .pcd .xyz .npy): fit a surface field and store it with its "
        "normalisation; `nircodec decode` turns the file into a mesh.",
    )
    p.add_argument("input", help="any video FFmpeg can read, a folder of PNG frames, or a "
                   "point cloud")
    encoders = [m for m in registry.methods() if m.codec is not None]
    p.add_argument("--model", choices=[m.name for m in encoders], help=_model_help())
    add_method_flags(p, encoders)
    g = p.add_argument_group("video input")
    g.add_argument("--start", type=int, default=0, help="first frame to use (default 0)")
    g.add_argument("--max-frames", type=int, help="use at most N frames")
    g.add_argument("--crop", type=size_arg("--crop"), metavar="WxH",
                   help="centre crop before resizing")
    g.add_argument("--resize", type=size_arg("--resize"), metavar="WxH",
                   help="resize frames (after cropping)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    add_preset(p)
    add_precision(p)
    add_checkpoint(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    surface = Path(args.input).suffix.lower() in POINT_SUFFIXES
    kind = "surface" if surface else "video"
    name = args.model or registry.default_method(kind)
    method = registry.method(name)
    if method.kind != kind and surface:
        names = ", ".join(m.name for m in registry.methods("surface") if m.codec is not None)
        raise InputError(f"--model {name} encodes videos; for point clouds use {names}")
    if method.kind != kind:
        raise InputError(f"--model {name} needs a point cloud (.ply .pcd .xyz .npy)")
    encoders = [m for m in registry.methods() if m.codec is not None]
    options = method_options(args, method, encoders)
    if surface:
        return _run_surface(args, name, options)
    from codec.api import encode_video
    from codec.progress import progress

    bar = None  # created at the first training step, so early errors print one line only

    def report(fraction: float, stats: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total=100, desc=name, unit="%", quiet=args.quiet)
        bar.update(round(max(0.0, min(100.0, fraction * 100)) - bar.n, 2))
        if "bits" in stats:  # rate-aware training: the MSE and estimated kbit
            bar.set_postfix(mse=f"{stats['mse']:.3g}", kbit=f"{stats['bits'] / 1e3:.1f}",
                            refresh=False)
        elif "psnr" in stats:
            bar.set_postfix(epoch=stats["epoch"], loss=f"{stats['loss']:.4g}",
                            psnr=f"{stats['psnr']:.2f}", refresh=False)
        elif stats.get("qat"):
            bar.set_description(f"{name} (QAT)", refresh=False)

    try:
        result = encode_video(args.input, args.output, model=name, start=args.start,
                              max_frames=args.max_frames, crop=args.crop, resize=args.resize,
                              seed=args.seed, device=args.device, threads=args.threads,
                              report=report, checkpoint_every=args.checkpoint_every,
                              resume=args.resume, preset=args.preset,
                              notice=notice_printer(args.quiet), precision=args.precision,
                              **options)
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


def _run_surface(args: argparse.Namespace, name: str, options: dict) -> int:
    from codec.progress import fraction_bar
    from recon.api import encode_surface

    video_only = {"--max-frames": args.max_frames, "--crop": args.crop,
                  "--resize": args.resize, "--start": args.start or None,
                  "--preset": args.preset}
    given = [k for k, v in video_only.items() if v is not None]
    if given:
        raise InputError(f"{', '.join(given)}: video options, not for point clouds")
    with fraction_bar(name, args.quiet) as report:
        result = encode_surface(args.input, args.output, model=name, options=options,
                                seed=args.seed, device=args.device, threads=args.threads,
                                report=report, checkpoint_every=args.checkpoint_every,
                                resume=args.resume, precision=args.precision)
    if args.json:
        emit_json(result)
    else:
        print(f"{result['output']}: {name} field of {result['points']:,} points, "
              f"{result['params']:,} parameters, {human_bytes(result['bytes'])}; "
              f"encoded in {result['encode_seconds']:.1f} s")
    return 0
