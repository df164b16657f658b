"""Reading ``.nirc`` files. Every length is checked against the file size before it is used;
malformed input raises :class:`ContainerError` and nothing else."""

from __future__ import annotations

import io
import json
import os
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from codec.binio import ByteReader
from codec.container.format import (
    END_MAGIC,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_NAME_BYTES,
    MAX_SECTIONS,
    MAX_TOC_BYTES,
    OPTIONAL_KIND_BIT,
    PREAMBLE,
    READABLE_MAJORS,
    TRAILER,
    SectionKind,
)
from codec.errors import ContainerError

_MIN_SIZE = PREAMBLE.size + 2 + 1 + TRAILER.size  # "{}" header, empty TOC


@dataclass(frozen=True)
class SectionInfo:
    kind: int
    name: str
    offset: int  # absolute offset of the frame
    length: int  # payload bytes
    frame_bytes: int  # kind + length field + payload + CRC

    @property
    def kind_name(self) -> str:
        try:
            return SectionKind(self.kind).name.lower()
        except ValueError:
            return f"unknown-{self.kind}"


class ContainerReader:
    """Random access to a container: header and TOC are read up front, sections on demand.

    ``source`` is a path, bytes, or a seekable binary file object.
    """

    def __init__(self, source: str | os.PathLike | bytes | BinaryIO) -> None:
        self._own = False
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.fh: BinaryIO = io.BytesIO(bytes(source))
            self.name = "<bytes>"
        elif hasattr(source, "read"):
            self.fh = source
            self.name = getattr(source, "name", "<stream>")
        else:
            self.name = os.fspath(source)
            try:
                self.fh = open(self.name, "rb")  # noqa: SIM115 - closed by close()
            except FileNotFoundError:
                raise ContainerError(f"{self.name}: no such file") from None
            except IsADirectoryError:
                raise ContainerError(f"{self.name}: is a directory, not a .nirc file") from None
            except OSError as exc:
                raise ContainerError(f"{self.name}: cannot open ({exc.strerror})") from None
            self._own = True
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------------------------
    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.fh.close()

    def has(self, name: str) -> bool:
        return name in self._by_name

    def info(self, name: str) -> SectionInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise ContainerError(f"{self.name}: no section named {name!r}") from None

    def read(self, name: str, kind: int | None = None) -> bytes:
        """Payload of one section, CRC-checked; ``kind`` (if given) must match."""
        s = self.info(name)
        if kind is not None and s.kind != kind:
            raise ContainerError(
                f"{self.name}: section {name!r} has kind {s.kind}, expected {kind}"
            )
        frame = self._read_at(s.offset, s.frame_bytes, f"section {name!r}")
        body, crc = frame[:-4], int.from_bytes(frame[-4:], "little")
        if zlib.crc32(body) != crc:
            raise ContainerError(f"{self.name}: section {name!r} is corrupt (CRC mismatch)")
        return body[s.frame_bytes - 4 - s.length :]

    def read_json(self, name: str) -> dict[str, Any]:
        return _parse_json(self.read(name, SectionKind.META), f"{self.name}: section {name!r}")

    def verify(self) -> None:
        """Check every section's CRC."""
        for s in self.sections:
            self.read(s.name)

    # -- parsing --------------------------------------------------------------------------------
    def _parse(self) -> None:
        self.fh.seek(0, os.SEEK_END)
        self.file_size = size = self.fh.tell()
        if size == 0:
            raise ContainerError(f"{self.name}: empty file, not a .nirc container")
        pre = self._read_at(0, min(size, PREAMBLE.size), "preamble")
        if not pre.startswith(MAGIC[: len(pre)]) or len(pre) < len(MAGIC):
            raise ContainerError(f"{self.name}: not a .nirc file (bad magic bytes)")
        if size < _MIN_SIZE:
            raise ContainerError(f"{self.name}: truncated ({size} bytes)")
        _, major, minor, codec_id, head_len, head_crc = PREAMBLE.unpack(pre)
        if major not in READABLE_MAJORS:
            raise ContainerError(
                f"{self.name}: container format {major}.{minor} is not supported by this "
                f"nircodec (it reads {' and '.join(f'{m}.x' for m in READABLE_MAJORS)}); "
                "upgrade nircodec"
            )
        self.version = (major, minor)
        self.codec_id = codec_id
        if head_len > MAX_HEADER_BYTES or PREAMBLE.size + head_len + TRAILER.size > size:
            raise ContainerError(f"{self.name}: header length {head_len} runs past the file end")
        head = self._read_at(PREAMBLE.size, head_len, "header")
        if zlib.crc32(head) != head_crc:
            raise ContainerError(f"{self.name}: header is corrupt (CRC mismatch)")
        self.header = _parse_json(head, f"{self.name}: header")
        self.body_start = PREAMBLE.size + head_len

        toc_offset, toc_crc, end = TRAILER.unpack(
            self._read_at(size - TRAILER.size, TRAILER.size, "trailer")
        )
        if end != END_MAGIC:
            raise ContainerError(f"{self.name}: truncated or damaged (no end marker)")
        toc_end = size - TRAILER.size
        if not self.body_start <= toc_offset <= toc_end or toc_end - toc_offset > MAX_TOC_BYTES:
            raise ContainerError(f"{self.name}: table of contents offset {toc_offset} is invalid")
        toc = self._read_at(toc_offset, toc_end - toc_offset, "table of contents")
        if zlib.crc32(toc) != toc_crc:
            raise ContainerError(f"{self.name}: table of contents is corrupt (CRC mismatch)")
        self.toc_offset = toc_offset
        self.sections = self._parse_toc(toc)
        self._by_name = {s.name: s for s in self.sections}

    def _parse_toc(self, toc: bytes) -> list[SectionInfo]:
        r = ByteReader(toc, f"{self.name}: table of contents")
        count = r.uvarint("section count", limit=min(MAX_SECTIONS, len(toc) // 4))
        entries = []
        for _ in range(count):
            (kind,) = r.unpack("<H", "section kind")
            name = r.str("section name", max_len=MAX_NAME_BYTES)
            offset = r.uvarint("section offset", limit=self.toc_offset)
            entries.append((kind, name, offset))
        r.expect_end()
        out: list[SectionInfo] = []
        names = set()
        prev_end = self.body_start
        for i, (kind, name, offset) in enumerate(entries):
            if not name or name in names:
                raise ContainerError(f"{self.name}: empty or duplicate section name {name!r}")
            names.add(name)
            if kind not in SectionKind._value2member_map_ and not kind & OPTIONAL_KIND_BIT:
                raise ContainerError(
                    f"{self.name}: section {name!r} has kind {kind}, which this nircodec does "
                    "not know; upgrade nircodec"
                )
            if offset != prev_end:
                raise ContainerError(f"{self.name}: section {name!r} is not where the TOC says")
            limit = entries[i + 1][2] if i + 1 < len(entries) else self.toc_offset
            head = self._read_at(offset, min(12, limit - offset), f"section {name!r}")
            fr = ByteReader(head, f"{self.name}: section {name!r}")
            (frame_kind,) = fr.unpack("<H", "kind")
            length = fr.uvarint("length", limit=limit - offset)
            frame_bytes = fr.pos + length + 4
            if frame_kind != kind or offset + frame_bytes != limit:
                raise ContainerError(f"{self.name}: section {name!r} frame disagrees with the TOC")
            out.append(SectionInfo(kind, name, offset, length, frame_bytes))
            prev_end = limit
        if prev_end != self.toc_offset:
            raise ContainerError(f"{self.name}: unlisted bytes before the table of contents")
        return out

    def _read_at(self, offset: int, n: int, what: str) -> bytes:
        if n < 0 or offset + n > self.file_size:
            raise ContainerError(f"{self.name}: {what} runs past the end of the file")
        self.fh.seek(offset)
        data = self.fh.read(n)
        if len(data) != n:
            raise ContainerError(f"{self.name}: truncated while reading {what}")
        return data


def _parse_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ContainerError(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ContainerError(f"{what} must be a JSON object")
    return obj


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")
