import dataclasses

import pytest

from codec import registry
from codec.container import ContainerReader, encode_container
from codec.container.format import CodecId


def test_every_registered_codec_builds_and_roundtrips():
    entries = registry.entries()
    assert entries, "no codecs registered"
    for entry in entries:
        assert dataclasses.is_dataclass(entry.config)
        entry.config()  # defaults are valid
        obj = entry.cls.example()
        header, sections = obj.to_container()
        with ContainerReader(encode_container(entry.codec_id, header, sections)) as r:
            again = registry.read(r)
        assert type(again) is entry.cls
        assert again.to_container() == (header, sections)


def test_ids_are_fixed_numbers():
    # These numbers are written in files: changing one breaks every file in the wild.
    assert {c.name: c.value for c in CodecId} == {
        "TENSORS": 1,
        "HNERV": 2,
        "NIRVANA": 3,
        "PFNR": 4,
        "HASHGRID": 5,
        "C3": 6,
        "GRIDPULL": 16,
        "SDF": 17,
        "CSP": 18,
    }
    assert registry.get("tensors").codec_id == CodecId.TENSORS


def test_duplicates_rejected():
    @dataclasses.dataclass
    class Cfg:
        x: int = 0

    existing = registry.get("tensors")
    with pytest.raises(ValueError):
        registry.register("tensors", CodecId.CSP, Cfg, "tensors")(type("Other", (), {}))
    with pytest.raises(ValueError):
        registry.register("other-name", CodecId.TENSORS, Cfg, "tensors")(type("Other", (), {}))
    with pytest.raises(TypeError):
        registry.register("x", 99, Cfg, "tensors")
    assert registry.get("tensors") == existing
    with pytest.raises(ValueError, match="unknown codec"):
        registry.get("nope")


def test_config_from_dict_rejects_unknown_fields():
    from codec.errors import ContainerError
    from codec.tensors import TensorsConfig

    assert registry.config_from_dict(TensorsConfig, {"bits": 6}).bits == 6
    with pytest.raises(ContainerError):
        registry.config_from_dict(TensorsConfig, {"bits": 6, "extra": 1})
    with pytest.raises(ContainerError):
        registry.config_from_dict(TensorsConfig, {"bits": 99})


def test_registered_names_match_the_format_table():
    for entry in registry.entries():
        assert CodecId(entry.codec_id).name.lower() == entry.name
