"""Writing ``.nirc`` files: whole files atomically, and appending sections to an existing one."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


def append_sections(
    path: str | os.PathLike, sections: Iterable[Section], output: str | os.PathLike | None = None
) -> int:
    """Add sections after the existing ones; earlier sections' bytes stay exactly as they were.

    The new file (``output``, default: replace ``path``) is written atomically: the old bytes up
    to the TOC are copied, the new frames follow, then a new TOC. Returns the new file size.
    """
    from codec.container.reader import ContainerReader

    with ContainerReader(path) as reader:
        old = [(s.kind, s.name, s.offset) for s in reader.sections]
        toc_offset = reader.toc_offset
        sections = list(sections)
        _check_names([e[1] for e in old] + [s.name for s in sections])
        with atomic_write(output or path) as fh:
            reader.fh.seek(0)
            _copy_exactly(reader.fh, fh, toc_offset)
            pos = toc_offset
            for s in sections:
                frame = encode_section(s)
                old.append((s.kind, s.name, pos))
                fh.write(frame)
                pos += len(frame)
            tail = encode_toc(old, pos)
            fh.write(tail)
    return pos + len(tail)


def _copy_exactly(src, dst, n: int) -> None:
    remaining = n
    while remaining:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError("file shrank while appending")
        dst.write(chunk)
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


__all__ = ["Section", "append_sections", "encode_container", "write_container"]
