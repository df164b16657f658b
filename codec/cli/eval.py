"""``nircodec eval video REF DIST`` and ``nircodec eval mesh GT PRED``.

video: quality of DIST against REF, frame by frame. mesh: Chamfer, normal consistency, F-scores
and Hausdorff of PRED against GT in the GT's unit cube (``recon.metrics``; loaded lazily because
``codec`` never imports ``recon`` at module level).
"""

from __future__ import annotations

import argparse

import numpy as np

MESH_SAMPLES = 100_000
SCALE_NOTE = "unit cube: GT longest side = 1"  # every mesh number is read at this scale


def add_parser(sub) -> None:
    from codec.cli.common import common_parent

    p = sub.add_parser(
        "eval",
        parents=[common_parent()],
        help="measure a decoded video (PSNR, MS-SSIM, LPIPS) or mesh (Chamfer, NC, F-score)",
        description="video: compare DIST with REF on RGB in [0, 1]: PSNR (RGB, Y, YUV 6:1:1), "
        "MS-SSIM (SSIM for frames under 161 px) and LPIPS (AlexNet) when its weights are cached "
        "locally. REF and DIST may be video files or PNG directories; DIST may be a .nirc. "
        "mesh: compare the mesh PRED with the mesh GT after moving both into GT's unit cube "
        "(GT longest side 1): Chamfer L1/L2 and Hausdorff from exact point-to-triangle "
        "distances of area-uniform samples, normal consistency, F-score at 0.005 and 0.01.",
    )
    p.add_argument("kind", choices=("video", "mesh"), help="what to compare")
    p.add_argument("reference", help="video: REF; mesh: GT (.ply/.obj/.stl/.off)")
    p.add_argument("distorted", help="video: DIST; mesh: PRED (.ply/.obj/.stl/.off)")
    p.add_argument("--per-frame", action="store_true", help="video: include per-frame values")
    p.add_argument("--max-frames", type=int, help="video: compare at most N frames")
    p.add_argument("--no-lpips", action="store_true", help="video: skip LPIPS")
    p.add_argument("--samples", type=int, help=f"mesh: samples per mesh (default {MESH_SAMPLES:,})")
    p.add_argument("--seed", type=int, help="mesh: sampling seed (default 0)")
    p.set_defaults(run=run)


def load_frames(path: str, max_frames: int | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 from a video file, a PNG directory or a video .nirc."""
    from codec.video.io import read_video

    if path.endswith(".nirc"):
        from codec.api import decode_video

        frames = decode_video(path, frames=slice(0, max_frames) if max_frames else None)
        return frames
    return read_video(path, max_frames=max_frames).frames


def run(args: argparse.Namespace) -> int:
    if args.kind == "mesh":
        return run_mesh(args)
    from codec.errors import InputError

    if args.samples is not None or args.seed is not None:
        raise InputError("--samples and --seed apply to 'eval mesh' only")
    return run_video(args)


def run_mesh(args: argparse.Namespace) -> int:
    from codec.cli.common import emit_json
    from codec.errors import InputError
    from recon.metrics import mesh_metrics, normalised_pair
    from recon.pointcloud import read_mesh

    if args.per_frame or args.max_frames is not None or args.no_lpips:
        raise InputError("--per-frame, --max-frames and --no-lpips apply to 'eval video' only")
    n = MESH_SAMPLES if args.samples is None else args.samples
    seed = 0 if args.seed is None else args.seed
    gt_v, gt_f = read_mesh(args.reference)
    pred_v, pred_f = read_mesh(args.distorted)
    gt_n, pred_n, norm = normalised_pair(gt_v, pred_v)
    result = mesh_metrics(gt_n, gt_f, pred_n, pred_f, n_samples=n, seed=seed)
    result.update(
        gt=args.reference,
        pred=args.distorted,
        seed=seed,
        scale=SCALE_NOTE,
        normalization=norm.to_dict(),  # the GT's transform, to read distances in file units
        gt_faces=len(gt_f),
        pred_faces=len(pred_f),
    )
    if args.json:
        emit_json(result)
        return 0
    f_keys = [k for k in result if k.startswith("f@")]
    print(f"GT   {args.reference}: {len(gt_v):,} vertices, {len(gt_f):,} triangles")
    print(f"PRED {args.distorted}: {len(pred_v):,} vertices, {len(pred_f):,} triangles")
    print(
        f"scale: {SCALE_NOTE} (GT longest side was {norm.scale:.6g} in file units); "
        f"{n:,} samples per mesh, seed {seed}, exact point-to-triangle distances"
    )
    print(
        f"CD-L1 {result['cd_l1']:.6f} ({result['cd_l1'] * 1e3:.4f} x1e-3)  "
        f"CD-L2 {result['cd_l2']:.3e}  Hausdorff {result['hausdorff']:.6f}"
    )
    print(
        f"normal consistency {result['normal_consistency']:.5f}  "
        + "  ".join(f"F@{k[2:]} {result[k]:.5f}" for k in f_keys)
    )
    return 0


def run_video(args: argparse.Namespace) -> int:
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
