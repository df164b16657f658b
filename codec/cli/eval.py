"""``nircodec eval video REF DIST``: quality of DIST against REF, frame by frame."""

from __future__ import annotations

import argparse
import os

import numpy as np


def add_parser(sub) -> None:
    from codec.cli.common import common_parent

    p = sub.add_parser(
        "eval",
        parents=[common_parent()],
        help="measure PSNR, MS-SSIM, LPIPS of a decoded video against its source",
        description="Compare DIST with REF on RGB in [0, 1]: PSNR (RGB, Y, YUV 6:1:1), MS-SSIM "
        "(SSIM for frames under 161 px) and LPIPS (AlexNet) when its weights are cached "
        "locally. REF and DIST may be video files or PNG directories; DIST may be a .nirc.",
    )
    p.add_argument("kind", choices=("video",), help="what to compare")
    p.add_argument("reference")
    p.add_argument("distorted")
    p.add_argument("--per-frame", action="store_true", help="include per-frame values")
    p.add_argument("--max-frames", type=int, help="compare at most N frames")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    p.set_defaults(run=run)


def load_frames(path: str, max_frames: int | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 from a video file, a PNG directory or a video .nirc."""
    from codec.video.io import read_png_dir, read_video

    if os.path.isdir(path):
        return read_png_dir(path, max_frames=max_frames).frames
    if path.endswith(".nirc"):
        from codec.api import decode_video

        frames = decode_video(path, frames=slice(0, max_frames) if max_frames else None)
        return frames
    return read_video(path, max_frames=max_frames).frames


def run(args: argparse.Namespace) -> int:
    from codec.cli.common import emit_json
    from codec.metrics import PSNR_CAP, evaluate

    ref = load_frames(args.reference, args.max_frames)
    dist = load_frames(args.distorted, args.max_frames)
    result = evaluate(ref, dist, lpips=not args.no_lpips)
    if len(ref) != len(dist):
        result["note"] = (
            f"frame counts differ ({len(ref)} vs {len(dist)}); compared {result['frames']}"
        )
    if not args.per_frame:
        result.pop("per_frame")
    result.update(reference=args.reference, distorted=args.distorted, psnr_cap=PSNR_CAP)
    if args.json:
        emit_json(result)
        return 0
    print(f"{result['frames']} frames {result['width']}x{result['height']}")
    print(
        f"PSNR {result['psnr']:.3f} dB (Y {result['psnr_y']:.3f}, YUV 6:1:1 "
        f"{result['psnr_yuv611']:.3f}); capped at {PSNR_CAP:.0f} dB for identical frames"
    )
    print(
        f"{result['ssim_kind'].upper()} {result['ms_ssim']:.5f}"
        + ("" if result["ssim_kind"] == "ms-ssim" else " (frames too small for MS-SSIM)")
    )
    lp = result["lpips"]
    print(f"lpips: {lp:.5f}" if lp is not None else f"lpips: {result['lpips_status']}")
    if "note" in result:
        print(result["note"])
    if args.per_frame:
        for i in range(result["frames"]):
            vals = " ".join(f"{k}={v[i]:.4f}" for k, v in result["per_frame"].items())
            print(f"frame {i}: {vals}")
    return 0
