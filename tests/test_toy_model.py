"""Adding a model is one package plus one registration: a toy model registered from inside the
test suite gets the CLI's --model choice and flags, ``info``, ``rd``, the memory check and the
contract tests, with no other edit (docs/adding-a-model.md walks through it)."""

from __future__ import annotations

import json

import pytest

from codec import registry
from codec.cli import build_parser
from tests import toy_model
from tests.test_contract import Cli, check_bad_options, check_video_round_trip


@pytest.fixture
def toy():
    toy_model.register()
    yield
    toy_model.unregister()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from tests.conftest import make_clip

    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 48, 32, 6)


def test_toy_gets_cli_flags(toy, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["encode", "--help"])
    text = capsys.readouterr().out
    assert "toy" in text and "--smooth" in text
    assert "consecutive frames' thumbnails" in text  # the field docstring is the help
    args = parser.parse_args(["encode", "x.mp4", "-o", "x.nirc", "--model", "toy",
                              "--smooth", "0.5"])
    assert args.model == "toy" and args.smooth == 0.5


def test_toy_passes_the_contract(toy, clip, tmp_path, capsys):
    cli = Cli(capsys)
    check_video_round_trip("toy", clip, tmp_path, cli)
    check_bad_options("toy", clip, tmp_path, cli)
    line = cli.fails("encode", clip, "-o", tmp_path / "x.nirc", "--model",
                     registry.default_method("video"), "--smooth", "1")
    assert "--smooth: toy options" in line and "--model toy" in line


def test_toy_in_info_rd_and_memory(toy, clip, tmp_path, capsys):
    from codec.memory import encode_estimate

    cli = Cli(capsys)
    out = tmp_path / "toy.nirc"
    code, _, err = cli("encode", clip, "-o", out, "--model", "toy", "-q", "--steps", "3")
    assert code == 0, err
    code, stdout, err = cli("info", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["sections"][0]["name"] == "cells"
    code, stdout, err = cli("rd", clip, "-o", tmp_path / "rd", "--models", "toy:1k,2k",
                            "--anchors", "", "--reference", "toy", "--epochs", "4", "--json",
                            "-q")
    assert code == 0, err
    assert (tmp_path / "rd" / "points" / "toy__1k.json").exists()
    method = registry.method("toy")
    assert encode_estimate(method, 10, 64, 48) < encode_estimate(method, 20, 64, 48)


def test_unregister_leaves_the_builtin_models():
    names = [m.name for m in registry.methods()]
    toy_model.register()
    try:
        assert [m.name for m in registry.methods()] == [*names, "toy"] or "toy" in [
            m.name for m in registry.methods()]
        with pytest.raises(ValueError):  # a second registration under the name is a bug
            registry.register_method(type("Other", (toy_model.ToyMethod,), {}))
    finally:
        toy_model.unregister()
    assert [m.name for m in registry.methods()] == names
