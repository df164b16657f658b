"""``nircodec rd`` over several inputs on Ray (embedded, 2 CPUs, tiny clips): per-input and
data-set outputs, the point cache (reruns, added points, interruptions), retried workers,
failing points, joining a running cluster; and the pieces without Ray."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codec.dataset import bd_table, mean_curves
from codec.errors import InputError
from codec.rd import RdPoint
from codec.sweep import FAULT_ENV, expand_inputs, input_names
from tests.conftest import ROOT, make_clip, run_cli

MODEL = "hnerv"
SWEEP = ("--models", f"{MODEL}:6k,8k", "--anchors", "x264", "--reference", "x264",
         "--epochs", "2", "--task-cpus", "1")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "one.mp4", 48, 32, 4)
    make_clip(folder / "two.mp4", 32, 32, 4)
    return folder


def mtimes(folder: Path) -> dict[str, int]:
    """Cached points and .nirc files (by path under ``folder``) and their mtimes."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.suffix == ".nirc" or (p.suffix == ".json" and p.parent.name == "points")}


def named(files, prefix: str) -> list[str]:
    return [k for k in files if Path(k).name.startswith(prefix)]


def rd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli("rd", *args, "--quiet", "--json", env=env)


def one_line_error(r: subprocess.CompletedProcess, says: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and r.stdout == "" and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nircodec: error: {says}"), lines[0]


# -- without Ray ---------------------------------------------------------------------------------
def test_inputs_from_files_folders_and_patterns(tmp_path):
    for name in ("b.mp4", "a.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.mp4").write_bytes(b"x")
    assert [p.name for p in expand_inputs([str(tmp_path)])] == ["a.mp4", "b.mp4"]
    found = expand_inputs([str(tmp_path / "*.mp4"), str(tmp_path / "a.mp4"),
                           str(tmp_path / "**" / "a.mp4")])
    assert [str(p.relative_to(tmp_path)) for p in found] == ["a.mp4", "b.mp4", "sub/a.mp4"]
    assert input_names(found) == [f"{tmp_path.name}_a", "b", "sub_a"]
    assert input_names([Path("x/a.mp4"), Path("x/a.mkv")]) == ["x_a_0", "x_a_1"]
    for bad, says in (([str(tmp_path / "none.mp4")], "no such file"),
                      ([str(tmp_path / "*.mkv")], "matches no file"),
                      ([str(tmp_path / "sub"), str(tmp_path / "notes.txt"), "nope/"],
                       "no such file")):
        with pytest.raises(InputError, match=says):
            expand_inputs(bad)
    (tmp_path / "c.ply").write_bytes(b"x")
    with pytest.raises(InputError, match="mix videos"):
        expand_inputs([str(tmp_path)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no video, point cloud or mesh"):
        expand_inputs([str(empty)])


def point(curve: str, label: str, bpp: float, psnr: float) -> RdPoint:
    return RdPoint(curve, label, int(bpp * 100), bpp, psnr, psnr, psnr, 0.9, "ssim", None,
                   1.0, 0.1)


def test_data_set_bd_is_the_mean_of_per_input_bd_and_curves_average_common_points():
    ref = [point("ref", f"q{i}", b, p) for i, (b, p) in enumerate([(1, 30), (2, 33), (4, 36)])]
    # input a: the model needs half the rate of the reference; input b: the same rate
    a = ref + [point("m", f"s{i}", b / 2, p) for i, (b, p) in enumerate([(1, 30), (2, 33),
                                                                          (4, 36)])]
    b = ref + [point("m", f"s{i}", b, p) for i, (b, p) in enumerate([(1, 30), (2, 33),
                                                                      (4, 36)])]
    b.append(point("m", "only-b", 8, 39))
    rows = bd_table({"a": a, "b": b}, "ref")
    per = rows["m"]["per_input"]
    assert per["a"]["bd_rate"] == pytest.approx(-50, abs=1e-6)
    assert per["b"]["bd_rate"] == pytest.approx(0, abs=1e-6)
    assert rows["m"]["mean_bd_rate"] == pytest.approx(-25, abs=1e-6)
    assert rows["m"]["inputs"] == 2
    curves = mean_curves({"a": a, "b": b})
    assert [p.label for p in curves["m"]] == ["s0", "s1", "s2"]  # only-b is not on every input
    assert [p.bpp for p in curves["m"]] == pytest.approx([0.75, 1.5, 3.0])


# -- on Ray --------------------------------------------------------------------------------------
def test_sweep_of_two_inputs_then_reruns_from_the_cache(clips, tmp_path):
    out = tmp_path / "rd"
    r = rd(str(clips), "-o", str(out), *SWEEP)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["inputs"] == ["one", "two"] and set(res["curves"]) == {MODEL, "x264"}
    assert set(res["per_input"]) == {"one", "two"} and res["bd"][MODEL]["inputs"] in (0, 1, 2)
    for name in ("one", "two"):
        for f in ("results.json", "results.csv", "rd.png", "summary.md",
                  f"{MODEL}-6k.nirc", f"{MODEL}-8k.nirc"):
            assert (out / name / f).is_file(), (name, f)
    entries = json.loads((out / "results.json").read_text())
    model = next(e for e in entries if e["name"] == MODEL)
    assert "mean of 2 inputs" in model["description"] and len(model["results"]["bpp"]) == 2
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("input,curve,label") and len(csv) - 1 == res["points"]
    assert "| curve | one | two | mean |" in (out / "summary.md").read_text()
    before = mtimes(out)
    assert len(before) >= 2 * (2 + 8 + 2)  # points (+ files) of both inputs
    r = rd(str(clips / "*.mp4"), "-o", str(out), *SWEEP)  # the same inputs, as a pattern
    assert r.returncode == 0, r.stderr
    assert mtimes(out) == before  # every point served from the cache
    # one more rate point: only it is computed
    more = list(SWEEP)
    more[1] = f"{MODEL}:6k,8k,10k"
    r = rd(str(clips), "-o", str(out), *more)
    assert r.returncode == 0, r.stderr
    after = mtimes(out)
    assert {k: after[k] for k in before} == before
    assert sorted(Path(k).name for k in after if "10k" in k) == sorted(
        [f"{MODEL}__10k.json", f"{MODEL}-10k.nirc"] * 2)


def test_a_worker_killed_once_is_retried(clips, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "rd"
    r = rd(str(clips / "one.mp4"), "-o", str(out), "--models", f"{MODEL}:6k", "--anchors",
           "x264", "--reference", "x264", "--epochs", "2", env={FAULT_ENV: str(marks)})
    assert r.returncode == 0, r.stderr
    assert (marks / "fault-injected").exists()  # a worker did die
    assert (out / f"{MODEL}-6k.nirc").is_file() and json.loads(r.stdout)["points"] >= 9


def test_a_failing_point_is_reported_after_the_others(clips, tmp_path):
    out = tmp_path / "rd"
    r = rd(str(clips / "one.mp4"), "-o", str(out), "--models", f"{MODEL}:6k;pfnr:1k",
           "--anchors", "x264", "--reference", "x264", "--epochs", "2")
    one_line_error(r, "1 rd point(s) failed: pfnr 1k on one.mp4")
    assert (out / "points" / f"{MODEL}__6k.json").is_file()  # the rest finished and is cached


def test_an_interrupted_sweep_resumes_without_recomputing(clips, tmp_path):
    out = tmp_path / "rd"
    args = [sys.executable, "-m", "codec", "rd", str(clips), "-o", str(out), "--quiet",
            "--models", f"{MODEL}:6k,8k,10k,12k", "--anchors", "x264", "--reference", "x264",
            "--epochs", "30"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    points = out / "one" / "points"
    while time.monotonic() < deadline and not (points.is_dir() and any(
            p.name.startswith("x264") for p in points.iterdir())):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "nircodec: error: interrupted"
    done = mtimes(out)
    assert named(done, "x264")
    assert len(named(done, f"{MODEL}__")) < 8  # it did stop early
    r = run_cli(*args[3:])
    assert r.returncode == 0, r.stderr
    after = mtimes(out)
    assert {k: after[k] for k in done} == done
    assert len(named(after, f"{MODEL}__")) == 8  # 4 points x 2 inputs


@pytest.mark.skipif(shutil.which("ray") is None and not (Path(sys.executable).parent / "ray")
                    .exists(), reason="the ray command is not installed")
def test_address_joins_a_running_cluster(clips, tmp_path):
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = 20000 + secrets.randbelow(20000)
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    start = subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=2",
                            "--include-dashboard=false", "--disable-usage-stats"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, start.stderr
    try:
        out = tmp_path / "rd"
        r = rd(str(clips / "two.mp4"), "-o", str(out), "--models", f"{MODEL}:6k",
               "--anchors", "x264", "--reference", "x264", "--epochs", "2",
               "--address", f"127.0.0.1:{port}",
               env={k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")})
        assert r.returncode == 0, r.stderr
        assert (out / f"{MODEL}-6k.nirc").is_file()
        # the cluster is still up after the sweep: a second sweep joins it again
        r = rd(str(clips / "two.mp4"), "-o", str(out), "--models", f"{MODEL}:6k",
               "--anchors", "x264", "--reference", "x264", "--epochs", "2",
               "--address", f"127.0.0.1:{port}",
               env={k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")})
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_address_that_answers_nothing_is_one_line(clips, tmp_path):
    r = rd(str(clips / "one.mp4"), "-o", str(tmp_path / "rd"), "--address", "127.0.0.1:9",
           "--models", f"{MODEL}:6k", "--anchors", "x264", "--reference", "x264")
    one_line_error(r, "cannot join the Ray cluster at 127.0.0.1:9")


# -- surfaces ------------------------------------------------------------------------------------
def test_conditions_parse():
    from recon.rd import parse_condition

    assert parse_condition("clean") == ("clean", 0.0)
    assert parse_condition("noisy") == ("noisy", 0.005)
    assert parse_condition("noisy:0.01") == ("noisy", 0.01)
    assert parse_condition("sparse:500") == ("sparse", 500)
    for bad in ("dirty", "noisy:x", "noisy:0.9", "sparse:2.5", "clean:1"):
        with pytest.raises(InputError, match="--conditions"):
            parse_condition(bad)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """Two tiny point clouds (tori) and a mesh (a sphere) in one folder."""
    import numpy as np

    from recon.pointcloud import write_mesh

    folder = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for name, r in (("thin", 0.3), ("fat", 0.5)):
        u, v = rng.uniform(0, 2 * np.pi, (2, 2000))
        pts = np.stack([(1 + r * np.cos(v)) * np.cos(u), (1 + r * np.cos(v)) * np.sin(u),
                        r * np.sin(v)], 1)
        np.save(folder / f"{name}.npy", pts.astype(np.float32))
    import open3d as o3d

    ball = o3d.geometry.TriangleMesh.create_sphere(1.0, 20)
    mesh = folder / "mesh"
    mesh.mkdir()
    write_mesh(mesh / "ball.obj", np.asarray(ball.vertices), np.asarray(ball.triangles))
    return folder


def test_surface_rd_on_two_clouds_against_poisson_draco(shapes, tmp_path):
    pytest.importorskip("DracoPy")
    out = tmp_path / "rd"
    args = (str(shapes / "*.npy"), "-o", str(out), "--models", "gridpull:8k,27k", "--epochs",
            "20", "--samples", "3000")
    r = rd(*args)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["inputs"] == ["fat", "thin"]
    assert set(res["curves"]) == {"gridpull", "poisson-draco"}
    for name in ("fat", "thin"):
        entries = {e["name"]: e for e in json.loads((out / name / "results.json").read_text())}
        anchor = entries["poisson-draco"]["results"]
        assert len(anchor["bytes"]) == 8 and anchor["bytes"] == sorted(anchor["bytes"])
        assert all(c > 0 for c in anchor["cd-l1"])
        assert entries["gridpull"]["results"]["bytes"] == sorted(
            (out / name / f"gridpull-{s}.nirc").stat().st_size for s in ("8k", "27k"))
    assert "BD-rate (CD axis)" in (out / "summary.md").read_text()
    assert (out / "rd.png").stat().st_size > 0
    before = mtimes(out)
    assert rd(*args).returncode == 0 and mtimes(out) == before  # served from the cache


def test_surface_rd_on_a_mesh_under_two_conditions(shapes, tmp_path):
    pytest.importorskip("DracoPy")
    out = tmp_path / "rd"
    r = rd(str(shapes / "mesh"), "-o", str(out), "--models", "gridpull:8k", "--epochs", "20",
           "--samples", "3000", "--points", "3000", "--conditions", "clean,noisy:0.01")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["inputs"] == ["ball-clean", "ball-noisy0.01"]
    clean, noisy = (json.loads((out / n / "results.json").read_text())
                    for n in res["inputs"])
    nc = {e["name"]: e["results"]["normal-consistency"] for e in clean}
    assert all(0.5 < x <= 1 for x in nc["poisson-draco"])  # measured against the GT mesh
    cd = [{e["name"]: e["results"]["cd-l1"][-1] for e in d} for d in (clean, noisy)]
    assert cd[1]["poisson-draco"] > cd[0]["poisson-draco"]  # noise costs Poisson accuracy
    r = rd(str(shapes / "mesh"), "-o", str(out), "--resize", "32x32")
    assert r.returncode == 1 and "--resize: not for surface inputs" in r.stderr


def test_tasks_no_node_can_run_are_one_line(clips, tmp_path):
    r = rd(str(clips / "one.mp4"), "-o", str(tmp_path / "rd"), "--task-cpus", "512",
           "--models", f"{MODEL}:6k", "--anchors", "x264", "--reference", "x264")
    one_line_error(r, "no Ray node has --task-cpus 512")
