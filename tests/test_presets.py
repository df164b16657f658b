"""Speed presets: the epochs a preset chooses, the estimate and its hint, and the command line
(explicit --epochs / --time-budget win; a long encode prints its estimate first)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from codec import presets, registry
from codec.encode import apply_preset
from codec.errors import InputError
from tests.conftest import run_cli

HD = (132, 720, 1280)  # frames, height, width


def pixels(shape):
    return shape[0] * shape[1] * shape[2]


def test_every_video_model_states_a_time_model():
    for method in registry.methods("video"):
        assert method.epoch_cost is not None and method.epoch_cost > 0, method.name
        assert presets.budget_field(method.Options) == "epochs"


@pytest.mark.parametrize("name", [m.name for m in registry.methods("video")])
def test_medium_default_fits_ten_minutes_on_the_reference_machine(name):
    method = registry.method(name)
    opts, plan = presets.choose(method, method.Options(), set(), pixels(HD), "cpu", None, 2)
    assert plan.preset == "medium" and plan.threads == 2
    assert opts.epochs == plan.epochs >= method.min_epochs
    if plan.epochs > method.min_epochs:  # the least an encode runs may take longer
        assert plan.seconds <= presets.PRESETS["medium"].seconds
    small = (8, 32, 48)
    opts_small, _ = presets.choose(method, method.Options(), set(), pixels(small),
                                            "cpu", "medium", 2)
    assert opts_small.epochs == method.Options().epochs  # small clips keep the default


def test_presets_order_and_threads_do_not_change_the_epochs():
    method = registry.method("hnerv")
    shape = (64, 136, 320)
    chosen = {}
    for name in presets.PRESETS:
        for threads in (1, 2, 16):
            opts, _ = presets.choose(method, method.Options(), set(), pixels(shape), "cpu",
                                        name, threads)
            chosen.setdefault(name, set()).add(opts.epochs)
    assert all(len(v) == 1 for v in chosen.values())  # repeatable on any machine
    fast, medium, slow = (chosen[n].pop() for n in ("fast", "medium", "slow"))
    assert fast < medium < slow


def test_explicit_epochs_and_time_budget_win():
    method = registry.method("hnerv")
    opts = method.Options(epochs=7)
    out, plan = presets.choose(method, opts, {"epochs"}, pixels(HD), "cpu", "fast", 2)
    assert out.epochs == 7 and plan.preset is None and plan.epochs == 7
    assert plan.seconds > presets.epoch_seconds(method, pixels(HD), method.params(opts)) * 7
    timed = method.Options(time_budget=30.0)
    out, plan = presets.choose(method, timed, {"time_budget"}, pixels(HD), "cpu", None, 2)
    assert out == timed and plan.epochs is None
    assert plan.seconds == pytest.approx(30 + method.measure_cost * pixels(HD))


def test_estimate_scales_with_threads_and_is_absent_off_the_cpu():
    method = registry.method("hnerv")
    opts = method.Options(epochs=10)
    _, two = presets.choose(method, opts, {"epochs"}, pixels(HD), "cpu", None, 2)
    _, one = presets.choose(method, opts, {"epochs"}, pixels(HD), "cpu", None, 1)
    assert one.seconds == pytest.approx(2 * two.seconds)
    cuda_opts, cuda = presets.choose(method, method.Options(), set(), pixels(HD), "cuda", None,
                                     2)
    assert cuda.seconds is None and cuda_opts.epochs == method.Options().epochs


def test_hint_names_the_ways_out_only_for_long_encodes():
    method = registry.method("hnerv")
    _, plan = presets.choose(method, method.Options(epochs=300), {"epochs"}, pixels(HD),
                             "cpu", None, 2)
    line = presets.hint(plan, "hnerv")
    assert line is not None and "\n" not in line
    for way in ("--epochs 300", "--preset fast", "--time-budget", "--resize", "--device cuda"):
        assert way in line
    _, cut = presets.choose(method, method.Options(), set(), pixels(HD), "cpu", None, 2)
    line = presets.hint(cut, "hnerv")  # within 10 minutes, but with few of its epochs
    assert cut.epochs < presets.CUT * cut.wanted and "expect low quality" in line
    assert "--resize" in line and "\n" not in line
    _, small = presets.choose(method, method.Options(), set(), pixels((24, 96, 160)), "cpu",
                              None, 2)
    assert small.epochs == small.wanted and presets.hint(small, "hnerv") is None
    assert presets.duration(40) == "40 s" and presets.duration(600) == "10 min"
    assert presets.duration(7200) == "2.0 h"


def test_steps_models_and_options_objects():
    from tests import toy_model

    toy_model.register()
    try:
        method = registry.method("toy")
        opts, plan = apply_preset(method, {"size": "1k"}, (8, 32, 48), "cpu", 2, "fast", None)
        assert plan.field == "steps" and opts.steps == 10 and isinstance(opts.steps, int)
        assert plan.seconds is None  # the toy states no time model
        given = dataclasses.replace(method.Options(), steps=3)
        opts, plan = apply_preset(method, given, (8, 32, 48), "cpu", 2, "slow", None)
        assert opts.steps == 3 and plan.preset is None  # an options object is explicit
    finally:
        toy_model.unregister()
    with pytest.raises(InputError, match="--preset"):
        apply_preset(registry.method("hnerv"), {}, (8, 32, 48), "cpu", 2, "placebo", None)


def test_cli_preset_and_explicit_budget(tiny_clip, tmp_path):
    out = tmp_path / "fast.nirc"
    run = run_cli("encode", str(tiny_clip), "-o", str(out), "--model", "hashgrid", "--size",
                  "8k", "--preset", "fast", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["preset"] == "fast" and result["epochs"] == 5.0  # 0.25 x 20
    assert result["estimate_seconds"] > 0 and "note:" not in run.stderr
    run = run_cli("encode", str(tiny_clip), "-o", str(out), "--model", "hashgrid", "--size",
                  "8k", "--time-budget", "1", "--preset", "slow", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["preset"] is None and result["epochs"] is None  # the time budget ran
    run = run_cli("encode", str(tiny_clip), "-o", str(tmp_path / "x.nirc"), "--model", "c3",
                  "--preset", "turbo")
    assert run.returncode == 2 and "--preset" in run.stderr  # argparse's choices


def test_cli_prints_the_estimate_of_a_long_encode_first(tiny_clip, tmp_path, monkeypatch,
                                                        capsys):
    from codec.cli import main

    method = type(registry.method("hashgrid"))
    # a time model under which one epoch of the tiny clip takes hours (the run takes 1 epoch)
    monkeypatch.setattr(method, "epoch_cost", 1.0)
    args = ["encode", str(tiny_clip), "-o", str(tmp_path / "slow.nirc"), "--model", "hashgrid",
            "--size", "8k", "--epochs", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("nircodec: note:")]
    assert len(notes) == 1 and "--epochs 1" in notes[0] and " h on " in notes[0]
    assert main([*args, "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err
    # the preset never runs less than one epoch, and says how long that one takes
    assert main([*args[:-2], "--preset", "fast"]) == 0
    assert "--preset fast" in capsys.readouterr().err


def test_bench_gpu_without_cuda_says_so_and_the_cpu_path_measures(tiny_clip):
    import subprocess
    import sys

    from tests.conftest import ROOT

    tool = [sys.executable, str(ROOT / "tools" / "bench_gpu.py"), str(tiny_clip)]
    run = subprocess.run(tool, capture_output=True, text=True, timeout=120,
                         env={"CUDA_VISIBLE_DEVICES": "", "PATH": ""})
    assert run.returncode == 0 and "no CUDA device" in run.stdout, run.stderr
    run = subprocess.run([*tool, "--device", "cpu", "--models", "c3", "--resize", "48x32",
                          "--frames", "4", "--scale", "0.1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| c3 |")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[2] for c in cells] == ["fp32", "bf16"]  # both precisions timed
    assert all(float(c[3]) > 0 and float(c[7]) > 0 for c in cells)  # s / epoch, decode fps
