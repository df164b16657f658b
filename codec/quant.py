"""Uniform affine quantization: one module, explicit modes, one dequantize.

A tensor is quantized per tensor (``axis=None``) or per channel along any axis with
``bits`` in 2..16. Levels are ``minimum + q * scale`` for ``q`` in ``0 .. 2**bits - 1``. The
parameters are rounded to their storage dtype (float16 when representable, else float32)
*before* the symbols are computed, so ``|x - dequantize(quantize(x))| <= scale / 2`` holds for
the stored values, and dequantization is plain IEEE float32 arithmetic (one multiply, one add,
no fused multiply-add) that gives the same bits on every machine.

Coding symbols are centred on each channel's zero point (``q - round(-minimum / scale)``) so
that weight tensors of different ranges share one entropy table.

Modes:
- ``fake_quantize(x, bits, mode="noise")``: additive uniform noise of one step (training proxy).
- ``fake_quantize(x, bits, mode="ste")``: straight-through rounding (forward = coded values).
- ``quantize(...)`` / ``dequantize(...)``: integer symbols for coding and their inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BITS, MAX_BITS = 2, 16
_F16_MIN_NORMAL = 2.0**-14
_F16_MAX = 65504.0


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer symbols plus everything needed to dequantize them.

    symbols: int64, same shape as the source tensor, centred on the zero point.
    minimum, scale: (C,) arrays in ``param_dtype`` (C = 1, or the size of ``axis``).
    """

    symbols: np.ndarray
    bits: int
    axis: int | None
    minimum: np.ndarray
    scale: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.symbols.shape)

    @property
    def param_dtype(self) -> np.dtype:
        return self.minimum.dtype

    def zero_point(self) -> np.ndarray:
        return zero_point(self.minimum, self.scale, self.bits)

    def levels(self) -> np.ndarray:
        """Unsigned level indices 0 .. 2**bits - 1."""
        return self.symbols + _broadcast(self.zero_point(), self.axis, self.symbols.ndim)

    def dequantize(self) -> np.ndarray:
        return dequantize(self)


def zero_point(minimum: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Level index closest to 0.0 (float64 division and rounding: exact IEEE, portable)."""
    m = minimum.astype(np.float64)
    s = scale.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, np.rint(-m / np.where(s > 0, s, 1.0)), 0.0)
    return np.clip(z, 0, (1 << bits) - 1).astype(np.int64)


def quantize(x: np.ndarray, bits: int, axis: int | None = None) -> QuantizedTensor:
    """Min/max affine quantization of a float array, per tensor or per channel along ``axis``."""
    x = np.asarray(x, dtype=np.float32)
    _check_bits(bits)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantize a tensor with NaN or infinite values")
    if axis is not None:
        axis = _norm_axis(axis, x.ndim)
    levels = (1 << bits) - 1
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis) if axis is not None else None
    if x.size == 0:
        n = x.shape[axis] if axis is not None else 1
        lo = np.zeros(n, np.float64)
        hi = np.zeros(n, np.float64)
    else:
        lo = np.atleast_1d(x.min(axis=reduce_axes)).astype(np.float64).ravel()
        hi = np.atleast_1d(x.max(axis=reduce_axes)).astype(np.float64).ravel()
    minimum, scale = _storable_params(lo, hi, levels)
    m = _broadcast(minimum.astype(np.float64), axis, x.ndim)
    s = _broadcast(scale.astype(np.float64), axis, x.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, np.floor((x - m) / np.where(s > 0, s, 1.0) + 0.5), 0.0)
    q = np.clip(q, 0, levels).astype(np.int64)
    zp = _broadcast(zero_point(minimum, scale, bits), axis, x.ndim)
    return QuantizedTensor(q - zp, bits, axis, minimum, scale)


def quantize_step(x: np.ndarray, step: float) -> QuantizedTensor:
    """Quantization on a given ``step`` (one learned by rate–distortion training): the symbols
    are ``round(x / step)``, the integers training priced, stored with the fewest bits that
    hold their range. ValueError when that range needs more than 16 bits."""
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantize a tensor with NaN or infinite values")
    scale = np.array([step], np.float32)
    if not (np.isfinite(scale[0]) and scale[0] > 0):
        raise ValueError(f"quantization step must be a positive number, got {step}")
    k = np.rint(x.astype(np.float64) / float(scale[0]))
    lo, hi = (float(k.min()), float(k.max())) if k.size else (0.0, 0.0)
    bits = max(MIN_BITS, int(np.ceil(np.log2(hi - lo + 1))))
    if bits > MAX_BITS:
        raise ValueError(f"a step of {step:.3g} spans {hi - lo + 1:.0f} levels, more than 16 bits")
    minimum = np.array([lo * float(scale[0])], np.float32)
    levels = (k - lo).astype(np.int64)
    return QuantizedTensor(levels - zero_point(minimum, scale, bits)[0], bits, None, minimum,
                           scale)


MIN_CHANNEL_SIZE = 8  # per-channel parameters only for channels of at least this many values


def quantize_best(
    x: np.ndarray,
    bits: int,
    axes: tuple[int | None, ...] | None = None,
    criterion: str = "rd",
) -> QuantizedTensor:
    """Quantize per tensor or along whichever of ``axes`` (default: every axis whose channels
    hold at least MIN_CHANNEL_SIZE values) scores best.

    ``criterion="error"`` picks the lowest squared error, as the HNeRV reference does.
    ``criterion="rd"`` (default) compares squared error at equal rate: D * 2**(2 R / N), with R
    the symbols' empirical entropy plus the parameters' bits (6 dB per bit per value), so
    per-channel parameters win only where they pay for themselves.
    """
    from codec.entropy import empirical_entropy_bits

    x = np.asarray(x, dtype=np.float32)
    if criterion not in ("rd", "error"):
        raise ValueError("criterion must be 'rd' or 'error'")
    if axes is None:
        axes = (
            None,
            *(a for a in range(x.ndim) if x.size // max(1, x.shape[a]) >= MIN_CHANNEL_SIZE),
        )
    best, best_score = None, np.inf
    for axis in axes:
        q = quantize(x, bits, axis)
        err = float(np.sum((q.dequantize().astype(np.float64) - x) ** 2))
        score = err
        if criterion == "rd" and x.size:
            params = 16 * q.minimum.dtype.itemsize * q.minimum.size  # minimum + scale, bits
            rate = empirical_entropy_bits(q.symbols) + params
            floor = 1e-12 * float(np.sum(x.astype(np.float64) ** 2)) + 1e-30
            score = (err + floor) * 2.0 ** (2.0 * rate / x.size)
        if score < best_score:
            best, best_score = q, score
    return best


def dequantize(q: QuantizedTensor) -> np.ndarray:
    """float32 values ``minimum + level * scale``, computed identically on every machine."""
    levels = q.levels().astype(np.float32)
    m = _broadcast(q.minimum.astype(np.float32), q.axis, levels.ndim)
    s = _broadcast(q.scale.astype(np.float32), q.axis, levels.ndim)
    prod = np.multiply(levels, s, dtype=np.float32)  # separate ops: no FMA contraction
    return np.add(prod, m, dtype=np.float32)


def fake_quantize(x, bits: int, axis: int | None = None, mode: str = "noise"):
    """Differentiable stand-in for quantization while training (torch tensors).

    ``noise`` adds U(-scale/2, scale/2); ``ste`` rounds to the grid in the forward pass and
    passes gradients straight through. The range comes from the detached tensor.
    """
    import torch

    _check_bits(bits)
    if mode not in ("noise", "ste"):
        raise ValueError(f"mode must be 'noise' or 'ste', got {mode!r}")
    levels = (1 << bits) - 1
    d = x.detach()
    if axis is None:
        lo, hi = d.min(), d.max()
    else:
        axis = _norm_axis(axis, x.ndim)
        dims = [i for i in range(x.ndim) if i != axis]
        lo, hi = d.amin(dim=dims, keepdim=True), d.amax(dim=dims, keepdim=True)
    scale = (hi - lo) / levels
    if mode == "noise":
        return x + (torch.rand_like(x) - 0.5) * scale
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.floor((d - lo) / safe + 0.5), 0, levels) * scale + lo
    return x + (q - d)


# -- internals ---------------------------------------------------------------------------------


def _check_bits(bits: int) -> None:
    if not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")


def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} out of range for a {ndim}-d tensor")
    return axis % ndim


def _broadcast(v: np.ndarray, axis: int | None, ndim: int) -> np.ndarray:
    if axis is None:
        return v.reshape(()) if v.size == 1 else v
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def _storable_params(lo: np.ndarray, hi: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(minimum, scale) in the smallest exact storage dtype covering [lo, hi]."""
    for dtype in (np.float16, np.float32):
        with np.errstate(over="ignore", invalid="ignore"):
            m, s, ok = _try_params(lo, hi, levels, dtype)
        if ok:
            return m, s
    raise ValueError("tensor range does not fit float32 quantization parameters")


def _try_params(lo: np.ndarray, hi: np.ndarray, levels: int, dtype) -> tuple:
    m = _round_down(lo, dtype)
    s = _round_up((hi - m.astype(np.float64)) / levels, dtype)
    top = m.astype(np.float64) + s.astype(np.float64) * levels
    # hi - m can round away a tiny hi (e.g. hi = 1e-23, m = -117): widen the step until the
    # top level reaches hi; a couple of ulps always suffice.
    for _ in range(4):
        short = top < hi
        if not np.any(short):
            break
        s = np.where(short, np.nextafter(s, dtype(np.inf)), s).astype(dtype)
        top = m.astype(np.float64) + s.astype(np.float64) * levels
    ok = np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(top >= hi)
    if dtype is np.float16:
        # keep float16 only where its precision is not the limiting error
        ok = ok and np.all((s == 0) | (s >= _F16_MIN_NORMAL))
        ok = ok and np.all(np.abs(lo) < _F16_MAX) and np.all(np.abs(hi) < _F16_MAX)
        ok = ok and np.all(np.abs(m.astype(np.float64) - lo) <= s.astype(np.float64) / 4)
    return m, s, bool(ok)


def _round_down(v: np.ndarray, dtype) -> np.ndarray:
    r = v.astype(dtype)
    return np.where(r.astype(np.float64) > v, np.nextafter(r, dtype(-np.inf)), r).astype(dtype)


def _round_up(v: np.ndarray, dtype) -> np.ndarray:
    r = v.astype(dtype)
    return np.where(r.astype(np.float64) < v, np.nextafter(r, dtype(np.inf)), r).astype(dtype)
