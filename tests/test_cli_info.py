import json

from tests.conftest import SAMPLE, run_cli


def test_info_text_and_json():
    r = run_cli("info", str(SAMPLE))
    assert r.returncode == 0, r.stderr
    assert "codec tensors" in r.stdout and "tensors" in r.stdout
    r = run_cli("info", str(SAMPLE), "--json")
    assert r.returncode == 0
    obj = json.loads(r.stdout)  # exactly one JSON object
    assert r.stdout.count("\n") == 1
    assert obj["bytes"] == SAMPLE.stat().st_size
    assert obj["codec"] == "tensors" and obj["format_version"] == "1.0"
    assert sum(s["bytes"] for s in obj["sections"]) < obj["bytes"]


def test_info_reports_bpp_for_video(tmp_path):
    from codec.container import Section, SectionKind, write_container
    from codec.container.format import CodecId

    path = tmp_path / "v.nirc"
    size = write_container(
        path,
        CodecId.HNERV,
        {"video": {"width": 32, "height": 16, "frames": 4}},
        [Section(SectionKind.BLOB, "weights", b"x" * 100)],
    )
    obj = json.loads(run_cli("info", str(path), "--json").stdout)
    assert obj["bpp"] == 8 * size / (4 * 32 * 16)


def _assert_one_line_error(r):
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nircodec: error: "), r.stderr
    assert "Traceback" not in r.stderr


def test_info_bad_files(tmp_path):
    data = SAMPLE.read_bytes()
    cases = {
        "truncated.nirc": data[: len(data) // 2],
        "empty.nirc": b"",
        "random.nirc": bytes(range(256)) * 4,
        "flipped.nirc": data[:100] + bytes([data[100] ^ 1]) + data[101:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        _assert_one_line_error(run_cli("info", str(tmp_path / name)))
    _assert_one_line_error(run_cli("info", str(tmp_path / "missing.nirc")))
    _assert_one_line_error(run_cli("info", str(tmp_path)))


def test_debug_shows_traceback(tmp_path):
    (tmp_path / "t.nirc").write_bytes(SAMPLE.read_bytes()[:50])
    r = run_cli("info", str(tmp_path / "t.nirc"), "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_usage_errors_exit_2():
    assert run_cli().returncode == 2
    assert run_cli("info").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("nircodec ")


def test_info_splits_tensor_sections():
    """Per tensors section: values, bits per value, and where its bytes go (tensor
    descriptions, entropy tables, coded symbols), which add up to the section's payload."""
    from tests.conftest import GOLDEN

    r = run_cli("info", str(GOLDEN / "hnerv-v2.0.nirc"), "--json")
    assert r.returncode == 0, r.stderr
    sections = {s["name"]: s for s in json.loads(r.stdout)["sections"]}
    assert set(sections) == {"decoder", "embed"}
    for s in sections.values():
        assert s["param_bytes"] + s["table_bytes"] + s["coded_bytes"] == s["payload_bytes"]
        assert s["bits_per_value"] == 8 * s["bytes"] / s["values"]
        assert s["tables"] in ("histogram", "parametric", "none")
    text = run_cli("info", str(GOLDEN / "hnerv-v2.0.nirc")).stdout
    assert "table B" in text and "bits/value" in text
