"""Histogram frequency tables (entropy stream mode 2): integer frequencies built from the
symbols' counts, the window of values they cover, and the table's bytes in a stream."""

from __future__ import annotations

import heapq
import zlib

import numpy as np

from codec.binio import ByteReader, write_uvarint
from codec.errors import EntropyError

PRECISION = 16
TOTAL = 1 << PRECISION
MAX_TABLE = 1 << 12  # regular symbols in one table window
TABLE_VARINT, TABLE_ZLIB = 0, 1


def quantize_frequencies(counts: np.ndarray, total: int = TOTAL) -> np.ndarray:
    """Integer frequencies summing to ``total``, >= 1 wherever ``counts > 0``, 0 elsewhere.

    Starts from the floor of the scaled counts and moves single units greedily by the exact
    change in code length (the cost is convex in each frequency, so greedy is optimal).
    """
    counts = np.asarray(counts, dtype=np.int64)
    nz = counts > 0
    if int(nz.sum()) > total or not nz.any():
        raise ValueError("cannot build a frequency table for these counts")
    n = int(counts.sum())
    f = np.where(nz, np.maximum(1, (counts * total) // n), 0).astype(np.int64)
    diff = total - int(f.sum())
    c = counts.astype(np.float64)
    if diff > 0:  # add where one more unit saves the most bits
        heap = [(-c[i] * np.log2((f[i] + 1) / f[i]), i) for i in np.flatnonzero(nz)]
        heapq.heapify(heap)
        for _ in range(diff):
            _, i = heapq.heappop(heap)
            f[i] += 1
            heapq.heappush(heap, (-c[i] * np.log2((f[i] + 1) / f[i]), i))
    elif diff < 0:  # take where one unit less costs the fewest bits
        heap = [(c[i] * np.log2(f[i] / (f[i] - 1)), i) for i in np.flatnonzero(f > 1)]
        heapq.heapify(heap)
        for _ in range(-diff):
            _, i = heapq.heappop(heap)
            f[i] -= 1
            if f[i] > 1:
                heapq.heappush(heap, (c[i] * np.log2(f[i] / (f[i] - 1)), i))
    return f


def choose_layout(values: np.ndarray, counts: np.ndarray) -> tuple[int, int, int]:
    """Pick (lo, shift, width) minimising the estimated coded size.

    With shift k, value v in the window is coded as the table symbol (v - lo) >> k plus k raw
    low bits; values outside [lo, lo + width << k) are escapes.
    """
    span = int(values[-1] - values[0]) + 1
    # cost of escaping a value: its varint bytes (zigzag magnitude ~ 2|v|)
    esc_bits = 8.0 * np.ceil(np.log2(2.0 * np.abs(values) + 2.0) / 7.0) * counts
    best = None
    for k in range(0, 32):
        groups = (values - values[0]) >> k
        starts = np.flatnonzero(np.r_[True, np.diff(groups) > 0])
        g_counts = np.add.reduceat(counts, starts)
        g_values = groups[starts]
        g_esc = np.add.reduceat(esc_bits, starts)
        bits, g_lo, width = choose_window(g_values, g_counts, g_esc, k)
        if best is None or bits < best[0]:
            best = (bits, int(values[0]) + (g_lo << k), k, width)
        if span >> k <= 1:
            break
    return best[1], best[2], best[3]


def choose_window(
    values: np.ndarray, counts: np.ndarray, esc_bits: np.ndarray, raw_bits: int
) -> tuple[float, int, int]:
    """Best window [lo, lo+width) over grouped ``values``; returns (estimated bits, lo, width).

    ``esc_bits``: bits to store every member of each group as an escape.
    """
    span = int(values[-1] - values[0] + 1)
    total = int(counts.sum())
    cum = np.concatenate([[0], np.cumsum(counts)])
    esc_cum = np.concatenate([[0.0], np.cumsum(esc_bits)])
    self_bits = counts * (np.log2(total / counts) + raw_bits)  # ideal bits inside any window
    self_cum = np.concatenate([[0.0], np.cumsum(self_bits)])
    widths = sorted({min(span, MAX_TABLE)} | {w for w in (2**k for k in range(1, 13)) if w < span})
    best = (np.inf, int(values[0]), 1)
    for w in widths:
        ends = np.searchsorted(values, values + w)  # window starting at each value
        n_esc = total - (cum[ends] - cum[:-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            esc_sym = np.where(n_esc > 0, n_esc * np.log2(total / np.maximum(n_esc, 1)), 0.0)
        bits = (
            self_cum[ends]
            - self_cum[:-1]
            + esc_sym
            + (esc_cum[-1] - (esc_cum[ends] - esc_cum[:-1]))
            + 8.0 * (w + (ends - np.arange(values.size)))  # table: ~1 byte a slot + 1 a used one
        )
        i = int(np.argmin(bits))
        if bits[i] < best[0]:
            best = (float(bits[i]), int(values[i]), w)
    return best


def encode_table(freqs: np.ndarray) -> bytes:
    raw = b"".join(write_uvarint(int(v)) for v in freqs)
    packed = zlib.compress(raw, 9)
    if len(packed) + len(write_uvarint(len(packed))) < len(raw):
        return bytes([TABLE_ZLIB]) + write_uvarint(len(packed)) + packed
    return bytes([TABLE_VARINT]) + raw


def decode_table(reader: ByteReader, size: int) -> np.ndarray:
    kind = reader.u8("table kind")
    if kind == TABLE_ZLIB:
        length = reader.uvarint("table length", limit=reader.remaining)
        packed = reader.bytes(length, "table")
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, 3 * size + 1)  # bounded: 3 bytes a frequency
        except zlib.error as exc:
            raise EntropyError(f"entropy stream: frequency table does not inflate ({exc})") from exc
        sub = ByteReader(raw, "frequency table")
        freqs = [sub.uvarint("frequency", limit=TOTAL) for _ in range(size)]
        if sub.remaining or inflater.unconsumed_tail or not inflater.eof:
            raise EntropyError("entropy stream: frequency table has a bad length")
    elif kind == TABLE_VARINT:
        freqs = [reader.uvarint("frequency", limit=TOTAL) for _ in range(size)]
    else:
        raise EntropyError(f"entropy stream: unknown table kind {kind}")
    f = np.asarray(freqs, dtype=np.int64)
    if int(f.sum()) != TOTAL:
        raise EntropyError(f"entropy stream: frequencies sum to {int(f.sum())}, not {TOTAL}")
    return f
