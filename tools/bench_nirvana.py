"""NIRVANA benchmark: rate–distortion points with encode seconds against x264/x265 on the same
frames, random-access decoding, and how encode time and peak memory scale with video length
and ``--workers``.

Every encode runs as ``python -m codec encode ... --json`` in a subprocess (what a user runs);
its peak resident memory is sampled every 50 ms over the process and its children (workers).
bpp comes from the file on disk, PSNR from the frames decoded from it.

    python tools/bench_nirvana.py ../shared/data/video/bikes.mp4 --resize 320x136 \\
        --out /tmp/bench_nirvana
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import registry  # noqa: E402
from codec.anchors import encode_anchor, interpolate_at_rate  # noqa: E402
from codec.api import decode_video  # noqa: E402
from codec.container import ContainerReader  # noqa: E402
from codec.rd import ANCHOR_CRFS  # noqa: E402
from codec.video.io import Geometry, parse_size, read_video  # noqa: E402


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family, grew = {pid}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in family} - family
        family |= more
        grew = bool(more)
    total = 0
    for p in family:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_encode(args: list[str]) -> tuple[dict, float]:
    """(the encoder's JSON, peak resident bytes of its process tree)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "codec", "encode", *args, "--json",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"encode failed: {err.strip().splitlines()[-1:]}")
    return json.loads(out), peak[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--resize", type=parse_size, default=None)
    ap.add_argument("--rd-frames", type=int, default=64)
    ap.add_argument("--sizes", default="5k,10k,20k", help="nirvana --size ladder")
    ap.add_argument("--scale-frames", default="64,250")
    ap.add_argument("--scale-epochs", type=float, default=40)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--anchors", default="x264,x265")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-rd", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    resize = ["--resize", f"{args.resize[0]}x{args.resize[1]}"] if args.resize else []
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU threads"}

    if not args.skip_rd:
        clip = read_video(args.input, max_frames=args.rd_frames,
                          geometry=Geometry(resize=args.resize))
        t, h, w, _ = clip.frames.shape
        anchors = {}
        for a in args.anchors.split(","):
            pts = [encode_anchor(clip.frames, a, crf, clip.fps) for crf in ANCHOR_CRFS[a]]
            anchors[a] = pts
        rows = []
        for size in args.sizes.split(","):
            path = out / f"nirvana-{size}.nirc"
            res, peak = run_encode([args.input, *resize, "--max-frames", str(args.rd_frames),
                                    "--model", "nirvana", "--size", size, "-o", str(path)])
            t0 = time.perf_counter()
            decode_video(path)
            dec_all = time.perf_counter() - t0
            t0 = time.perf_counter()
            decode_video(path, frames=slice(10, 20))
            dec_range = time.perf_counter() - t0
            with ContainerReader(path) as r:
                codec = registry.by_id(r.codec_id).cls.from_container(r, [])
                need = codec.needed_groups(range(10, 20))
                range_bytes = sum(r.info(f"g{g}").frame_bytes for g in need)
            row = {"size": size, **res, "peak_rss": peak, "decode_s": dec_all,
                   "decode_10_20_s": dec_range, "range_bytes": range_bytes}
            for a, pts in anchors.items():
                bpps = [8 * p.bytes / (t * w * h) for p in pts]
                psnrs = [_psnr(clip.frames, p.frames) for p in pts]
                row[f"{a}_psnr"] = interpolate_at_rate(bpps, psnrs, res["bpp"])
                row[f"{a}_s"] = max(p.encode_seconds for p in pts)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        results["rd"] = rows
        print(f"\n{args.input}, {w}x{h}, {t} frames; {results['machine']}\n")
        names = args.anchors.split(",")
        print("| size | params | bytes | bpp | PSNR dB | SSIM | encode s | peak RSS MiB | "
              "decode s (all) | decode s (10:20) | bytes read for 10:20 | "
              + " | ".join(f"{a} PSNR at bpp | Δ dB vs {a}" for a in names) + " |")
        print("|" + "---|" * (11 + 2 * len(names)))
        for r in rows:
            cells = [r["size"], f"{r['params']:,}", f"{r['bytes']:,}", f"{r['bpp']:.4f}",
                     f"{r['psnr']:.2f}", f"{r['ms_ssim']:.4f}", f"{r['encode_seconds']:.0f}",
                     f"{r['peak_rss'] / 2**20:.0f}", f"{r['decode_s']:.1f}",
                     f"{r['decode_10_20_s']:.1f}", f"{r['range_bytes']:,} of {r['bytes']:,}"]
            for a in names:
                q = r[f"{a}_psnr"]
                cells += ["—", "—"] if q is None else [f"{q:.2f}", f"{r['psnr'] - q:+.2f}"]
            print("| " + " | ".join(cells) + " |")

    if not args.skip_scale:
        rows = []
        for frames in (int(v) for v in args.scale_frames.split(",")):
            for workers in (int(v) for v in args.workers.split(",")):
                path = out / f"scale-{frames}-{workers}.nirc"
                res, peak = run_encode([args.input, *resize, "--max-frames", str(frames),
                                        "--model", "nirvana", "--epochs",
                                        str(args.scale_epochs), "--workers", str(workers),
                                        "-o", str(path)])
                row = {"frames": frames, "workers": workers, **res, "peak_rss": peak}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        results["scale"] = rows
        print(f"\nscaling: --epochs {args.scale_epochs:g}, default size; "
              f"{results['machine']}\n")
        print("| frames | workers | bytes | bpp | PSNR dB | encode s | s per frame | speed-up | "
              "peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|---|")
        base = {r["frames"]: r["encode_seconds"] for r in rows if r["workers"] == 1}
        for r in rows:
            speed = base.get(r["frames"], float("nan")) / r["encode_seconds"]
            print(f"| {r['frames']} | {r['workers']} | {r['bytes']:,} | {r['bpp']:.4f} | "
                  f"{r['psnr']:.2f} | {r['encode_seconds']:.0f} | "
                  f"{r['encode_seconds'] / r['frames']:.2f} | {speed:.2f}× | "
                  f"{r['peak_rss'] / 2**20:.0f} |")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


def _psnr(ref, dist) -> float:
    from codec.metrics import psnr_per_frame

    return float(psnr_per_frame(ref, dist).mean())


if __name__ == "__main__":
    raise SystemExit(main())
