"""Constants of the ``.nirc`` container (the spec is FORMAT.md beside this file).

Codec ids and section kinds are fixed numbers written in the spec; never derive them from order.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

MAGIC = b"\x89NIRC\r\n\x1a"
END_MAGIC = b"NIRC"
VERSION = (2, 3)  # (major, minor) written; bump minor for compatible additions, major otherwise
READABLE_MAJORS = (1, 2)  # 2.0 added parametric entropy tables (entropy stream mode 3), 2.1 c3

PREAMBLE = struct.Struct("<8sBBHII")  # magic, major, minor, codec id, header length, header CRC
TRAILER = struct.Struct("<QI4s")  # TOC offset, TOC CRC, end magic
SECTION_KIND = struct.Struct("<H")

MAX_HEADER_BYTES = 1 << 20
MAX_TOC_BYTES = 1 << 24
MAX_SECTIONS = 65536
MAX_NAME_BYTES = 255
OPTIONAL_KIND_BIT = 0x8000  # kinds with this bit may be skipped by readers that don't know them


class CodecId(enum.IntEnum):
    """Which codec wrote a file. Values are part of the format; never renumber."""

    TENSORS = 1
    HNERV = 2
    NIRVANA = 3
    PFNR = 4
    HASHGRID = 5
    C3 = 6
    GRIDPULL = 16
    SDF = 17
    CSP = 18


class SectionKind(enum.IntEnum):
    """What a section's payload holds. Values are part of the format; never renumber."""

    META = 1  # canonical JSON object
    TENSORS = 2  # quantized tensors (codec/tensorpack.py)
    BLOB = 3  # opaque bytes defined by the codec
    NOTE = OPTIONAL_KIND_BIT | 1  # free UTF-8 text (e.g. the encoder's command line); optional


def codec_name(codec_id: int) -> str:
    try:
        return CodecId(codec_id).name.lower()
    except ValueError:
        return f"unknown-{codec_id}"


def canonical_json(obj: Any) -> bytes:
    """The one JSON serialisation written to files: sorted keys, no spaces, ASCII, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")
