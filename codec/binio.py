"""Bounds-checked little-endian byte reading and writing helpers shared by the container parts.

Every read validates against the end of the buffer first, so malformed input raises
:class:`ContainerError` and never IndexError, a huge allocation or a hang.
"""

from __future__ import annotations

import struct

from codec.errors import ContainerError

_MAX_VARINT_BYTES = 10  # enough for any 64-bit value


def write_uvarint(value: int) -> bytes:
    """LEB128 encoding of a non-negative integer (7 bits a byte, low bits first)."""
    if value < 0:
        raise ValueError(f"uvarint must be >= 0, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    """Map signed to unsigned: 0,-1,1,-2,2... -> 0,1,2,3,4..."""
    return (value << 1) if value >= 0 else ((-value << 1) - 1)


def unzigzag(value: int) -> int:
    return (value >> 1) if not value & 1 else -((value + 1) >> 1)


def write_svarint(value: int) -> bytes:
    return write_uvarint(zigzag(value))


def write_str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return write_uvarint(len(raw)) + raw


class ByteReader:
    """Sequential reader over an in-memory buffer; ``what`` names the structure in errors."""

    def __init__(self, data: bytes | memoryview, what: str = "data") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _need(self, n: int, field: str) -> None:
        if n < 0 or n > self.remaining:
            raise ContainerError(
                f"{self.what}: truncated while reading {field} "
                f"(need {n} bytes at offset {self.pos}, {self.remaining} left)"
            )

    def bytes(self, n: int, field: str = "bytes") -> bytes:
        self._need(n, field)
        out = self.data[self.pos : self.pos + n].tobytes()
        self.pos += n
        return out

    def view(self, n: int, field: str = "bytes") -> memoryview:
        self._need(n, field)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, field: str) -> tuple:
        size = struct.calcsize(fmt)
        self._need(size, field)
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def u8(self, field: str = "u8") -> int:
        return self.unpack("<B", field)[0]

    def u32(self, field: str = "u32") -> int:
        return self.unpack("<I", field)[0]

    def uvarint(self, field: str = "varint", limit: int = 1 << 62) -> int:
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            self._need(1, field)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value > limit:
                    raise ContainerError(
                        f"{self.what}: {field} = {value} exceeds the limit {limit}"
                    )
                return value
        raise ContainerError(f"{self.what}: {field} is not a valid varint (too long)")

    def svarint(self, field: str = "varint", limit: int = 1 << 62) -> int:
        return unzigzag(self.uvarint(field, limit=2 * limit + 1))

    def str(self, field: str = "string", max_len: int = 4096) -> str:
        n = self.uvarint(f"{field} length", limit=max_len)
        raw = self.bytes(n, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContainerError(f"{self.what}: {field} is not valid UTF-8") from exc

    def expect_end(self) -> None:
        if self.remaining:
            raise ContainerError(f"{self.what}: {self.remaining} unexpected trailing bytes")
