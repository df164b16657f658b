"""Surface benchmark: every method against screened Poisson, and coded fields against Draco.

    python tools/bench_surface.py --meshes ../shared/data/meshes --json bench_surface.json

For each mesh: normalise to the unit cube, sample 30k points uniformly by area (seed 0); three
conditions: clean, noisy (Gaussian σ = 0.005), sparse (3k points). Each method reconstructs a
mesh (fit + marching cubes, timed together); CD-L1 / NC / F@0.01 against the GT mesh with exact
point-to-triangle distances (recon.metrics, 100k samples each way), and its connected pieces
("comp"; the GT's own count is printed with the shape). Field methods also report the lattice
they chose and the noise σ they estimated (gridpull). Coded fields: the fitted field is written
to a real .nirc (default options), decoded by the real decoder and scored; its bytes stand next
to the DracoPy bytes (11-bit quantization, level 10) of the Poisson mesh ("× Draco").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import registry  # noqa: E402
from codec.encode import write_codec  # noqa: E402
from codec.errors import InputError  # noqa: E402
from recon import api  # noqa: E402
from recon.baselines import draco_bytes  # noqa: E402
from recon.meshing import count_components  # noqa: E402
from recon.metrics import mesh_metrics, sample_surface  # noqa: E402
from recon.pointcloud import Normalization, read_mesh  # noqa: E402

CONDITIONS = {"clean": (30_000, 0.0), "noisy": (30_000, 0.005), "sparse": (3_000, 0.0)}
CODED = [m.name for m in registry.methods("surface") if m.codec is not None]
BASELINES = [m.name for m in registry.methods("surface") if m.codec is None]  # mesh only


def make_points(v: np.ndarray, f: np.ndarray, condition: str) -> np.ndarray:
    n, sigma = CONDITIONS[condition]
    rng = np.random.default_rng(0)
    pts, _ = sample_surface(v, f, n, rng)
    return pts + rng.normal(0, sigma, pts.shape) if sigma else pts


def score(gv, gf, v, f, samples: int) -> dict:
    if len(f) == 0:
        return {"cd_l1": float("nan"), "normal_consistency": float("nan"), "f@0.01": 0.0,
                "components": 0}
    return {**mesh_metrics(gv, gf, v, f, n_samples=samples), "components": count_components(v, f)}


def run_one(gv, gf, pts, method: str, encode: bool, samples: int, tmp: Path) -> list[dict]:
    t0 = time.perf_counter()
    if api.surface_method(method).codec is None:  # mesh only: poisson
        v, f = api.surface_method(method).reconstruct(pts)
        seconds = time.perf_counter() - t0
        row = {"method": method, "seconds": seconds, "triangles": len(f),
               **score(gv, gf, v, f, samples)}
        row["bytes"] = len(draco_bytes(v, f, 11, 10))
        row["bytes_kind"] = "draco q11"
        return [row]
    fitted, stats = api.fit_field(method, pts, seed=0)  # points are already normalised
    v, f = api.mesh_of(method, fitted, None, pts)
    seconds = time.perf_counter() - t0
    chose = {k: stats[k] for k in ("resolution", "noise") if k in stats}
    rows = [{"method": method, "seconds": seconds, "triangles": len(f), **chose,
             **score(gv, gf, v, f, samples)}]
    if encode:
        codec = api.codec_of(method, fitted, Normalization((0.0, 0.0, 0.0), 1.0), pts)
        path = tmp / f"{method}.nirc"
        nbytes = write_codec(path, codec)
        t1 = time.perf_counter()
        try:
            dv, df = api.decode_surface(path)
        except InputError:  # no surface: scored as a failure, not a crash
            dv, df = np.zeros((0, 3)), np.zeros((0, 3), np.int64)
        rows.append({"method": f"{method}.nirc", "seconds": time.perf_counter() - t1,
                     "triangles": len(df), "bytes": nbytes, "bytes_kind": "nirc",
                     "params": codec.params(), **score(gv, gf, dv, df, samples)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meshes", default=str(ROOT.parent / "shared" / "data" / "meshes"))
    p.add_argument("--shapes", default="spot,fandisk,cow,teapot")
    p.add_argument("--conditions", default="clean,noisy,sparse")
    p.add_argument("--methods", default=",".join(BASELINES + CODED))
    p.add_argument("--encode", default=",".join(CODED), help="methods also written as .nirc")
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--json", help="also write all rows here")
    args = p.parse_args(argv)
    rows = []
    encode = set(args.encode.split(",")) if args.encode else set()
    header = (f"{'shape':8} {'cond':6} {'method':14} {'CD-L1e-3':>9} {'xPoisson':>8} {'NC':>6} "
              f"{'F@0.01':>6} {'comp':>5} {'sec':>6} {'bytes':>9} {'xDraco':>6} {'grid':>5} "
              f"{'noise':>7}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            gv, gf = read_mesh(Path(args.meshes) / f"{shape}.obj")
            gv = Normalization.fit(gv).apply(gv)
            print(f"# {shape}: GT {count_components(gv, gf)} component(s)", flush=True)
            for cond in args.conditions.split(","):
                pts = make_points(gv, gf, cond)
                base = None
                for method in args.methods.split(","):
                    for row in run_one(gv, gf, pts, method, method in encode, args.samples,
                                       Path(tmp)):
                        row.update(shape=shape, condition=cond)
                        if row["method"] == "poisson":
                            base = row
                        ratio = row["cd_l1"] / base["cd_l1"] if base else float("nan")
                        row["cd_vs_poisson"] = ratio
                        if base and row.get("bytes_kind") == "nirc":
                            row["bytes_vs_draco"] = row["bytes"] / base["bytes"]
                        rows.append(row)
                        noise = f"{row['noise']:.4f}" if "noise" in row else ""
                        xd = f"{row['bytes_vs_draco']:.2f}" if "bytes_vs_draco" in row else ""
                        print(f"{shape:8} {cond:6} {row['method']:14} {row['cd_l1'] * 1e3:9.3f} "
                              f"{ratio:8.2f} {row['normal_consistency']:6.3f} "
                              f"{row['f@0.01']:6.3f} {row['components']:5d} "
                              f"{row['seconds']:6.1f} {row.get('bytes', ''):>9} {xd:>6} "
                              f"{row.get('resolution', ''):>5} {noise:>7}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
