"""Context-adaptive coding of integers, a slice at a time (CABAC's arrangement over rANS): for
a decoder that learns each slice's contexts only once the slices before it are decoded, with
no table stored anywhere.

A value is binarised into a *flag* (zero or not), coded under one of ``flag_contexts`` binary
tables, and, when not zero, its *value slot* under one of ``value_contexts`` tables: slots
``0 .. 2R−1`` are −R..−1, 1..R (``R`` = ``radius``) and slot ``2R`` is the escape, whose value
is stored verbatim in the escape list. Every table starts from counts of 1 and adds
``INCREMENT`` for each symbol coded under it; a slice is coded under the tables as they stand
after the slices before it. Counts become frequencies summing to 2^16 by
:func:`frequencies` (integer arithmetic, so both sides build the same tables).

Stream layout (the caller knows the count n and gives the same slices and contexts to both
sides): ``uvarint e, e x svarint`` escapes in order, then one rANS stream (compressai's) of
the slices' flags and value slots in order — each slice's flags, then its nonzero values' slots.
Streams of fewer than MIN_CODED symbols are padded with zero flags under table 0 (not decoded).
"""

from __future__ import annotations

import numpy as np

from codec.binio import ByteReader, write_svarint, write_uvarint
from codec.entropy import MAX_ABS_VALUE, MAX_SYMBOLS, MIN_CODED, TOTAL, _ans
from codec.errors import EntropyError

INCREMENT = 8
"""Count added per coded symbol (a prior of 1/8 of a symbol for every slot)."""


def frequencies(counts: np.ndarray) -> np.ndarray:
    """(K, M) int64 counts → (K, M) frequencies, each >= 1, every row summing to 2^16: one
    plus the floor of the scaled counts, the remainder on the row's largest count (first)."""
    m = counts.shape[1]
    f = 1 + (counts * (TOTAL - m)) // counts.sum(1, keepdims=True)
    top = np.argmax(counts, axis=1)
    f[np.arange(len(f)), top] += TOTAL - f.sum(1)
    return f


def _cdfs(counts: np.ndarray) -> list[list[int]]:
    """compressai's cumulative tables (its bypass slot gets zero width)."""
    c = np.cumsum(frequencies(counts), axis=1)
    k = len(c)
    return np.hstack([np.zeros((k, 1), np.int64), c, np.full((k, 1), TOTAL)]).tolist()


class AdaptiveModel:
    """The tables both sides keep: ``flag_contexts`` binary ones, ``value_contexts`` over
    the 2·radius + 1 value slots."""

    def __init__(self, flag_contexts: int, value_contexts: int, radius: int) -> None:
        if not (1 <= flag_contexts <= 4096 and 1 <= value_contexts <= 4096
                and 1 <= radius <= 1024):
            raise ValueError("bad adaptive model")
        self.radius = radius
        self.flags = np.ones((flag_contexts, 2), np.int64)
        self.values = np.ones((value_contexts, 2 * radius + 1), np.int64)

    def check(self, flag_ctx: np.ndarray, value_ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.asarray(flag_ctx, np.int64).ravel()
        v = np.asarray(value_ctx, np.int64).ravel()
        if f.size != v.size:
            raise ValueError("flag and value contexts must have the same size")
        if f.size and (f.min() < 0 or f.max() >= len(self.flags)
                       or v.min() < 0 or v.max() >= len(self.values)):
            raise ValueError("context index out of range")
        return f, v

    def slots(self, values: np.ndarray) -> np.ndarray:
        r = self.radius
        return np.where(np.abs(values) <= r, np.where(values > 0, values + r - 1, values + r),
                        2 * r)

    def update(self, f_ctx, flags, v_ctx, slots) -> None:
        np.add.at(self.flags, (f_ctx, flags), INCREMENT)
        np.add.at(self.values, (v_ctx, slots), INCREMENT)

    def tables(self) -> tuple[list, list]:
        return _cdfs(self.flags), _cdfs(self.values)


def _code(coder, symbols, index, cdfs) -> None:
    """One call of compressai's coder: ``symbols[i]`` under ``cdfs[index[i]]``."""
    used, local = np.unique(index, return_inverse=True)
    tables = [cdfs[i] for i in used.tolist()]
    coder.encode_with_indexes(symbols.tolist(), local.tolist(), tables,
                              [len(t) for t in tables], [0] * len(tables))


class AdaptiveEncoder:
    """Codes slices (:meth:`add`) into one stream (:meth:`finish`)."""

    def __init__(self, model: AdaptiveModel) -> None:
        self.model, self.count = model, 0
        self.escapes: list[int] = []
        self.coder = _ans().BufferedRansEncoder()

    def add(self, values: np.ndarray, flag_ctx: np.ndarray, value_ctx: np.ndarray) -> None:
        m = self.model
        f_ctx, v_ctx = m.check(flag_ctx, value_ctx)
        values = np.asarray(values, np.int64).ravel()
        if values.size != f_ctx.size:
            raise ValueError("values and contexts must have the same size")
        if values.size and np.abs(values).max() > MAX_ABS_VALUE:
            raise ValueError("values must fit in a signed 32-bit integer")
        self.count += values.size
        if self.count > MAX_SYMBOLS:
            raise ValueError(f"at most {MAX_SYMBOLS} values in one adaptive stream")
        flag_cdfs, value_cdfs = m.tables()
        flags = (values != 0).astype(np.int64)
        nz = flags.astype(bool)
        slots = m.slots(values[nz])
        if flags.size:
            _code(self.coder, flags, f_ctx, flag_cdfs)
        if slots.size:
            _code(self.coder, slots, v_ctx[nz], value_cdfs)
            self.escapes += values[nz][slots == 2 * m.radius].tolist()
        m.update(f_ctx, flags, v_ctx[nz], slots)

    def finish(self) -> bytes:
        out = bytearray(write_uvarint(len(self.escapes)))
        for v in self.escapes:
            out += write_svarint(v)
        if self.count:
            pad = max(0, MIN_CODED - self.count)
            if pad:
                _code(self.coder, np.zeros(pad, np.int64), np.zeros(pad, np.int64),
                      self.model.tables()[0])
            out += self.coder.flush()
        return bytes(out)


class AdaptiveDecoder:
    """Reads an :class:`AdaptiveEncoder` stream of ``count`` values a slice at a time, with
    the same contexts; :meth:`finish` checks the whole stream was used."""

    def __init__(self, model: AdaptiveModel, data: bytes, count: int) -> None:
        self.model, self.left, self.used = model, count, 0
        reader = ByteReader(data, "adaptive stream")
        n_esc = reader.uvarint("escape count", limit=count)
        if n_esc > reader.remaining:
            raise EntropyError("adaptive stream: escape list is longer than the stream")
        self.escapes = [reader.svarint("escape", limit=MAX_ABS_VALUE) for _ in range(n_esc)]
        if count and reader.remaining < 8:
            raise EntropyError("adaptive stream: too short for its symbol count")
        self.decoder = _ans().RansDecoder()
        # rANS reads at most one 32-bit word a symbol past its 8-byte state: zero padding
        # keeps a corrupt stream inside the buffer (it can only decode to wrong symbols)
        self.decoder.set_stream(reader.bytes(reader.remaining, "rANS stream")
                                + bytes(8 * count + 16))

    def _decode(self, index: np.ndarray, cdfs: list) -> np.ndarray:
        used, local = np.unique(index, return_inverse=True)
        tables = [cdfs[i] for i in used.tolist()]
        out = self.decoder.decode_stream(local.tolist(), tables, [len(t) for t in tables],
                                         [0] * len(tables))
        return np.asarray(out, np.int64)

    def next(self, flag_ctx: np.ndarray, value_ctx: np.ndarray) -> np.ndarray:
        m = self.model
        f_ctx, v_ctx = m.check(flag_ctx, value_ctx)
        if f_ctx.size > self.left:
            raise EntropyError("adaptive stream: more values asked for than it holds")
        self.left -= f_ctx.size
        flag_cdfs, value_cdfs = m.tables()
        values = np.zeros(f_ctx.size, np.int64)
        if not f_ctx.size:
            return values
        flags = np.minimum(self._decode(f_ctx, flag_cdfs), 1)
        nz = flags.astype(bool)
        slots = np.minimum(self._decode(v_ctx[nz], value_cdfs), 2 * m.radius) if nz.any() \
            else np.zeros(0, np.int64)
        r = m.radius
        vals = np.where(slots < r, slots - r, slots - r + 1)
        escaped = slots == 2 * r
        k = int(escaped.sum())
        if k:
            if self.used + k > len(self.escapes):
                raise EntropyError("adaptive stream: more escapes decoded than listed")
            vals[escaped] = self.escapes[self.used : self.used + k]
            self.used += k
        values[nz] = vals
        m.update(f_ctx, flags, v_ctx[nz], slots)
        return values

    def finish(self) -> None:
        if self.left or self.used != len(self.escapes):
            raise EntropyError(f"adaptive stream: {self.used} escapes decoded, "
                               f"{len(self.escapes)} listed")
