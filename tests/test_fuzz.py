"""Corruption fuzzing through ``tools/fuzz_container.py``: damaged, truncated and spliced files
of every registered codec raise ContainerError (or decode), nothing else, within a time and
address-space bound. It runs as a separate process because it caps its own address space."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TOOL = ROOT / "tools" / "fuzz_container.py"


def fuzz(cases: int, seed: int) -> dict:
    r = subprocess.run([sys.executable, str(TOOL), "--cases", str(cases), "--seed", str(seed),
                        "--json"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def check(res: dict, cases: int) -> None:
    from codec import registry

    registry.load_builtin()
    assert res["total"]["failed"] == 0, res["failures"]
    assert sum(res["total"].values()) == cases
    examples = {s.removesuffix("-example") for s in res["seeds"] if s.endswith("-example")}
    assert examples == {e.name for e in registry.entries()}  # every codec is a seed
    for kind, c in res["counts"].items():  # every mutation ran, and most damage is caught
        assert c["error"] > 0.5 * sum(c.values()), kind
    assert res["address_space_cap"] > 0


def test_fuzz_default():
    check(fuzz(10_000, seed=1), 10_000)


def test_the_fuzzer_reports_crashes(monkeypatch):
    """A decoder bug (here: an IndexError planted in the reader) is counted as a failure."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_container", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    real = tool.decode_fully
    warm_up = len(tool.seed_files())  # run() first decodes every seed once
    calls = {"n": 0}

    def buggy(data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > warm_up:
            raise IndexError("planted")
        real(data)

    monkeypatch.setattr(tool, "decode_fully", buggy)
    res = tool.run(20, seed=0, memory_mib=0)
    assert res["total"]["failed"] == 20 and "planted" in res["failures"][0]["what"]


@pytest.mark.slow
def test_fuzz_long():
    check(fuzz(100_000, seed=2), 100_000)
