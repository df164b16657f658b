import os
import struct
import zlib

import numpy as np
import pytest

from codec.container import (
    ContainerReader,
    Section,
    SectionKind,
    append_sections,
    encode_container,
    write_container,
)
from codec.container.format import MAGIC, VERSION, CodecId
from codec.errors import ContainerError
from codec.quant import quantize
from codec.tensorpack import pack_tensors, unpack_tensors

HEADER = {"codec": "tensors", "video": {"width": 48, "height": 32, "frames": 8, "fps": [25, 1]}}


def sections():
    return [
        Section(SectionKind.META, "meta", b'{"a":1}'),
        Section(SectionKind.BLOB, "blob/0", bytes(range(256)) * 3),
        Section(SectionKind.BLOB, "empty", b""),
    ]


def test_roundtrip_bytes_and_file(tmp_path):
    data = encode_container(CodecId.HNERV, HEADER, sections())
    assert data.startswith(MAGIC)
    path = tmp_path / "x.nirc"
    assert write_container(path, CodecId.HNERV, HEADER, sections()) == len(data)
    assert path.read_bytes() == data
    for src in (data, path):
        with ContainerReader(src) as r:
            assert r.version == VERSION
            assert r.codec_id == CodecId.HNERV
            assert r.header == HEADER
            assert [s.name for s in r.sections] == ["meta", "blob/0", "empty"]
            assert r.read("blob/0") == bytes(range(256)) * 3
            assert r.read("empty") == b""
            assert r.read_json("meta") == {"a": 1}
            r.verify()
            with pytest.raises(ContainerError):
                r.read("missing")
            with pytest.raises(ContainerError):
                r.read("meta", kind=SectionKind.BLOB)


def test_reads_only_requested_section(tmp_path):
    path = tmp_path / "x.nirc"
    write_container(path, CodecId.PFNR, {}, sections())
    with ContainerReader(path) as r:
        info = r.info("blob/0")
    raw = bytearray(path.read_bytes())
    raw[info.offset + 5] ^= 0xFF  # damage one section only
    path.write_bytes(bytes(raw))
    with ContainerReader(path) as r:
        assert r.read_json("meta") == {"a": 1}
        with pytest.raises(ContainerError, match="CRC"):
            r.read("blob/0")


def test_append_keeps_earlier_bytes(tmp_path):
    path = tmp_path / "lib.nirc"
    write_container(path, CodecId.PFNR, {"videos": 1}, sections())
    before = path.read_bytes()
    with ContainerReader(path) as r:
        body_end = r.toc_offset
    size = append_sections(path, [Section(SectionKind.BLOB, "video/1", b"new video")])
    after = path.read_bytes()
    assert len(after) == size
    assert after[:body_end] == before[:body_end]  # earlier sections untouched
    with ContainerReader(path) as r:
        assert r.read("video/1") == b"new video"
        assert r.read("blob/0") == bytes(range(256)) * 3
    with pytest.raises(ValueError, match="duplicate"):
        append_sections(path, [Section(SectionKind.BLOB, "video/1", b"again")])
    assert path.read_bytes() == after


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "x.nirc"

    class Boom(Exception):
        pass

    class BadSections:
        def __iter__(self):
            yield Section(SectionKind.BLOB, "a", b"x")
            raise Boom

    with pytest.raises(Boom):
        write_container(path, CodecId.HNERV, {}, BadSections())
    from codec.atomic import atomic_write

    with pytest.raises(KeyboardInterrupt), atomic_write(path) as fh:
        fh.write(b"half")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
    # an existing file is replaced only on success
    path.write_bytes(b"old")
    with pytest.raises(Boom), atomic_write(path) as fh:
        fh.write(b"new")
        raise Boom
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.nirc"]


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    raw = bytearray(data)
    struct.pack_into(fmt, raw, offset, value)
    return bytes(raw)


def test_clear_errors():
    good = encode_container(CodecId.HNERV, HEADER, sections())
    cases = {
        "empty": b"",
        "magic": b"GIF89a" + good[6:],
        "version": _patch(good, 8, "<B", VERSION[0] + 1),
        "truncated": good[:-1],
        "header crc": _patch(good, 16, "<I", 0),
        "header length": _patch(good, 12, "<I", 2**31),
        "toc offset": _patch(good, len(good) - 16, "<Q", 2**60),
    }
    messages = {}
    for name, data in cases.items():
        with pytest.raises(ContainerError) as info:
            ContainerReader(data)
        messages[name] = str(info.value)
    assert "empty" in messages["empty"]
    assert "magic" in messages["magic"]
    assert "upgrade" in messages["version"]
    assert "CRC" in messages["header crc"]


def _with_header(obj_bytes: bytes) -> bytes:
    good = encode_container(CodecId.HNERV, {}, [])
    body = good[20 + 2 :]  # after preamble and "{}"
    pre = MAGIC + struct.pack(
        "<BBHII", *VERSION, int(CodecId.HNERV), len(obj_bytes), zlib.crc32(obj_bytes)
    )
    data = pre + obj_bytes + body
    # fix the trailer's TOC offset for the new header length
    toc_offset = len(pre) + len(obj_bytes)
    return _patch(data, len(data) - 16, "<Q", toc_offset)


@pytest.mark.parametrize(
    "header", [b"[1,2]", b"{bad json", b"\xff\xfe", b'{"x":NaN}', b"[" * 100000 + b"]" * 100000]
)
def test_bad_header_json(header):
    with pytest.raises(ContainerError):
        ContainerReader(_with_header(header))


def test_unknown_section_kinds():
    required = encode_container(CodecId.HNERV, {}, [Section(0x0777, "future", b"x")])
    with pytest.raises(ContainerError, match="upgrade"):
        ContainerReader(required)
    optional = encode_container(CodecId.HNERV, {}, [Section(0x8777, "future", b"x")])
    with ContainerReader(optional) as r:
        assert r.sections[0].kind_name == "unknown-34679"


def test_newer_minor_version_is_read():
    data = _patch(encode_container(CodecId.HNERV, {}, []), 9, "<B", VERSION[1] + 1)
    with ContainerReader(data) as r:
        assert r.version == (VERSION[0], VERSION[1] + 1)


def test_tensor_pack_roundtrip(rng):
    tensors = {
        "w": quantize(rng.normal(0, 0.1, (6, 4, 3, 3)), 8, 0),
        "b": quantize(rng.normal(0, 0.1, 6), 6),
        "tiny": quantize(rng.normal(0, 1e-9, 3), 8),
        "e": quantize(np.zeros((0, 2)), 4),
    }
    out = unpack_tensors(pack_tensors(tensors))
    assert list(out) == list(tensors)
    for k, q in tensors.items():
        assert out[k].shape == q.shape and out[k].axis == q.axis and out[k].bits == q.bits
        assert out[k].dequantize().tobytes() == q.dequantize().tobytes()
    assert unpack_tensors(pack_tensors({})) == {}


def test_tensor_section_element_limit():
    from codec.tensorpack import MIN_ELEMENT_LIMIT

    ok = quantize(np.zeros(MIN_ELEMENT_LIMIT, np.float32), 8)
    assert unpack_tensors(pack_tensors({"z": ok}))["z"].shape == (MIN_ELEMENT_LIMIT,)
    huge = quantize(np.zeros(4 * MIN_ELEMENT_LIMIT, np.float32), 8)
    with pytest.raises(ValueError, match="sanity limit"):
        pack_tensors({"z": huge})
    # a damaged header claiming that many elements is refused before anything is allocated
    payload = bytearray(pack_tensors({"z": ok}))
    dims_at = payload.index(bytes([0, 8, 1])) + 3  # dtype, bits, ndim, then the dimension
    payload[dims_at : dims_at + 3] = bytes([0xFF, 0xFF, 0x7F])  # 2**21 - 1 elements
    with pytest.raises(ContainerError, match="implausible"):
        unpack_tensors(bytes(payload))
