"""The one registry: codecs (name + fixed codec id -> class + config dataclass, for reading
files) and methods (a model's encoding side, :class:`codec.method.Method`).

Every codec class follows one contract (see :class:`Codec`): it turns itself into a header and
sections, and is rebuilt from a :class:`~codec.container.ContainerReader` alone. A model is one
package that registers its codec and its method on import; ``BUILTIN_MODULES`` names the
packages (one line per model), and other distributions (``recon``'s surface methods) add theirs
through the ``nircodec.plugins`` entry point, so that ``codec`` never imports ``recon``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from codec.container import ContainerReader, Section
from codec.container.format import CodecId
from codec.errors import ContainerError, InputError
from codec.method import Method

# Modules whose import registers codecs and methods: one line per model.
BUILTIN_MODULES = (
    "codec.tensors",
    "codec.video.hnerv",
    "codec.video.hashgrid",
    "codec.video.nirvana",
    "codec.video.pfnr",
    "codec.video.c3",
)
PLUGIN_GROUP = "nircodec.plugins"
"""Entry-point group of modules from other packages that register codecs and methods."""


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


PRIVATE_IDS = range(0xF000, 0x10000)
"""Codec ids for experiments and tests, never in a released file (FORMAT.md)."""


def register(name: str, codec_id: CodecId | int, config: type, kind: str):
    """Class decorator adding a codec; a duplicate name or id is a programming error."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config of codec {name!r} must be a dataclass")
    if not isinstance(codec_id, CodecId) and int(codec_id) not in PRIVATE_IDS:
        raise TypeError("codec ids come from CodecId (fixed numbers in the format spec) or "
                        "the private range 0xF000..0xFFFF")

    def wrap(cls: type) -> type:
        _add(CodecEntry(name, int(codec_id), cls, config, kind))
        return cls

    return wrap


def _add(entry: CodecEntry) -> None:
    old = _BY_NAME.get(entry.name) or _BY_ID.get(entry.codec_id)
    if old is not None and old.cls is not entry.cls:
        raise ValueError(f"codec {entry.name!r} (id {entry.codec_id}) clashes with {old}")
    _BY_NAME[entry.name] = _BY_ID[entry.codec_id] = entry
    entry.cls.name, entry.cls.codec_id, entry.cls.Config = (entry.name, entry.codec_id,
                                                            entry.config)


_LOADED = False


def load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from importlib.metadata import entry_points

    plugins = [ep.value for ep in entry_points(group=PLUGIN_GROUP)]
    for module in (*BUILTIN_MODULES, *plugins):
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


_METHODS: dict[str, type] = {}


def register_method(cls: type) -> type:
    """Class decorator adding a :class:`codec.method.Method`; its codec (if any) must be
    registered, and a duplicate name is a programming error."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a codec.method.Method")
    if not dataclasses.is_dataclass(cls.Options):
        raise TypeError(f"options of method {cls.name!r} must be a dataclass")
    if cls.kind not in ("video", "surface"):
        raise ValueError(f"method {cls.name!r}: kind must be 'video' or 'surface'")
    if cls.codec is not None and _BY_NAME.get(cls.name) is None:
        raise ValueError(f"method {cls.name!r}: register its codec under the same name first")
    old = _METHODS.get(cls.name)
    if old is not None and old is not cls:
        raise ValueError(f"method {cls.name!r} is registered twice ({old} and {cls})")
    _METHODS[cls.name] = cls
    return cls


def is_method(name: str) -> bool:
    load_builtin()
    return name in _METHODS


def shipment(names: Sequence[str]) -> list[tuple[type, CodecEntry | None]]:
    """The method classes called ``names`` with their codecs' entries, for :func:`adopt` in
    another process (classes travel by reference: their modules must import there)."""
    out = []
    for name in names:
        cls = type(method(name))
        out.append((cls, _BY_NAME.get(cls.codec.name) if cls.codec is not None else None))
    return out


def adopt(shipped: Sequence[tuple[type, CodecEntry | None]]) -> None:
    """Register in this process the methods (and codecs) of a :func:`shipment` that it lacks:
    how a model registered at run time in one process (a test's toy model, a user's script)
    reaches the Ray workers of a sweep."""
    load_builtin()
    for cls, entry in shipped:
        if cls.name in _METHODS:
            continue
        if entry is not None and entry.name not in _BY_NAME:
            _add(entry)
        register_method(cls)


def unregister(name: str) -> None:
    """Remove a method and its codec (tests that register a toy model clean up with this)."""
    _METHODS.pop(name, None)
    entry = _BY_NAME.pop(name, None)
    if entry is not None:
        _BY_ID.pop(entry.codec_id, None)


def methods(kind: str | None = None) -> list[type]:
    """Registered methods (of ``kind``), by codec id, then name (mesh-only methods last)."""
    load_builtin()
    found = [m for m in _METHODS.values() if kind is None or m.kind == kind]
    return sorted(found, key=lambda m: (m.codec is None,
                                        m.codec.codec_id if m.codec else 0, m.name))


def method(name: str, kind: str | None = None):
    """An instance of the method called ``name`` (InputError if there is none)."""
    load_builtin()
    cls = _METHODS.get(name)
    if cls is None or (kind is not None and cls.kind != kind):
        known = ", ".join(m.name for m in methods(kind))
        raise InputError(f"unknown model {name!r}; choose from {known}")
    return cls()


def default_method(kind: str) -> str:
    """The name of ``kind``'s default method."""
    names = [m.name for m in methods(kind) if m.default]
    if len(names) != 1:
        raise RuntimeError(f"{kind} methods need exactly one default, found {names}")
    return names[0]
