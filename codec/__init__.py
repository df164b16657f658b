"""nircodec: neural-representation codecs for video and 3D surfaces.

The public Python API lives in :mod:`codec.api` and is re-exported here lazily, so that
``import codec`` stays fast (torch loads only when a model is used).
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "encode_video": "codec.api",
    "decode_video": "codec.api",
    "append_video": "codec.api",
    "save_tensors": "codec.tensors",
    "load_tensors": "codec.tensors",
    "ContainerReader": "codec.container",
    "NircodecError": "codec.errors",
    "ContainerError": "codec.errors",
}


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'codec' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_API)
