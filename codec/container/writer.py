"""Writing ``.nirc`` files: whole files atomically, and appending sections to an existing one."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from codec.atomic import atomic_write
from codec.binio import write_str, write_uvarint
from codec.container.format import (
    END_MAGIC,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_NAME_BYTES,
    MAX_SECTIONS,
    PREAMBLE,
    SECTION_KIND,
    TRAILER,
    VERSION,
    canonical_json,
)
from codec.errors import ContainerError, InputError


@dataclass(frozen=True)
class Section:
    kind: int
    name: str
    payload: bytes


def encode_section(section: Section) -> bytes:
    """One section frame: u16 kind, uvarint length, payload, CRC32 of everything before it."""
    body = SECTION_KIND.pack(int(section.kind)) + write_uvarint(len(section.payload))
    body += section.payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def encode_toc(entries: Iterable[tuple[int, str, int]], toc_offset: int) -> bytes:
    """TOC bytes plus trailer for (kind, name, absolute offset) entries."""
    entries = list(entries)
    toc = bytearray(write_uvarint(len(entries)))
    for kind, name, offset in entries:
        toc += SECTION_KIND.pack(int(kind)) + write_str(name) + write_uvarint(offset)
    return bytes(toc) + TRAILER.pack(toc_offset, zlib.crc32(toc), END_MAGIC)


def encode_container(
    codec_id: int, header: Mapping[str, Any], sections: Iterable[Section]
) -> bytes:
    """The complete bytes of a container file."""
    head = canonical_json(dict(header))
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError(f"header JSON is {len(head)} bytes (at most {MAX_HEADER_BYTES})")
    out = bytearray(PREAMBLE.pack(MAGIC, *VERSION, int(codec_id), len(head), zlib.crc32(head)))
    out += head
    entries = []
    sections = list(sections)
    _check_names([s.name for s in sections])
    for s in sections:
        entries.append((s.kind, s.name, len(out)))
        out += encode_section(s)
    return bytes(out) + encode_toc(entries, len(out))


def write_container(
    path: str | os.PathLike, codec_id: int, header: Mapping[str, Any], sections: Iterable[Section]
) -> int:
    """Atomically write a container; returns the file size in bytes."""
    data = encode_container(codec_id, header, sections)
    with atomic_write(path) as fh:
        fh.write(data)
    return len(data)


@dataclass(frozen=True)
class BaseState:
    """What an append was computed against: the file's size and the SHA-256 of its bytes up
    to the table of contents (the part an append keeps)."""

    size: int
    digest: str

    @classmethod
    def read(cls, reader, copy_to: BinaryIO | None = None) -> BaseState:
        """The state of the file ``reader`` (a ContainerReader) has open, copying its bytes up
        to the TOC to ``copy_to`` on the way."""
        h = hashlib.sha256()
        reader.fh.seek(0)
        _copy_exactly(reader.fh, copy_to, reader.toc_offset, h)
        return cls(os.fstat(reader.fh.fileno()).st_size, h.hexdigest())

    def to_list(self) -> list:
        return [self.size, self.digest]


class BaseChanged(InputError):
    """The file is no longer the one an append was computed against."""


def append_sections(
    path: str | os.PathLike, sections: Iterable[Section], output: str | os.PathLike | None = None,
    expect: BaseState | None = None,
) -> int:
    """Add sections after the existing ones; earlier sections' bytes stay exactly as they were.

    The new file (``output``, default: replace ``path``) is written atomically: the old bytes up
    to the TOC are copied, the new frames follow, then a new TOC. With ``expect``, the file must
    still be in that state (else :class:`BaseChanged`, nothing written): the bytes copied are
    the ones the sections were computed against. Returns the new file size.
    """
    from codec.container.reader import ContainerReader

    try:
        reader = ContainerReader(path)
    except (ContainerError, OSError):
        if expect is None:
            raise
        raise _changed(path) from None
    with reader:
        old = [(s.kind, s.name, s.offset) for s in reader.sections]
        sections = list(sections)
        with atomic_write(output or path) as fh:
            state = BaseState.read(reader, fh)  # the copy of the old bytes, hashed on the way
            if expect is not None and state != expect:
                raise _changed(path)
            # after the base check: a library grown underneath repeats our names (v1.meta…)
            _check_names([e[1] for e in old] + [s.name for s in sections])
            pos = reader.toc_offset
            for s in sections:
                frame = encode_section(s)
                old.append((s.kind, s.name, pos))
                fh.write(frame)
                pos += len(frame)
            tail = encode_toc(old, pos)
            fh.write(tail)
    return pos + len(tail)


def _changed(path) -> BaseChanged:
    return BaseChanged(f"{os.fspath(path)} changed while this append was training (another "
                       "program wrote it)")


def _copy_exactly(src, dst, n: int, digest=None) -> None:
    remaining = n
    while remaining:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError("file shrank while appending")
        if dst is not None:
            dst.write(chunk)
        if digest is not None:
            digest.update(chunk)
        remaining -= len(chunk)


def _check_names(names: list[str]) -> None:
    if len(names) > MAX_SECTIONS:
        raise ValueError(f"at most {MAX_SECTIONS} sections")
    seen = set()
    for name in names:
        raw = name.encode("utf-8")
        if not raw or len(raw) > MAX_NAME_BYTES:
            raise ValueError(f"section name {name!r} must be 1..{MAX_NAME_BYTES} UTF-8 bytes")
        if name in seen:
            raise ValueError(f"duplicate section name {name!r}")
        seen.add(name)


__all__ = ["BaseChanged", "BaseState", "Section", "append_sections", "encode_container",
           "write_container"]
