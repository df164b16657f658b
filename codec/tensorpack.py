"""Pack named quantized tensors into one section payload (and back).

Layout (see codec/container/FORMAT.md, "TENSORS section"):

    uvarint count
    count x { str name, u8 dtype, u8 bits, u8 ndim, ndim x uvarint dim, u8 axis (255 = none),
              u8 param dtype (1 = float16, 2 = float32), C x minimum, C x scale }
    one entropy stream with the symbols of every tensor, concatenated in order

The stream has one histogram table for the whole section, or a parametric table per tensor
(``codec.entropy`` picks the smaller): callers group tensors whose symbols look alike (weights
of one bit depth, embeddings) into one section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from codec import entropy
from codec.binio import ByteReader, write_str, write_uvarint
from codec.container.format import SectionKind
from codec.errors import ContainerError
from codec.quant import MAX_BITS, MIN_BITS, QuantizedTensor

MAX_TENSORS = 4096
MAX_NDIM = 8
NO_AXIS = 255
# Reader sanity limit (not a format rule): a section may hold at most 1024 elements per payload
# byte beyond the first 2**20, so a damaged header cannot make a tiny file allocate gigabytes.
MIN_ELEMENT_LIMIT = 1 << 20
ELEMENTS_PER_BYTE = 1024
DTYPE_FLOAT32 = 0
_PARAM_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4")}
_PARAM_CODES = {np.dtype(np.float16): 1, np.dtype(np.float32): 2}


def pack_tensors(tensors: Mapping[str, QuantizedTensor]) -> bytes:
    if len(tensors) > MAX_TENSORS:
        raise ValueError(f"at most {MAX_TENSORS} tensors per section")
    out = bytearray(write_uvarint(len(tensors)))
    for name, q in tensors.items():
        if not name:
            raise ValueError("tensor names must be non-empty")
        out += write_str(name) + bytes([DTYPE_FLOAT32, q.bits, len(q.shape)])
        for d in q.shape:
            out += write_uvarint(d)
        out += bytes([NO_AXIS if q.axis is None else q.axis, _PARAM_CODES[q.minimum.dtype]])
        le = _PARAM_DTYPES[_PARAM_CODES[q.minimum.dtype]]
        out += q.minimum.astype(le).tobytes() + q.scale.astype(le).tobytes()
    symbols = [q.symbols.ravel() for q in tensors.values()]
    out += entropy.encode(np.concatenate(symbols) if symbols else np.zeros(0, np.int64),
                          [s.size for s in symbols])
    total = sum(q.symbols.size for q in tensors.values())
    if total > element_limit(len(out)):
        raise ValueError(f"{total} elements in {len(out)} bytes exceed the reader's sanity limit")
    return bytes(out)


def element_limit(payload_bytes: int) -> int:
    """Most elements a section of this size may hold (see MIN_ELEMENT_LIMIT)."""
    return min(entropy.MAX_SYMBOLS, max(MIN_ELEMENT_LIMIT, ELEMENTS_PER_BYTE * payload_bytes))


def unpack_tensors(payload: bytes) -> dict[str, QuantizedTensor]:
    r = ByteReader(payload, "tensors section")
    metas, total = _read_metas(r, len(payload))
    symbols = entropy.decode_from(r, expected_count=total)
    r.expect_end()
    out: dict[str, QuantizedTensor] = {}
    pos = 0
    for name, bits, shape, axis, minimum, scale in metas:
        size = int(np.prod(shape, dtype=np.int64))
        s = symbols[pos : pos + size].reshape(shape)
        pos += size
        q = QuantizedTensor(s, bits, axis, minimum, scale)
        levels = q.levels() if size else s
        if size and (levels.min() < 0 or levels.max() > (1 << bits) - 1):
            raise ContainerError(f"tensor {name!r}: symbols outside the {bits}-bit range")
        out[name] = q
    return out


def coding_split(payload: bytes) -> dict[str, Any]:
    """Where a tensors section's bytes go: ``param_bytes`` (the tensors' names, shapes and
    quantization parameters), ``table_bytes`` (the entropy stream's table or table
    parameters, :func:`codec.entropy.table_bytes`), ``coded_bytes`` (the rest) and ``tables``:
    "histogram" (one stored table), "parametric" (a derived table per tensor) or "none"
    (empty or constant)."""
    r = ByteReader(payload, "tensors section")
    _read_metas(r, len(payload))
    params = len(payload) - r.remaining
    stream = payload[params:]
    kind = {entropy.MODE_RANS: "histogram", entropy.MODE_PARAMETRIC: "parametric"}.get(
        stream[0] if stream else None, "none")
    tables = entropy.table_bytes(stream)
    return {"param_bytes": params, "table_bytes": tables,
            "coded_bytes": len(stream) - tables, "tables": kind}


def _read_metas(r: ByteReader, payload_bytes: int) -> tuple[list, int]:
    """The tensors' descriptions at the start of a section, and their element count."""
    count = r.uvarint("tensor count", limit=MAX_TENSORS)
    metas = []
    total = 0
    for _ in range(count):
        name = r.str("tensor name", max_len=1024)
        dtype, bits, ndim = r.u8("dtype"), r.u8("bits"), r.u8("ndim")
        if dtype != DTYPE_FLOAT32:
            raise ContainerError(f"tensor {name!r}: unknown dtype code {dtype}")
        if not MIN_BITS <= bits <= MAX_BITS:
            raise ContainerError(
                f"tensor {name!r}: bit depth {bits} outside {MIN_BITS}..{MAX_BITS}"
            )
        if ndim > MAX_NDIM:
            raise ContainerError(f"tensor {name!r}: {ndim} dimensions (at most {MAX_NDIM})")
        shape = tuple(r.uvarint("dimension", limit=entropy.MAX_SYMBOLS) for _ in range(ndim))
        size = int(np.prod(shape, dtype=object))
        total += size
        if total > min(
            entropy.MAX_SYMBOLS, max(MIN_ELEMENT_LIMIT, ELEMENTS_PER_BYTE * payload_bytes)
        ):
            raise ContainerError(
                f"tensors section: {total} elements is implausible for {payload_bytes} bytes"
            )
        axis = r.u8("axis")
        if axis != NO_AXIS and axis >= ndim:
            raise ContainerError(f"tensor {name!r}: axis {axis} for a {ndim}-d tensor")
        code = r.u8("parameter dtype")
        if code not in _PARAM_DTYPES:
            raise ContainerError(f"tensor {name!r}: unknown parameter dtype code {code}")
        le = _PARAM_DTYPES[code]
        channels = 1 if axis == NO_AXIS else shape[axis]
        nbytes = channels * le.itemsize
        minimum = np.frombuffer(r.bytes(nbytes, "minimum"), dtype=le).astype(le.newbyteorder("="))
        scale = np.frombuffer(r.bytes(nbytes, "scale"), dtype=le).astype(le.newbyteorder("="))
        if not (np.all(np.isfinite(minimum)) and np.all(np.isfinite(scale)) and np.all(scale >= 0)):
            raise ContainerError(f"tensor {name!r}: invalid quantization parameters")
        if any(m[0] == name for m in metas):
            raise ContainerError(f"tensors section: duplicate tensor name {name!r}")
        metas.append((name, bits, shape, None if axis == NO_AXIS else axis, minimum, scale))
    return metas, total


def section_split(reader) -> list[dict]:
    """Each section of an open container (``ContainerReader``): name, kind, bytes in the file
    and, for tensors sections, the values stored, bits per stored value (section bytes,
    tables and quantization parameters included, x 8 / values) and :func:`coding_split`."""
    out = []
    for s in reader.sections:
        row = {"name": s.name, "kind": s.kind_name, "bytes": s.frame_bytes}
        if s.kind == SectionKind.TENSORS:
            payload = reader.read(s.name)
            values = sum(q.symbols.size for q in unpack_tensors(payload).values())
            row["values"] = int(values)
            row["bits_per_value"] = 8 * s.frame_bytes / values if values else None
            row.update(coding_split(payload))
        out.append(row)
    return out
