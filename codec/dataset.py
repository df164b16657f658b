"""The data-set view of a rate–distortion sweep over several inputs.

UVG-style tables report, for each codec, its BD-rate against the reference computed on each
input and averaged over the inputs (a BD-rate is a ratio of rates at equal quality, so it is
averaged, not recomputed from averaged curves). The mean curves average each rate point
(same curve and label on every input) over the inputs — CompressAI's convention for a data
set — and are what results.json and rd.png show.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from codec.rd import bd_rows, csv_text, curves_of, schema_entries


def mean_curves(per_input: dict[str, list]) -> dict[str, list]:
    """Per curve, the mean point of every label that every input has (by mean rate)."""
    groups: dict[tuple[str, str], list] = {}
    for points in per_input.values():
        for p in points:
            groups.setdefault((p.curve, p.label), []).append(p)
    n = len(per_input)
    out = [_mean(pts) for pts in groups.values() if len(pts) == n]
    return curves_of(out)


def _mean(pts: list):
    """The point whose numbers are the means of ``pts``' (same curve and label; text fields
    from the first, a field None when any point lacks it)."""
    values: dict[str, Any] = {}
    for f in fields(pts[0]):
        got = [getattr(p, f.name) for p in pts]
        if any(v is None for v in got):
            values[f.name] = None
        elif isinstance(got[0], str):
            values[f.name] = got[0]
        else:
            mean = sum(got) / len(got)
            values[f.name] = round(mean) if isinstance(got[0], int) else mean
    return type(pts[0])(**values)


def bd_table(per_input: dict[str, list], reference: str) -> dict[str, dict[str, Any]]:
    """Per curve: each input's BD row (:func:`codec.rd.bd_rows`) and the mean BD-rate and
    BD-PSNR over the inputs where it is defined (``inputs``: how many)."""
    rows: dict[str, dict[str, Any]] = {}
    for name, points in per_input.items():
        for curve, row in bd_rows(curves_of(points), reference).items():
            rows.setdefault(curve, {"per_input": {}})["per_input"][name] = row
    for row in rows.values():
        ok = [r for r in row["per_input"].values() if "error" not in r]
        row["inputs"] = len(ok)
        row["mean_bd_rate"] = sum(r["bd_rate"] for r in ok) / len(ok) if ok else None
        row["mean_bd_psnr"] = sum(r["bd_psnr"] for r in ok) / len(ok) if ok else None
    return rows


def write_dataset(per_input: dict[str, list], reference: str, out_dir,
                  describe, log_x: bool = False) -> dict[str, Any]:
    """results.json (mean curves, CompressAI schema), results.csv (every point, with its
    input), rd.png (mean curves) and summary.md (BD-rate per input and averaged) in
    ``out_dir``; returns the summary as a dict."""
    from codec.atomic import atomic_write

    out = Path(out_dir)
    curves = mean_curves(per_input)
    kind = type(next(p for pts in per_input.values() for p in pts))
    n = len(per_input)
    entries = schema_entries(curves, lambda name: f"{describe(name)}; mean of {n} inputs")
    with atomic_write(out / "results.json") as fh:
        fh.write(json.dumps(entries, indent=2).encode())
    rows = [{"input": name, **asdict(p)} for name, pts in per_input.items() for p in pts]
    with atomic_write(out / "results.csv") as fh:
        fh.write(csv_text(rows).encode())
    if curves:
        kind.plot(curves, out / "rd.png", log_x=log_x)
    bd = bd_table(per_input, reference)
    with atomic_write(out / "summary.md") as fh:
        fh.write(_summary(per_input, curves, bd, reference, kind).encode())
    return {"inputs": list(per_input), "curves": list(curves),
            "bd": {c: {"mean_bd_rate": r["mean_bd_rate"], "mean_bd_psnr": r["mean_bd_psnr"],
                       "inputs": r["inputs"]} for c, r in bd.items()},
            "points": sum(len(p) for p in per_input.values())}


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.1f}%"


def _summary(per_input, curves, bd, reference: str, kind: type) -> str:
    names = list(per_input)
    lines = [f"# Rate–distortion summary: {len(names)} inputs", "",
             f"BD-rate ({kind.QUALITY} axis) of each curve against **{reference}** on each "
             "input, and its mean over the inputs where it is defined (the UVG convention: "
             "BD-rates are averaged, not computed from averaged curves). Negative = fewer "
             "bytes.", "",
             "| curve | " + " | ".join(names) + f" | mean | mean BD-{kind.QUALITY} dB |",
             "|---|" + "---:|" * (len(names) + 2)]
    for curve, row in bd.items():
        cells = [_pct(row["per_input"].get(n, {}).get("bd_rate")) for n in names]
        psnr, k = row["mean_bd_psnr"], row["inputs"]
        mean = _pct(row["mean_bd_rate"]) + ("" if k in (0, len(names)) else f" ({k})")
        lines.append(f"| {curve} | " + " | ".join(cells) + f" | {mean} | "
                     + ("n/a" if psnr is None else f"{psnr:+.2f}") + " |")
    lines += ["", "(N): mean over the N inputs where the curves overlap.", "",
              "Mean curves (each point averaged over the inputs that all have it):", "",
              *kind.TABLE]
    lines += [p.row() for pts in curves.values() for p in pts]
    lines += ["", kind.NOTE, ""]
    return "\n".join(lines)
