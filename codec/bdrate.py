"""Bjøntegaard delta metrics (BD-rate, BD-PSNR) with piecewise cubic (PCHIP) interpolation.

As in current JVET reference tools: each curve is interpolated with a monotone piecewise cubic
Hermite polynomial (instead of the original cubic polynomial fit) and the difference is
integrated over the overlapping interval only. BD-rate interpolates log10(rate) as a function
of quality; BD-PSNR interpolates quality as a function of log10(rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codec.errors import InputError


def bd_rate(
    rate_ref: Sequence[float],
    q_ref: Sequence[float],
    rate_test: Sequence[float],
    q_test: Sequence[float],
) -> float:
    """Average rate difference (percent) of ``test`` against ``ref`` at equal quality.
    Negative = ``test`` needs fewer bits."""
    lr_ref, lr_test = _log_rate(rate_ref), _log_rate(rate_test)
    avg = _avg_diff(np.asarray(q_ref, float), lr_ref, np.asarray(q_test, float), lr_test, "quality")
    return float((10.0**avg - 1.0) * 100.0)


def bd_psnr(
    rate_ref: Sequence[float],
    q_ref: Sequence[float],
    rate_test: Sequence[float],
    q_test: Sequence[float],
) -> float:
    """Average quality difference (dB for PSNR) of ``test`` against ``ref`` at equal rate."""
    return _avg_diff(
        _log_rate(rate_ref),
        np.asarray(q_ref, float),
        _log_rate(rate_test),
        np.asarray(q_test, float),
        "log-rate",
    )


def _log_rate(rate: Sequence[float]) -> np.ndarray:
    r = np.asarray(rate, float)
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise InputError("BD metrics need positive, finite rates")
    return np.log10(r)


def _avg_diff(x_ref, y_ref, x_test, y_test, axis_name: str) -> float:
    """Mean of (y_test - y_ref) over the overlap of the two curves' x ranges."""
    from scipy.interpolate import PchipInterpolator

    f_ref, lo_ref, hi_ref = _curve(x_ref, y_ref, axis_name)
    f_test, lo_test, hi_test = _curve(x_test, y_test, axis_name)
    lo, hi = max(lo_ref, lo_test), min(hi_ref, hi_test)
    if hi <= lo:
        raise InputError(
            f"the curves do not overlap in {axis_name} ([{lo_ref:.3f}, {hi_ref:.3f}] vs "
            f"[{lo_test:.3f}, {hi_test:.3f}]): no BD value can be computed"
        )
    area = lambda f: float(PchipInterpolator(*f).integrate(lo, hi))  # noqa: E731
    return (area(f_test) - area(f_ref)) / (hi - lo)


def _curve(x: np.ndarray, y: np.ndarray, axis_name: str):
    if x.shape != y.shape or x.size < 2:
        raise InputError("BD metrics need at least two points per curve")
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(y)):
        raise InputError("BD metrics need finite values")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise InputError(f"a curve repeats a {axis_name} value; BD metrics need distinct points")
    return (x, y), float(x[0]), float(x[-1])
