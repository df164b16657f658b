"""The ``.nirc`` container: versioned, sectioned, CRC-checked. Spec: FORMAT.md beside this file."""

from codec.container.format import VERSION, CodecId, SectionKind, canonical_json, codec_name
from codec.container.reader import ContainerReader, SectionInfo
from codec.container.writer import (
    Section,
    append_sections,
    encode_container,
    encode_section,
    write_container,
)

__all__ = [
    "VERSION",
    "CodecId",
    "ContainerReader",
    "Section",
    "SectionInfo",
    "SectionKind",
    "append_sections",
    "canonical_json",
    "codec_name",
    "encode_container",
    "encode_section",
    "write_container",
]
