"""Entropy coding: integers in, bytes out (static order-0 models + compressai's rANS).

A stream is self-contained: it carries its own integer frequency table, or the integer
parameters of one (``codec.entropy.parametric``), so a decoder never rebuilds probabilities
from floats. Layout (all varints are LEB128, ``s`` = zigzag signed):

    u8 mode            0 = empty, 1 = constant, 2 = rANS with a histogram table,
                       3 = rANS with parametric tables, one per segment
    mode 1:            uvarint n, svarint value
    mode 2:            uvarint n, svarint lo, uvarint N, u8 k, table, uvarint e,
                       e x svarint escapes, packed k-bit low parts, ceil(n / CHUNK) x
                       (uvarint length, rANS bytes); no chunks when one frequency is the total
    mode 3:            uvarint n, uvarint S, S x (uvarint count, svarint lo, uvarint width,
                       uvarint center, u16 ratio), ceil(c / CHUNK) x (uvarint length, rANS
                       bytes) over the c symbols of segments wider than one value

The encoder writes whichever of modes 2 and 3 is smaller; callers may name segments (e.g.
the tensors of a section), each of which then gets a table of its own in mode 3.

The table holds N+1 frequencies summing to 2**PRECISION: N table symbols and one escape symbol.
A value v with 0 <= v - lo < N << k is coded as table symbol (v - lo) >> k plus its k low bits
(raw, so wide alphabets need no huge table); other values are coded as the escape symbol and
stored verbatim (in order) in the escape list. compressai's own bypass escape gets zero width,
so its decoder can never enter the bypass path; with the zero padding added before decoding, a
corrupt stream can only decode to wrong symbols, never read out of bounds. Chunks of CHUNK
symbols bound that padding.
See codec/container/FORMAT.md for the table encoding.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.binio import ByteReader, write_svarint, write_uvarint
from codec.entropy.histogram import (  # noqa: F401  (quantize_frequencies, the constants: API)
    MAX_TABLE,
    PRECISION,
    TOTAL,
    choose_layout,
    decode_table,
    encode_table,
    quantize_frequencies,
)
from codec.entropy.parametric import MAX_RATIO, MAX_WIDTH, fit_laplace, laplace_frequencies
from codec.errors import EntropyError

CHUNK = 1 << 16  # symbols per rANS chunk
MIN_CODED = 8  # shorter chunks are padded to this many symbols
MAX_SYMBOLS = 1 << 25  # per stream; larger inputs are split by the caller
MAX_ABS_VALUE = (1 << 31) - 1

MAX_SEGMENTS = 4096  # parametric tables in one stream

MODE_EMPTY, MODE_CONSTANT, MODE_RANS, MODE_PARAMETRIC = 0, 1, 2, 3


@dataclass(frozen=True)
class CodingStats:
    """Byte accounting of one encoded stream."""

    symbols: int
    total_bytes: int
    table_bytes: int  # frequency table (and its header fields)
    raw_bytes: int  # escape count, escaped values and raw low bits
    payload_bytes: int  # rANS chunks with their length prefixes


def empirical_entropy_bits(symbols: np.ndarray) -> float:
    """Total bits of an ideal order-0 coder with the empirical distribution of ``symbols``."""
    _, counts = np.unique(np.asarray(symbols).ravel(), return_counts=True)
    if counts.size <= 1:
        return 0.0
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def encode(symbols: np.ndarray, segments: list[int] | None = None) -> bytes:
    """Code an integer array (any shape, flattened in C order) into a self-contained stream.
    ``segments``: lengths of consecutive runs of the symbols (summing to their count) that
    may each get a table of their own."""
    return encode_with_stats(symbols, segments)[0]


def encode_with_stats(symbols: np.ndarray, segments: list[int] | None = None
                      ) -> tuple[bytes, CodingStats]:
    """:func:`encode` and its byte accounting: the smaller of a histogram-table stream and a
    parametric-tables stream."""
    x = _as_symbols(symbols)
    n = int(x.size)
    lengths = [n] if segments is None else [int(c) for c in segments]
    if sum(lengths) != n or min(lengths, default=0) < 0:
        raise ValueError(f"segments must be {n} symbols in all, got {sum(lengths)}")
    if n == 0:
        return bytes([MODE_EMPTY]), CodingStats(0, 1, 0, 0, 0)
    values, counts = np.unique(x, return_counts=True)
    if values.size == 1:
        out = bytes([MODE_CONSTANT]) + write_uvarint(n) + write_svarint(int(values[0]))
        return out, CodingStats(n, len(out), 0, 0, 0)
    best = _encode_histogram(x, values, counts)
    lengths = [c for c in lengths if c]
    if len(lengths) > MAX_SEGMENTS:
        lengths = [n]
    for option in ([lengths] if len(lengths) == 1 else [lengths, [n]]):
        coded = _encode_parametric(x, option)
        if coded is not None and coded[1].total_bytes < best[1].total_bytes:
            best = coded
    return best


def _encode_histogram(x: np.ndarray, values: np.ndarray, counts: np.ndarray
                      ) -> tuple[bytes, CodingStats]:
    """Mode 2: one table built from the symbols' histogram."""
    n = int(x.size)
    lo, shift, width = choose_layout(values, counts)
    rel = x - lo
    in_window = (rel >= 0) & (rel < (width << shift))
    idx = np.where(in_window, rel >> shift, width)
    hist = np.bincount(idx, minlength=width + 1)
    freqs = quantize_frequencies(hist)

    head = bytes([MODE_RANS]) + write_uvarint(n) + write_svarint(lo) + write_uvarint(width)
    head += bytes([shift])
    table = encode_table(freqs)
    escapes = x[~in_window]
    esc = bytearray(write_uvarint(int(escapes.size)))
    for v in escapes.tolist():
        esc += write_svarint(v)
    esc += _pack_bits(rel[in_window] & ((1 << shift) - 1), shift)

    cdf = _cdf_for_compressai(freqs)
    payload = bytearray()
    for start in range(0, n if freqs.max() < TOTAL else 0, CHUNK):
        part = idx[start : start + CHUNK]
        chunk = _rans_encode(part, np.zeros(part.size, np.int64), [cdf], int(np.argmax(freqs)))
        payload += write_uvarint(len(chunk)) + chunk
    out = head + table + bytes(esc) + bytes(payload)
    stats = CodingStats(n, len(out), len(head) + len(table), len(esc), len(payload))
    return out, stats


def _encode_parametric(x: np.ndarray, lengths: list[int]) -> tuple[bytes, CodingStats] | None:
    """Mode 3: a discrete Laplace table per segment (each segment's window spans its values);
    None when a segment spans more than MAX_WIDTH values."""
    n = int(x.size)
    head = bytearray([MODE_PARAMETRIC]) + write_uvarint(n) + write_uvarint(len(lengths))
    cdfs, centers, coded, tables = [], [], [], []
    start = 0
    for count in lengths:
        seg = x[start : start + count]
        start += count
        lo = int(seg.min())
        width = int(seg.max()) - lo + 1
        if width > MAX_WIDTH:
            return None
        center, ratio = 0, 1  # a one-value window codes nothing
        if width > 1:
            center, ratio, _ = fit_laplace(np.bincount(seg - lo, minlength=width))
            cdfs.append(_cdf_for_compressai(laplace_frequencies(width, center, ratio)))
            centers.append(center)
            coded.append(seg - lo)
            tables.append(np.full(count, len(cdfs) - 1, np.int64))
        head += (write_uvarint(count) + write_svarint(lo) + write_uvarint(width)
                 + write_uvarint(center) + ratio.to_bytes(2, "little"))
    payload = bytearray()
    if coded:
        rel, idx = np.concatenate(coded), np.concatenate(tables)
        for s in range(0, rel.size, CHUNK):
            part = idx[s : s + CHUNK]
            chunk = _rans_encode(rel[s : s + CHUNK], part, cdfs, centers[int(part[-1])])
            payload += write_uvarint(len(chunk)) + chunk
    out = bytes(head) + bytes(payload)
    return out, CodingStats(n, len(out), len(head), 0, len(payload))


def decode(data: bytes, expected_count: int | None = None) -> np.ndarray:
    """Inverse of :func:`encode`; returns a flat int64 array. Trailing bytes are an error."""
    reader = ByteReader(data, "entropy stream")
    out = decode_from(reader, expected_count)
    reader.expect_end()
    return out


def table_bytes(data: bytes) -> int:
    """Bytes of a stream (at the start of ``data``) spent before its coded symbols: the mode,
    counts, window and frequency table (mode 2) or the segments' table parameters (mode 3);
    the whole stream for modes 0 and 1. Read with the decoder's own header readers."""
    reader = ByteReader(data, "entropy stream")
    mode = reader.u8("entropy mode")
    if mode in (MODE_CONSTANT, MODE_RANS, MODE_PARAMETRIC):
        n = reader.uvarint("symbol count", limit=MAX_SYMBOLS)
    if mode == MODE_CONSTANT:
        reader.svarint("constant value", limit=MAX_ABS_VALUE)
    elif mode == MODE_RANS:
        _read_window(reader)
    elif mode == MODE_PARAMETRIC:
        _read_segments(reader, n)
    return len(data) - reader.remaining


def decode_from(reader: ByteReader, expected_count: int | None = None) -> np.ndarray:
    """Decode one stream at the reader's position (streams can be concatenated)."""
    mode = reader.u8("entropy mode")
    if mode == MODE_EMPTY:
        n = 0
        _check_count(n, expected_count)
        return np.zeros(0, dtype=np.int64)
    if mode not in (MODE_CONSTANT, MODE_RANS, MODE_PARAMETRIC):
        raise EntropyError(f"entropy stream: unknown mode {mode}")
    n = reader.uvarint("symbol count", limit=MAX_SYMBOLS)
    _check_count(n, expected_count)
    if mode == MODE_CONSTANT:
        value = reader.svarint("constant value", limit=MAX_ABS_VALUE)
        return np.full(n, value, dtype=np.int64)
    if mode == MODE_PARAMETRIC:
        return _decode_parametric(reader, n)

    lo, width, shift, freqs = _read_window(reader)
    n_esc = reader.uvarint("escape count", limit=n)
    if n_esc > reader.remaining:  # each escape takes at least one byte
        raise EntropyError("entropy stream: escape list is longer than the stream")
    if n_esc and freqs[width] == 0:
        raise EntropyError("entropy stream: escapes present but the escape symbol has no range")
    escapes = [reader.svarint("escape value", limit=MAX_ABS_VALUE) for _ in range(n_esc)]
    n_raw = (n - n_esc) * shift
    low = _unpack_bits(reader.bytes(-(-n_raw // 8), "raw low bits"), n - n_esc, shift)

    if freqs.max() == TOTAL:  # one certain symbol: nothing to code
        out = np.full(n, int(np.argmax(freqs)), dtype=np.int64)
        n_chunks = 0
    else:
        out = np.empty(n, dtype=np.int64)
        n_chunks = -(-n // CHUNK)
    if n_chunks > reader.remaining:
        raise EntropyError("entropy stream: symbol count is too large for the stream length")
    cdf = _cdf_for_compressai(freqs)
    for k in range(n_chunks):
        m = min(CHUNK, n - k * CHUNK)
        length = reader.uvarint("chunk length", limit=reader.remaining)
        out[k * CHUNK : k * CHUNK + m] = _rans_decode(
            reader.bytes(length, "rANS chunk"), np.zeros(m, np.int64), [cdf],
            int(np.argmax(freqs)))
    esc_pos = np.flatnonzero(out == width)
    if esc_pos.size != n_esc:
        raise EntropyError(
            f"entropy stream: decoded {esc_pos.size} escape symbols, the list holds {n_esc}"
        )
    inside = out != width
    out[inside] = lo + ((out[inside] << shift) | low)
    if n_esc:
        out[esc_pos] = np.asarray(escapes, dtype=np.int64)
    return out


def _read_window(reader: ByteReader) -> tuple[int, int, int, np.ndarray]:
    """Mode 2's head after its symbol count: (window start, table size, low bits, the
    table's frequencies)."""
    lo = reader.svarint("window start", limit=MAX_ABS_VALUE)
    width = reader.uvarint("window size", limit=MAX_TABLE)
    shift = reader.u8("low-bit count")
    if width < 1 or shift > 31:
        raise EntropyError(f"entropy stream: bad window (size {width}, {shift} low bits)")
    return lo, width, shift, decode_table(reader, width + 1)


def _read_segments(reader: ByteReader, n: int) -> tuple[list, list, list, list, list]:
    """Mode 3's head after its symbol count ``n``: per segment its window start, length and
    table index (-1: a one-value window, nothing coded); the tables' CDFs and modes."""
    count = reader.uvarint("segment count", limit=min(MAX_SEGMENTS, n))
    if count < 1:
        raise EntropyError("entropy stream: no segments")
    los, lengths, tables, cdfs, centers = [], [], [], [], []
    total = 0
    for _ in range(count):
        length = reader.uvarint("segment length", limit=n - total)
        lo = reader.svarint("segment start", limit=MAX_ABS_VALUE)
        width = reader.uvarint("segment width", limit=MAX_WIDTH)
        center = reader.uvarint("segment center", limit=MAX_WIDTH)
        ratio = int.from_bytes(reader.bytes(2, "segment ratio"), "little")
        if (length < 1 or width < 1 or center >= width or not 1 <= ratio <= MAX_RATIO
                or lo + width - 1 > MAX_ABS_VALUE):
            raise EntropyError(f"entropy stream: bad segment (length {length}, width {width}, "
                               f"center {center}, ratio {ratio})")
        total += length
        los.append(lo)
        lengths.append(length)
        if width > 1:
            cdfs.append(_cdf_for_compressai(laplace_frequencies(width, center, ratio)))
            centers.append(center)
        tables.append(len(cdfs) - 1 if width > 1 else -1)
    if total != n:
        raise EntropyError(f"entropy stream: segments hold {total} symbols, not {n}")
    return los, lengths, tables, cdfs, centers


def _decode_parametric(reader: ByteReader, n: int) -> np.ndarray:
    """Mode 3 after its symbol count (see :func:`_encode_parametric`)."""
    los, lengths, tables, cdfs, centers = _read_segments(reader, n)
    lengths_a, tables_a = np.asarray(lengths), np.asarray(tables)
    n_coded = int(lengths_a[tables_a >= 0].sum())
    if -(-n_coded // CHUNK) > reader.remaining:
        raise EntropyError("entropy stream: symbol count is too large for the stream length")
    out = np.repeat(np.asarray(los, np.int64), lengths_a)
    idx = np.repeat(tables_a, lengths_a)
    coded = np.flatnonzero(idx >= 0)
    for s in range(0, n_coded, CHUNK):
        part = idx[coded[s : s + CHUNK]]
        length = reader.uvarint("chunk length", limit=reader.remaining)
        out[coded[s : s + CHUNK]] += _rans_decode(reader.bytes(length, "rANS chunk"), part,
                                                  cdfs, centers[int(part[-1])])
    return out


# -- internals ---------------------------------------------------------------------------------


def _as_symbols(symbols: np.ndarray) -> np.ndarray:
    x = np.asarray(symbols)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"entropy coder takes integers, got {x.dtype}")
    x = x.astype(np.int64, copy=False).ravel()
    if x.size > MAX_SYMBOLS:
        raise ValueError(f"{x.size} symbols exceed the per-stream limit {MAX_SYMBOLS}")
    if x.size and (x.min() < -MAX_ABS_VALUE or x.max() > MAX_ABS_VALUE):
        raise ValueError("symbols must fit in a signed 32-bit integer")
    return x


def _check_count(n: int, expected: int | None) -> None:
    if expected is not None and n != expected:
        raise EntropyError(f"entropy stream holds {n} symbols, expected {expected}")


def _pack_bits(values: np.ndarray, nbits: int) -> bytes:
    """``nbits`` low bits of each value, most significant first, packed into bytes."""
    if nbits == 0 or values.size == 0:
        return b""
    bits = (values[:, None] >> np.arange(nbits - 1, -1, -1)) & 1
    return np.packbits(bits.astype(np.uint8).ravel()).tobytes()


def _unpack_bits(data: bytes, count: int, nbits: int) -> np.ndarray:
    if nbits == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * nbits]
    weights = np.int64(1) << np.arange(nbits - 1, -1, -1, dtype=np.int64)
    return bits.reshape(count, nbits).astype(np.int64) @ weights


def _cdf_for_compressai(freqs: np.ndarray) -> list[int]:
    # compressai reserves the last slot for its bypass escape; give it zero width.
    return [0, *np.cumsum(freqs).tolist(), TOTAL]


@functools.cache
def _ans():
    """compressai's rANS extension module.

    ``import compressai`` loads torch, torchvision and its datasets (seconds); the coder is a
    standalone extension, so load it directly from the installed package when possible.
    """
    spec = importlib.util.find_spec("compressai")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in sorted(Path(folder).glob("ans.*")):
            if path.suffix in (".so", ".pyd"):
                ext = importlib.util.spec_from_file_location("compressai.ans", path)
                module = importlib.util.module_from_spec(ext)
                ext.loader.exec_module(module)
                return module
    import compressai.ans  # pragma: no cover - unusual installs

    return compressai.ans  # pragma: no cover


def _pad(symbols: np.ndarray, tables: np.ndarray, pad: int) -> tuple[list, list]:
    """compressai's encoder buffers one 32-bit word per symbol and its flush adds two: with
    fewer than ~6 symbols it writes past the buffer. Short chunks are padded to MIN_CODED with
    symbol ``pad`` under the last symbol's table (the decoder drops the padding)."""
    extra = max(0, MIN_CODED - symbols.size)
    return ([*symbols.tolist(), *[pad] * extra],
            [*tables.tolist(), *[int(tables[-1])] * extra])


def _rans_encode(symbols: np.ndarray, tables: np.ndarray, cdfs: list[list[int]], pad: int
                 ) -> bytes:
    """One chunk: ``symbols[i]`` coded with ``cdfs[tables[i]]``."""
    sym, idx = _pad(symbols, tables, pad)
    return _ans().RansEncoder().encode_with_indexes(sym, idx, cdfs, [len(c) for c in cdfs],
                                                    [0] * len(cdfs))


def _rans_decode(chunk: bytes, tables: np.ndarray, cdfs: list[list[int]], pad: int
                 ) -> np.ndarray:
    """Inverse of :func:`_rans_encode` for ``tables.size`` symbols."""
    _, idx = _pad(tables, tables, pad)
    # The decoder reads at most one 32-bit word a symbol past its 8-byte state; zero padding
    # keeps a corrupt chunk inside the buffer.
    padded = chunk + bytes(4 * len(idx) + 16)
    out = _ans().RansDecoder().decode_with_indexes(padded, idx, cdfs, [len(c) for c in cdfs],
                                                   [0] * len(cdfs))
    return np.asarray(out[: tables.size], dtype=np.int64)
