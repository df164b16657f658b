"""Make the sample containers the project ships: assets/sample.nirc and the golden test file.

python tools/make_sample.py            # assets/sample.nirc
python tools/make_sample.py --cloud    # assets/sample_cloud.ply (points on a trefoil tube)
python tools/make_sample.py --golden   # tests/golden/*-vMAJOR.MINOR.nirc (only when
                                       # the container version changes: golden files are
                                       # never regenerated for an existing version)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec.container import Section, SectionKind, append_sections, write_container  # noqa: E402
from codec.container.format import VERSION  # noqa: E402
from codec.quant import quantize, quantize_best  # noqa: E402
from codec.tensors import TensorBundle, TensorsConfig  # noqa: E402


def sample_arrays() -> dict[str, np.ndarray]:
    """A small conv decoder's worth of weights (deterministic)."""
    rng = np.random.default_rng(2026)
    shapes = {
        "stem.weight": (48, 16, 1, 1),
        "stem.bias": (48,),
        "up1.weight": (160, 48, 3, 3),
        "up1.bias": (160,),
        "head.weight": (3, 40, 3, 3),
        "head.bias": (3,),
    }
    return {
        k: rng.normal(0, 0.5 / np.sqrt(np.prod(s[1:]) or 1), s).astype(np.float32)
        for k, s in shapes.items()
    }


def golden_bundle() -> TensorBundle:
    """Exercises every feature of format 1.0's tensor path in one small file."""
    rng = np.random.default_rng(7)
    w = rng.laplace(0, 0.05, (8, 4, 3, 3)).astype(np.float32)
    tensors = {
        "per_tensor": quantize(w, 8),
        "per_channel_axis1": quantize(w * np.linspace(0.1, 3, 4)[None, :, None, None], 6, 1),
        "float32_params": quantize(rng.normal(0, 1e-7, (5, 7)).astype(np.float32), 4),
        "sixteen_bit": quantize(rng.normal(0, 1, (300,)).astype(np.float32), 16),
        "constant": quantize(np.full((3, 2), 0.25, np.float32), 8),
        "empty": quantize(np.zeros((0, 4), np.float32), 8),
        "best": quantize_best(w, 5),
    }
    return TensorBundle(tensors, TensorsConfig(bits=8), meta={"golden": "tensors", "version": 1})


SURFACE_GOLDEN_RESOLUTION = 32


def golden_codecs() -> list[str]:
    """Every registered model that writes files has a golden file."""
    from codec import registry

    return [m.name for m in registry.methods() if m.codec is not None]


def make_sample(path: Path) -> int:
    bundle = TensorBundle.from_arrays(
        sample_arrays(), TensorsConfig(bits=8), meta={"sample": "decoder weights, 8 bit"}
    )
    header, sections = bundle.to_container()
    return write_container(path, bundle.codec_id, header, sections)


def make_codec_golden(folder: Path, codec: str) -> Path | None:
    """A tiny file of a codec (its ``example()``) and what it decodes to: frames (.npy) for
    video codecs, a mesh at SURFACE_GOLDEN_RESOLUTION (.npz) for surface codecs."""
    from codec import registry

    path = folder / f"{codec}-v{VERSION[0]}.{VERSION[1]}.nirc"
    if path.exists():
        return None
    entry = registry.get(codec)
    model = entry.cls.example()
    header, sections = model.to_container()
    write_container(path, model.codec_id, header, sections)
    if entry.kind == "surface":
        v, f = model.mesh(SURFACE_GOLDEN_RESOLUTION)
        np.savez_compressed(path.with_suffix(".npz"), vertices=v, triangles=f)
    elif getattr(entry.cls, "library", False):  # every video of a library
        from codec.decode import decode_video

        np.savez_compressed(path.with_suffix(".npz"), **{
            f"video{k}": decode_video(path, video=k) for k in range(len(model.videos))})
    else:
        np.save(path.with_suffix(".npy"), np.stack(list(model.render())))
    return path


def make_cloud(path: Path, n: int = 8000) -> int:
    """Points (no normals) on a tube around a trefoil knot: a closed genus-1 surface with thin
    parts, made here so the repository carries no third-party data."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 2 * np.pi, 4 * n))
    knot = np.stack([np.sin(t) + 2 * np.sin(2 * t), np.cos(t) - 2 * np.cos(2 * t),
                     -np.sin(3 * t)], 1)
    tangent = np.gradient(knot, t, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    side = np.cross(tangent, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    up = np.cross(tangent, side)
    a = rng.uniform(0, 2 * np.pi, len(t))
    pts = knot + 0.45 * (np.cos(a)[:, None] * side + np.sin(a)[:, None] * up)
    # keep n points, thinned by the local speed so the density is (close to) uniform by area
    speed = np.linalg.norm(np.gradient(knot, t, axis=0), axis=1)
    keep = rng.choice(len(pts), n, replace=False, p=speed / speed.sum())
    head = ("ply\nformat binary_little_endian 1.0\n"
            f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
            "end_header\n")
    path.write_bytes(head.encode("ascii") + pts[keep].astype("<f4").tobytes())
    return path.stat().st_size


def make_golden(folder: Path) -> Path | None:
    """Golden files are written once per format version and never regenerated."""
    name = f"tensors-v{VERSION[0]}.{VERSION[1]}"
    path = folder / f"{name}.nirc"
    if path.exists():
        return None
    bundle = golden_bundle()
    header, sections = bundle.to_container()
    write_container(path, bundle.codec_id, header, sections)
    append_sections(path, [Section(SectionKind.NOTE, "note", b"appended after writing")])
    arrays = bundle.arrays()
    expected = {
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "header": header,
        "arrays": {
            k: {
                "shape": list(v.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(v, "<f4").tobytes()).hexdigest(),
            }
            for k, v in arrays.items()
        },
        "sections": ["tensors", "note"],
    }
    (folder / f"{name}.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--golden", action="store_true", help="write the golden test file instead")
    ap.add_argument("--cloud", action="store_true", help="write assets/sample_cloud.ply instead")
    args = ap.parse_args(argv)
    if args.cloud:
        path = ROOT / "assets" / "sample_cloud.ply"
        print(f"{path}: {make_cloud(path)} bytes")
    elif args.golden:
        folder = ROOT / "tests" / "golden"
        made_files = (
            make_golden(folder),
            *(make_codec_golden(folder, c) for c in golden_codecs()),
        )
        for made in made_files:
            print(made or "exists, kept")
    else:
        path = ROOT / "assets" / "sample.nirc"
        print(f"{path}: {make_sample(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
