"""Rate–distortion sweeps: INR codecs and FFmpeg anchors on the same source frames.

Every point is real: INR points are encoded to a .nirc file, decoded by the real decoder and
measured; anchor points count the bytes of the encoded elementary stream and measure its
decoded frames. Points are cached in the output directory (one JSON each, keyed by everything
that defines them), so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codec import presets, registry
from codec.errors import InputError
from codec.options import specs

ANCHOR_CRFS = {
    "x264": (18, 23, 28, 33, 38, 43, 48, 51),
    "x264-veryslow": (18, 23, 28, 33, 38, 43, 48, 51),
    "x265": (18, 23, 28, 33, 38, 43, 48, 51),
    "svtav1": (20, 28, 36, 44, 52, 58, 63),
}


@dataclass
class RdPoint:
    """A video point. A kind of point also says how it is compared and shown: ``rate`` and
    ``quality`` (the BD axes), ``results`` (its CompressAI-style results.json record),
    ``TABLE``/``row`` (summary.md), ``NOTE`` and ``plot`` (rd.png)."""

    curve: str
    label: str
    bytes: int
    bpp: float
    psnr: float
    psnr_y: float
    psnr_yuv611: float
    ms_ssim: float
    ssim_kind: str
    lpips: float | None
    encode_seconds: float
    decode_seconds: float

    QUALITY = "PSNR"  # the BD quality axis, in summaries
    TABLE = ("| curve | point | bytes | bpp | PSNR dB | SSIM* | encode s |",
             "|---|---|---:|---:|---:|---:|---:|")
    NOTE = "*MS-SSIM, or SSIM where frames are under 161 px (too small for MS-SSIM)."

    def rate(self) -> float:
        return self.bpp

    def quality(self) -> float:
        return self.psnr

    def row(self) -> str:
        return (f"| {self.curve} | {self.label} | {self.bytes:,} | {self.bpp:.4f} | "
                f"{self.psnr:.2f} | {self.ms_ssim:.4f} | {self.encode_seconds:.1f} |")

    @staticmethod
    def results(pts: list[RdPoint]) -> dict[str, list]:
        return {"bpp": [p.bpp for p in pts], "psnr-rgb": [p.psnr for p in pts],
                "ms-ssim": [p.ms_ssim for p in pts],
                "encoding_time": [p.encode_seconds for p in pts],
                "decoding_time": [p.decode_seconds for p in pts]}

    @staticmethod
    def plot(curves: dict[str, list[RdPoint]], path: Path, log_x: bool = False) -> None:
        from codec.plot import plot_rd

        plot_rd(curves, path, log_x=log_x)


@dataclass
class SweepSpec:
    input: str
    models: dict[str, list[str]]  # codec -> size ladder
    anchors: list[str]
    reference: str
    max_frames: int | None = None
    crop: tuple[int, int] | None = None
    resize: tuple[int, int] | None = None
    epochs: dict[str, float] | None = None  # model -> epochs (or steps); missing: default
    seed: int = 0

    def epochs_of(self, model: str) -> float:
        return budget_of(model, self.epochs)


def budget_of(model: str, budgets: dict[str, float] | None) -> float:
    """A model's training length in a sweep: ``budgets[model]``, else its default epochs
    (or steps)."""
    return (budgets or {}).get(model, getattr(registry.method(model).Options,
                                              budget_field(model)))


def encode_options(model: str, label: str, budget: float) -> dict[str, Any]:
    """The options a point of ``model`` at ``label`` is encoded with: its size (and rate
    weight) and the sweep's training length ``budget``."""
    return {**point_options(model, label), budget_field(model): budget_value(model, budget)}


def budget_value(model: str, value: float) -> float | int:
    """``--epochs`` of a sweep as the model's budget option takes it (a whole number of
    steps is an int)."""
    kind = {s.name: s.type for s in specs(registry.method(model).Options)}[budget_field(model)]
    return int(value) if kind is int and value == int(value) else value


def budget_field(model: str) -> str:
    """The option that sets a model's training length: ``epochs``, else ``steps``."""
    return presets.budget_field(registry.method(model).Options) or "steps"


def parse_epochs(text: str, models) -> dict[str, float]:
    """``"300"`` (every model) or ``"hnerv=300,hashgrid=20"``."""
    try:
        if "=" not in text:
            return {m: float(text) for m in models}
        out = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            out[name.strip()] = float(value)
    except ValueError:
        raise InputError(f"--epochs must be N or MODEL=N,..., got {text!r}") from None
    unknown = sorted(set(out) - set(models))
    if unknown:
        raise InputError(f"--epochs names {', '.join(unknown)}, not among --models")
    if any(v <= 0 for v in out.values()):
        raise InputError("--epochs must be positive")
    return out


def parse_models(text: str, kind: str = "video") -> dict[str, list[str]]:
    """Each model's ladder of points, ``;`` between models: sizes (``"hnerv:0.05M,0.1M"``),
    sizes with a rate weight (``"hnerv:0.1M@1e-3,0.2M@1e-3"``), or one size at several rate
    weights (``"hnerv:0.1M@1e-3,3e-3,1e-2"``: after ``SIZE@λ``, a bare number is another λ
    for that size). Point labels are ``SIZE`` or ``SIZE@λ``."""
    from codec.options import build

    out: dict[str, list[str]] = {}
    names = [m.name for m in registry.methods(kind) if m.codec is not None]
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, sizes = part.partition(":")
        if name not in names:
            raise InputError(f"--models: {name!r} is not a {kind} model that writes files "
                             f"(choose from {', '.join(names)})")
        ladder, size = [], None
        for entry in filter(None, (e.strip() for e in sizes.split(","))):
            if "@" in entry:
                size, _, lmbda = entry.partition("@")
            elif size is not None and _is_rate(entry):
                lmbda = entry
            else:
                size, lmbda = entry, None
            build(registry.method(name, kind).Options, {"size": size}, name)  # its own check
            if lmbda is not None:
                _check_rate(name, lmbda)
            ladder.append(size if lmbda is None else f"{size}@{float(lmbda):g}")
        if not ladder:
            raise InputError(f"--models: give sizes for {name}, e.g. {name}:0.05M,0.1M")
        out[name] = ladder
    return out


def _is_rate(text: str) -> bool:
    try:
        return float(text) < 1_000  # sizes start at 1k
    except ValueError:
        return False


def _check_rate(model: str, text: str) -> None:
    if "lmbda" not in {s.name for s in specs(registry.method(model).Options)}:
        raise InputError(f"--models: {model} has no rate weight (--lmbda); give sizes only")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--models: {text!r} is not a rate weight (a number)") from None
    if not (value >= 0 and value != float("inf")):
        raise InputError(f"--models: the rate weight {text!r} must be a number >= 0")


def point_options(model: str, label: str) -> dict[str, Any]:
    """The encode options of a point's label (``SIZE`` or ``SIZE@λ``)."""
    size, _, lmbda = label.partition("@")
    return {"size": size} | ({"lmbda": float(lmbda)} if lmbda else {})


def sweep(spec: SweepSpec, out_dir: str | os.PathLike, *, quiet: bool = True) -> list[RdPoint]:
    """Run (or load from the cache) every point of ``spec``; returns them in order."""
    from codec.progress import progress

    out = Path(out_dir)
    check_spec(spec)
    clip = read_clip(spec)
    (out / "points").mkdir(parents=True, exist_ok=True)  # after the input proved readable
    jobs = jobs_of(spec)
    base = source_key(spec, clip.frames)
    points: list[RdPoint] = []
    with progress(total=len(jobs), desc="rd points", unit="pt", quiet=quiet) as bar:

        def run(curve: str, label: str) -> RdPoint:
            path = point_path(out, curve, label)
            key = point_key(spec, base, curve, label)
            point = load_point(path, key)
            if point is None:
                point = (
                    anchor_point(clip, curve, label)
                    if curve in spec.anchors
                    else inr_point(spec, clip, curve, label, out / f"{curve}-{label}.nirc")
                )
                save_point(path, key, point)
            bar.set_postfix_str(f"{curve} {label}", refresh=False)
            bar.update(1)
            points.append(point)
            return point

        for curve, label in jobs:
            run(curve, label)
        # extend anchor ladders downwards in CRF until they reach the INR points' top rate
        for anchor in spec.anchors:
            while (crf := next_crf(spec, points, anchor)) is not None:
                bar.total += 1
                run(anchor, f"crf{crf}")
    return points


def check_spec(spec: SweepSpec) -> None:
    """InputError for unknown anchors or a reference that is not one of the curves."""
    from codec.anchors import ANCHORS

    for a in spec.anchors:
        if a not in ANCHORS:
            raise InputError(f"unknown anchor {a!r} (known: {', '.join(ANCHORS)})")
    check_reference(spec)


def check_reference(spec: Any) -> None:
    """InputError when ``spec.reference`` is none of its curves (models and anchors)."""
    if spec.reference not in {*spec.anchors, *spec.models}:
        raise InputError(f"--reference {spec.reference!r} is not one of the curves")


def read_clip(spec: SweepSpec):
    """The frames every point of ``spec`` encodes."""
    from codec.video.io import Geometry, read_video

    return read_video(spec.input, max_frames=spec.max_frames,
                      geometry=Geometry(crop=spec.crop, resize=spec.resize))


def jobs_of(spec: SweepSpec) -> list[tuple[str, str]]:
    """(curve, label) of every point a sweep of ``spec`` starts with: each model's ladder, then
    each anchor's CRF ladder (which :func:`next_crf` may extend)."""
    jobs = [(m, s) for m, sizes in spec.models.items() for s in sizes]
    return jobs + [(a, f"crf{c}") for a in spec.anchors for c in ANCHOR_CRFS[a]]


def next_crf(spec: SweepSpec, points: list[RdPoint], anchor: str) -> int | None:
    """The next CRF below ``anchor``'s ladder (5 lower than its lowest point so far) while
    its best rate is under the INR points' top rate, else None."""
    top = max((p.bpp for p in points if p.curve in spec.models), default=0.0)
    mine = [p for p in points if p.curve == anchor]
    crf = min(int(p.label[3:]) for p in mine)
    if max(p.bpp for p in mine) >= top or crf <= 4:
        return None
    return crf - 5


def point_path(out: Path, curve: str, label: str) -> Path:
    """Where a point of a sweep writing to ``out`` is cached."""
    return out / "points" / f"{curve}__{label}.json"


def point_key(spec: Any, base: str, curve: str, label: str) -> str:
    """What a cached point must match: its source (``base``, e.g. :func:`source_key`), curve,
    label and, for nircodec points, training length (``spec``: a sweep's, with ``anchors``
    and ``epochs_of``)."""
    extra = "" if curve in spec.anchors else f"|epochs={float(spec.epochs_of(curve)):g}"
    return hashlib.sha256(f"{base}|{curve}|{label}{extra}".encode()).hexdigest()


def source_key(spec: SweepSpec, frames: np.ndarray) -> str:
    """What every cached point depends on besides its curve and label (not the code version:
    delete the directory to re-measure after changing nircodec)."""
    digest = hashlib.sha256(frames.tobytes()).hexdigest()
    return f"{digest}|{spec.seed}|{frames.shape}"


def load_point(path: Path, key: str, cls: type = RdPoint):
    """The point cached at ``path`` (a ``cls``) when its key is ``key``, else None."""
    try:
        data = json.loads(path.read_text())
        if data.pop("key") == key:
            return cls(**data)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def save_point(path: Path, key: str, point: RdPoint) -> None:
    from codec.atomic import atomic_write

    with atomic_write(path) as fh:
        fh.write(json.dumps({**asdict(point), "key": key}, sort_keys=True).encode())


def _measure(curve, label, ref, dist, nbytes, enc_s, dec_s) -> RdPoint:
    from codec.metrics import evaluate

    m = evaluate(ref, dist)
    pixels = ref.shape[0] * ref.shape[1] * ref.shape[2]
    return RdPoint(
        curve,
        label,
        int(nbytes),
        8 * nbytes / pixels,
        m["psnr"],
        m["psnr_y"],
        m["psnr_yuv611"],
        m["ms_ssim"],
        m["ssim_kind"],
        m["lpips"],
        enc_s,
        dec_s,
    )


def anchor_point(clip, anchor: str, label: str) -> RdPoint:
    from codec.anchors import encode_anchor

    p = encode_anchor(clip.frames, anchor, int(label[3:]), clip.fps)
    return _measure(
        anchor, label, clip.frames, p.frames, p.bytes, p.encode_seconds, p.decode_seconds
    )


def inr_point(spec: SweepSpec, clip, model: str, label: str, path: Path, *,
              threads: int | None = None, device: str = "auto") -> RdPoint:
    """Encode ``clip`` with ``model`` at ``label`` into ``path``, decode it, measure."""
    from codec.api import decode_video, encode_clip

    result = encode_clip(
        clip, path, model=model, seed=spec.seed, threads=threads, device=device,
        **encode_options(model, label, spec.epochs_of(model))
    )
    t0 = time.perf_counter()
    decoded = decode_video(path)
    dec = time.perf_counter() - t0
    return _measure(
        model, label, clip.frames, decoded, path.stat().st_size, result.encode_seconds, dec
    )


# -- outputs -----------------------------------------------------------------------------------


def curves_of(points: list) -> dict[str, list]:
    """The points by curve, each curve by rising rate."""
    out: dict[str, list] = {}
    for p in points:
        out.setdefault(p.curve, []).append(p)
    return {k: sorted(v, key=lambda p: p.rate()) for k, v in out.items()}


def write_outputs(points: list, spec: Any, out_dir, log_x: bool = False,
                  describe_curve=None) -> dict[str, Any]:
    """results.json (CompressAI schema, one entry per curve), results.csv, rd.png, summary.md.
    ``points``: of one kind (RdPoint or another with its methods); ``describe_curve(name)``:
    a curve's description (default: a video sweep's, :func:`describe`)."""
    from codec.atomic import atomic_write

    out = Path(out_dir)
    curves = curves_of(points)
    entries = schema_entries(curves, describe_curve or (lambda name: describe(name, spec)))
    with atomic_write(out / "results.json") as fh:
        fh.write(json.dumps(entries, indent=2).encode())
    with atomic_write(out / "results.csv") as fh:
        fh.write(csv_text([asdict(p) for p in points]).encode())
    kind = type(points[0])
    kind.plot(curves, out / "rd.png", log_x=log_x)
    bd = bd_rows(curves, spec.reference)
    with atomic_write(out / "summary.md") as fh:
        fh.write(_summary(curves, bd, spec, kind).encode())
    return {"curves": list(curves), "bd": bd, "points": len(points)}


def schema_entries(curves: dict[str, list], describe) -> list[dict[str, Any]]:
    """CompressAI's results.json: one entry per curve (``describe(name)``: its text)."""
    return [{"name": name, "description": describe(name), "results": type(pts[0]).results(pts)}
            for name, pts in curves.items()]


def bd_rows(curves: dict[str, list], reference: str) -> dict[str, dict[str, Any]]:
    """BD-rate (%) and BD-quality (``bd_psnr``, in the quality's unit) of every curve against
    ``reference`` on the points' ``rate``/``quality`` axes; ``error`` instead where the curves
    cannot be compared."""
    from codec.bdrate import bd_psnr, bd_rate

    ref = curves[reference]
    bd: dict[str, dict[str, Any]] = {}
    for name, pts in curves.items():
        if name == reference:
            continue
        row: dict[str, Any] = {}
        try:
            args = ([p.rate() for p in ref], [p.quality() for p in ref],
                    [p.rate() for p in pts], [p.quality() for p in pts])
            row["bd_rate"], row["bd_psnr"] = bd_rate(*args), bd_psnr(*args)
        except InputError as exc:
            row["error"] = str(exc)
        bd[name] = row
    return bd


def describe(name: str, spec: SweepSpec) -> str:
    """How a curve's points were made (results.json's description)."""
    from codec.anchors import ANCHORS

    if name in ANCHORS:
        enc, opts = ANCHORS[name]
        preset = opts.get("preset", "")
        return f"FFmpeg {enc} preset {preset}, yuv420p, CRF ladder; bytes = packet sizes"
    field = budget_field(name)
    unit = {s.name: s.help for s in specs(registry.method(name).Options)}[field]
    return (
        f"nircodec {name}, {spec.epochs_of(name):g} {field} ({unit}), seed {spec.seed}; "
        "bytes = .nirc file size"
    )


def csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["curve"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _summary(curves, bd, spec: Any, kind: type) -> str:
    lines = [f"# Rate–distortion summary: {os.path.basename(str(spec.input))}", ""]
    lines.append(
        f"Reference curve: **{spec.reference}**. BD metrics use PCHIP interpolation "
        "over the overlapping range; negative BD-rate = fewer bytes than the reference."
    )
    lines += ["", f"| curve | BD-rate ({kind.QUALITY}) | BD-{kind.QUALITY} dB |",
              "|---|---:|---:|"]
    for name, row in bd.items():
        if "error" in row:
            lines.append(f"| {name} | n/a | n/a |")
        else:
            lines.append(f"| {name} | {row['bd_rate']:+.1f}% | {row['bd_psnr']:+.2f} |")
    notes = [f"- {n}: {r['error']}" for n, r in bd.items() if "error" in r]
    if notes:
        lines += ["", *notes]
    lines += ["", *kind.TABLE]
    lines += [p.row() for pts in curves.values() for p in pts]
    lines += ["", kind.NOTE, ""]
    return "\n".join(lines)
