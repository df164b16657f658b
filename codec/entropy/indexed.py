"""Conditional coding of integers with a bank of Laplace tables (CompressAI's
``GaussianConditional`` arrangement): each value comes with a table index (its predicted scale)
and an integer mean (its prediction), and only ``value − mean`` is coded, under its table.

This is what a context model drives: a network predicts a scale and a mean per latent, the
encoder and decoder turn them into the same integers, and the coder needs nothing else. The
bank's tables are :func:`codec.entropy.parametric.laplace_frequencies` of fixed integer ratios
(``LaplaceBank.ratios``, pinned by a test; :func:`matched_ratio` of each scale), so decoding
never evaluates a float density.

Stream layout (the caller knows the count n and passes the same indexes and means to decode):

    uvarint e, e x svarint        residuals outside [−radius, radius], in order
    ceil(n / CHUNK) x (uvarint length, rANS bytes)

A *sequential* stream (:meth:`LaplaceBank.encode_sequence`, :class:`SequenceDecoder`) is for
an auto-regressive model, whose decoder learns the indexes and means of a slice only once the
slices before it are decoded: the same escape list, then one rANS stream of all n symbols
(no chunks) that the decoder reads a slice at a time.

A residual ``r`` with ``|r| <= radius`` is table slot ``r + radius``; any other is the escape
slot ``2·radius + 1`` plus its entry in the escape list.
"""

from __future__ import annotations

import math

import numpy as np

from codec.binio import ByteReader, write_svarint, write_uvarint
from codec.entropy import (
    CHUNK,
    MAX_ABS_VALUE,
    MAX_SYMBOLS,
    _ans,
    _cdf_for_compressai,
    _pad,
    _rans_decode,
    _rans_encode,
)
from codec.entropy.parametric import MAX_RATIO, MAX_WIDTH, laplace_frequencies
from codec.errors import EntropyError


def matched_ratio(scale: float) -> float:
    """The ratio of the discrete Laplace table whose probability of a zero residual equals
    what the continuous Laplace law of ``scale`` puts on [−½, ½] (the law training prices
    rounded latents with, ``codec.rate.laplace_bits``): ``a / (2 − a)``, ``a = exp(−1/(2s))``.
    For small scales this differs by orders of magnitude from ``exp(−1/s)`` (a table that far
    more peaked made each ±1 cost 14 bits instead of 8 at s = 0.1); for large ones they
    agree."""
    a = math.exp(-1 / (2 * scale))
    return a / (2 - a)


class LaplaceBank:
    """``count`` discrete Laplace tables of scales from ``low`` to ``high`` (geometric), over
    residuals in [−radius, radius] plus an escape slot."""

    def __init__(self, count: int = 64, low: float = 0.1, high: float = 64.0,
                 radius: int = 255) -> None:
        if not (2 <= count <= 4096 and 0 < low < high and 1 <= radius <= (MAX_WIDTH - 2) // 2):
            raise ValueError("bad Laplace bank")
        self.radius = radius
        scales = [low * (high / low) ** (i / (count - 1)) for i in range(count)]
        self.scales = scales
        self.ratios = [min(MAX_RATIO, max(1, round(matched_ratio(s) * 65536))) for s in scales]
        width = 2 * radius + 2  # the last slot is the escape
        self.cdfs = [_cdf_for_compressai(laplace_frequencies(width, radius, r))
                     for r in self.ratios]

    def index_of(self, scale: np.ndarray) -> np.ndarray:
        """The table whose scale is nearest (in log) to each of ``scale`` (a float helper for
        encoders; a decoder must get the same indexes by its own exact means)."""
        logs = np.log(np.asarray(self.scales))
        mid = (logs[1:] + logs[:-1]) / 2
        return np.searchsorted(mid, np.log(np.maximum(np.asarray(scale, float), 1e-12)))

    def encode(self, values: np.ndarray, index: np.ndarray, means: np.ndarray | None = None
               ) -> bytes:
        """``values`` (int) coded under tables ``index`` around ``means`` (int; default 0)."""
        values, index, means = self._check(values, index, means)
        out, slots = self._escapes(values - means)
        for s in range(0, slots.size, CHUNK):
            part = index[s : s + CHUNK]
            chunk = _rans_encode(slots[s : s + CHUNK], part, self.cdfs, self.radius)
            out += write_uvarint(len(chunk)) + chunk
        return bytes(out)

    def encode_sequence(self, values: np.ndarray, index: np.ndarray,
                        means: np.ndarray | None = None) -> bytes:
        """Like :meth:`encode`, as one rANS stream that :class:`SequenceDecoder` reads a slice
        at a time (in the order of ``values``)."""
        values, index, means = self._check(values, index, means)
        if values.size > MAX_SYMBOLS:
            raise ValueError(f"at most {MAX_SYMBOLS} values in one sequential stream")
        out, slots = self._escapes(values - means)
        if slots.size:
            sym, idx = _pad(slots, index, self.radius)
            out += _ans().RansEncoder().encode_with_indexes(
                sym, idx, self.cdfs, [len(c) for c in self.cdfs], [0] * len(self.cdfs))
        return bytes(out)

    def decode(self, data: bytes, index: np.ndarray, means: np.ndarray | None = None
               ) -> np.ndarray:
        """Inverse of :func:`encode` with the same ``index`` and ``means``."""
        index, means = self._check(np.zeros(np.asarray(index).shape, np.int64), index, means)[1:]
        n = index.size
        reader = ByteReader(data, "latent stream")
        escapes = _read_escapes(reader, n)
        n_esc = len(escapes)
        if -(-n // CHUNK) > reader.remaining:
            raise EntropyError("latent stream: too short for its symbol count")
        slots = np.empty(n, np.int64)
        for s in range(0, n, CHUNK):
            length = reader.uvarint("chunk length", limit=reader.remaining)
            slots[s : s + CHUNK] = _rans_decode(reader.bytes(length, "rANS chunk"),
                                                index[s : s + CHUNK], self.cdfs, self.radius)
        reader.expect_end()
        escaped = slots == 2 * self.radius + 1
        if int(escaped.sum()) != n_esc:
            raise EntropyError(f"latent stream: {int(escaped.sum())} escapes decoded, "
                               f"{n_esc} listed")
        r = slots - self.radius
        r[escaped] = np.asarray(escapes, np.int64)
        return r + means

    def _escapes(self, r: np.ndarray) -> tuple[bytearray, np.ndarray]:
        """(the escape list's bytes, the table slot of every residual of ``r``)."""
        if r.size and np.abs(r).max() > MAX_ABS_VALUE:
            raise ValueError("residuals must fit in a signed 32-bit integer")
        inside = np.abs(r) <= self.radius
        slots = np.where(inside, r + self.radius, 2 * self.radius + 1)
        out = bytearray(write_uvarint(int((~inside).sum())))
        for v in r[~inside].tolist():
            out += write_svarint(v)
        return out, slots

    def _check(self, values, index, means):
        values = np.asarray(values, np.int64).ravel()
        index = np.asarray(index, np.int64).ravel()
        means = np.zeros_like(values) if means is None else np.asarray(means, np.int64).ravel()
        if not values.size == index.size == means.size:
            raise ValueError("values, indexes and means must have the same size")
        if index.size and (index.min() < 0 or index.max() >= len(self.cdfs)):
            raise ValueError(f"table indexes must be in 0..{len(self.cdfs) - 1}")
        return values, index, means



def _read_escapes(reader: ByteReader, n: int) -> list[int]:
    n_esc = reader.uvarint("escape count", limit=n)
    if n_esc > reader.remaining:
        raise EntropyError("latent stream: escape list is longer than the stream")
    return [reader.svarint("escape", limit=MAX_ABS_VALUE) for _ in range(n_esc)]


class SequenceDecoder:
    """Reads a :meth:`LaplaceBank.encode_sequence` stream of ``count`` values a slice at a
    time: each :meth:`next` gets the slice's indexes and means (computed from the slices
    before it) and returns its values. :meth:`finish` checks the whole stream was used."""

    def __init__(self, bank: LaplaceBank, data: bytes, count: int) -> None:
        self.bank, self.left = bank, count
        reader = ByteReader(data, "latent stream")
        self.escapes = _read_escapes(reader, count)
        self.used = 0
        if count and reader.remaining < 8:
            raise EntropyError("latent stream: too short for its symbol count")
        self.decoder = _ans().RansDecoder()
        # rANS reads at most one 32-bit word a symbol past its 8-byte state: zero padding
        # keeps a corrupt stream inside the buffer (it can only decode to wrong symbols)
        self.decoder.set_stream(reader.bytes(reader.remaining, "rANS stream")
                                + bytes(4 * count + 16))
        self._lengths = [len(c) for c in bank.cdfs]
        self._offsets = [0] * len(bank.cdfs)

    def next(self, index: np.ndarray, means: np.ndarray) -> np.ndarray:
        bank = self.bank
        _, index, means = bank._check(np.zeros(np.asarray(index).size, np.int64), index, means)
        if index.size > self.left:
            raise EntropyError("latent stream: more values asked for than it holds")
        self.left -= index.size
        slots = np.asarray(self.decoder.decode_stream(index.tolist(), bank.cdfs,
                                                      self._lengths, self._offsets), np.int64)
        r = slots - bank.radius
        escaped = slots == 2 * bank.radius + 1
        k = int(escaped.sum())
        if k:
            if self.used + k > len(self.escapes):
                raise EntropyError("latent stream: more escapes decoded than listed")
            r[escaped] = self.escapes[self.used : self.used + k]
            self.used += k
        return r + means

    def finish(self) -> None:
        if self.left or self.used != len(self.escapes):
            raise EntropyError(f"latent stream: {self.used} escapes decoded, "
                               f"{len(self.escapes)} listed")
