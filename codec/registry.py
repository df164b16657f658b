"""The one registry of codecs: name + fixed codec id -> class + config dataclass.

Every codec class follows one contract (see :class:`Codec`): it turns itself into a header and
sections, and is rebuilt from a :class:`~codec.container.ContainerReader` alone. Codec modules
register on import; :func:`load_builtin` imports them lazily so that ``codec`` never imports
``recon`` at module level.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from codec.container import ContainerReader, Section
from codec.container.format import CodecId
from codec.errors import ContainerError

# Modules whose import registers codecs; missing optional ones are skipped.
BUILTIN_MODULES = (
    "codec.tensors",
    "codec.video.hnerv_codec",
    "codec.video.hashgrid_codec",
    "codec.video.nirvana_codec",
    "codec.video.pfnr_codec",
    "recon.surface_codec",  # by name only: codec never imports recon at module level
)


class Codec(Protocol):
    name: ClassVar[str]
    codec_id: ClassVar[int]

    def to_container(self) -> tuple[dict[str, Any], list[Section]]:
        """Header (JSON object) and sections that fully describe this instance."""

    @classmethod
    def from_container(cls, reader: ContainerReader) -> Codec:
        """Rebuild from a file; needs nothing but the file."""

    @classmethod
    def example(cls) -> Codec:
        """A tiny valid instance, for smoke tests of every registered codec."""


@dataclass(frozen=True)
class CodecEntry:
    name: str
    codec_id: int
    cls: type
    config: type
    kind: str  # "video", "surface" or "tensors"


_BY_NAME: dict[str, CodecEntry] = {}
_BY_ID: dict[int, CodecEntry] = {}


def register(name: str, codec_id: CodecId, config: type, kind: str):
    """Class decorator adding a codec; a duplicate name or id is a programming error."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config of codec {name!r} must be a dataclass")
    if not isinstance(codec_id, CodecId):
        raise TypeError("codec ids come from CodecId (fixed numbers in the format spec)")

    def wrap(cls: type) -> type:
        entry = CodecEntry(name, int(codec_id), cls, config, kind)
        old = _BY_NAME.get(name) or _BY_ID.get(int(codec_id))
        if old is not None and old.cls is not cls:
            raise ValueError(f"codec {name!r} (id {int(codec_id)}) clashes with {old}")
        _BY_NAME[name] = _BY_ID[int(codec_id)] = entry
        cls.name, cls.codec_id, cls.Config = name, int(codec_id), config
        return cls

    return wrap


def load_builtin() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def entries() -> list[CodecEntry]:
    load_builtin()
    return sorted(_BY_NAME.values(), key=lambda e: e.codec_id)


def get(name: str) -> CodecEntry:
    load_builtin()
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise ValueError(f"unknown codec {name!r} (known: {known})") from None


def by_id(codec_id: int) -> CodecEntry:
    load_builtin()
    try:
        return _BY_ID[codec_id]
    except KeyError:
        raise ContainerError(f"codec id {codec_id} is not supported by this nircodec") from None


def read(reader: ContainerReader) -> Codec:
    """Rebuild whichever codec wrote ``reader``'s file."""
    return by_id(reader.codec_id).cls.from_container(reader)


def config_from_dict(config: type, data: Any, what: str = "config") -> Any:
    """Build a config dataclass from a header dict, rejecting unknown or mistyped fields."""
    if not isinstance(data, dict):
        raise ContainerError(f"{what} must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(config)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ContainerError(f"{what}: unknown fields {sorted(unknown)}")
    try:
        return config(**data)
    except (TypeError, ValueError) as exc:
        raise ContainerError(f"{what}: {exc}") from None
