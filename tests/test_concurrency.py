"""Concurrent writers and readers of one library file: the writer lock (codec.lock), waiting
behind it, stale locks of killed writers, the append's commit check, and readers that never see
a partial file."""

from __future__ import annotations

import errno
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from codec.errors import InputError
from codec.lock import LockedError, lock_path, writer_lock
from tests.conftest import ROOT, run_cli

LONG = ["--epochs", "300", "--seed", "1"]  # an append that runs for seconds after locking


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "codec", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _holding(path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until ``proc`` holds the writer lock of ``path`` (its pid is in the lock file)."""
    deadline = time.monotonic() + timeout
    lock = lock_path(path)
    while not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
        assert proc.poll() is None, f"ended before locking: {proc.communicate()}"
        assert time.monotonic() < deadline, "no lock within the timeout"
        time.sleep(0.02)


def _one_error_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("nircodec: error: ") and "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def library(tiny_clip, tmp_path_factory):
    from codec.api import encode_clip
    from codec.video.io import read_video

    path = tmp_path_factory.mktemp("lib") / "lib.nirc"
    encode_clip(read_video(tiny_clip), path, model="pfnr", size="20k", epochs=2, threads=1)
    return path


@pytest.fixture
def lib(library, tmp_path):
    path = tmp_path / "lib.nirc"
    shutil.copyfile(library, path)
    return path


def _hold_lock(path, seconds: float) -> subprocess.Popen:
    """Another process holding ``path``'s writer lock for ``seconds``."""
    code = ("import sys, time\nfrom codec.lock import writer_lock\n"
            "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n"
            "    time.sleep(float(sys.argv[2]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_is_exclusive_names_its_holder_and_can_be_waited_for(tmp_path):
    path = tmp_path / "lib.nirc"
    proc = _hold_lock(path, 2.0)
    held = time.monotonic()
    try:
        with pytest.raises(LockedError, match=rf"lib.nirc is being written to by another "
                           rf"process \(pid {proc.pid}\); wait for it or use --wait"), \
                writer_lock(path):
            pass
        t0 = time.monotonic()
        with pytest.raises(LockedError, match=r"gave up after 0\.3 s"), writer_lock(path, wait=0.3):
            pass
        assert time.monotonic() - t0 >= 0.3
        notes: list[str] = []
        with writer_lock(path, wait=math.inf, notice=notes.append):
            assert time.monotonic() - held > 1.5  # we got it only once the holder let go
            assert lock_path(path).read_text().strip() == str(os.getpid())
        assert notes == [f"waiting for another process (pid {proc.pid}) to finish with {path}"]
    finally:
        proc.kill()
        proc.wait()
    assert not lock_path(path).exists()  # released: nothing left beside the file


def test_a_stale_lock_of_a_killed_holder_is_cleared(tmp_path):
    path = tmp_path / "lib.nirc"
    proc = _hold_lock(path, 60.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_path(path).read_text().strip() == str(proc.pid)  # left behind by SIGKILL
    notes: list[str] = []
    with writer_lock(path, notice=notes.append):
        pass
    assert notes == [f"cleared a stale lock on {path} left by pid {proc.pid} (no longer running)"]


def test_a_filesystem_without_locks_fails_safe(tmp_path, monkeypatch):
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(InputError, match="does not support file locking"), \
            writer_lock(tmp_path / "lib.nirc"):
        pytest.fail("wrote without a lock")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        if os.access(tmp_path / "ro", os.W_OK):  # root writes anywhere: nothing to test
            return
        with pytest.raises(InputError, match="cannot lock"), writer_lock(tmp_path / "ro" / "x"):
            pass
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_two_appends_at_once_one_fails_at_once_one_waits(lib, tiny_clip):
    from codec.api import decode_video

    first = decode_video(lib, video=0)
    a = _start("append", str(lib), str(tiny_clip), "--epochs", "4", "--quiet")
    _holding(lib, a)
    a.send_signal(signal.SIGSTOP)  # held mid-append, for as long as this test needs
    try:
        r = run_cli("append", str(lib), str(tiny_clip), "--epochs", "1")
        line = _one_error_line(r)
        assert line == (f"nircodec: error: {lib} is being appended to by another process (pid "
                        f"{a.pid}); wait for it or use --wait")
        c = _start("append", str(lib), str(tiny_clip), "--epochs", "1", "--wait", "--json")
        assert c.stderr.readline() == (f"nircodec: note: waiting for another process (pid "
                                       f"{a.pid}) to finish with {lib}\n")
    finally:
        a.send_signal(signal.SIGCONT)
    _, err_a = a.communicate(timeout=300)
    out_c, err_c = c.communicate(timeout=300)
    assert a.returncode == 0, err_a
    assert c.returncode == 0, err_c
    assert __import__("json").loads(out_c)["video"] == 2  # trained against the grown library
    assert np.array_equal(decode_video(lib, video=0), first)
    assert decode_video(lib, video=1).shape == decode_video(lib, video=2).shape == first.shape
    assert not lock_path(lib).exists()


def test_a_stale_lock_of_a_killed_append_is_recovered(lib, tiny_clip):
    before = lib.read_bytes()
    a = _start("append", str(lib), str(tiny_clip), *LONG)
    _holding(lib, a)
    a.send_signal(signal.SIGKILL)
    a.communicate()
    assert lib.read_bytes() == before and lock_path(lib).exists()
    r = run_cli("append", str(lib), str(tiny_clip), "--epochs", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert (f"nircodec: note: cleared a stale lock on {lib} left by pid {a.pid} "
            "(no longer running)") in r.stderr
    assert __import__("json").loads(r.stdout)["video"] == 1
    assert not lock_path(lib).exists()


def test_readers_never_see_a_partial_library(lib, tiny_clip):
    from codec.api import decode_video
    from codec.container import ContainerReader

    first = decode_video(lib, video=0)
    old = ContainerReader(lib)  # opened before the append replaces the file
    names = [s.name for s in old.sections]
    a = _start("append", str(lib), str(tiny_clip), "--epochs", "8", "--quiet")
    reads, videos = 0, set()
    while a.poll() is None or reads < 3:
        with ContainerReader(lib) as r:  # every CRC checked; a partial file would fail here
            for s in r.sections:
                r.read(s.name)
            videos.add(sum(s.name.endswith(".meta") for s in r.sections))
        if reads % 4 == 0:
            assert np.array_equal(decode_video(lib, video=0), first)
        reads += 1
    assert a.returncode == 0, a.communicate()[1]
    assert videos <= {1, 2} and 2 in videos and reads > 3
    with old:  # a reader that had the old file open still reads all of it, intact
        assert [s.name for s in old.sections] == names
        for name in names:
            old.read(name)


def test_the_commit_check_keeps_the_work_of_an_append_whose_library_changed(lib, tiny_clip,
                                                                            tmp_path,
                                                                            monkeypatch):
    import torch

    from codec.api import append_video, decode_video
    from codec.container.writer import BaseChanged
    from codec.video.pfnr.fit import SubnetTrainer

    grown = tmp_path / "grown.nirc"  # the library as another program will leave it
    append_video(lib, tiny_clip, output=grown, epochs=2, seed=5, threads=1)
    before = lib.read_bytes()
    options = dict(epochs=3, seed=2, threads=1)

    def foreign_writer(done, stats):  # mid-training, a program that ignores the lock
        if not foreign_writer.done:
            os.replace(shutil.copyfile(grown, tmp_path / "tmp.nirc"), lib)
            foreign_writer.done = True

    foreign_writer.done = False
    with pytest.raises(BaseChanged, match=r"lib.nirc changed while this append was training "
                       r"\(another program wrote it\); nothing was written, and this append's "
                       r"training is kept in .*lib.nirc.ckpt: run the same command with "
                       r"--resume"):
        append_video(lib, tiny_clip, report=foreign_writer, **options)
    assert foreign_writer.done and lib.read_bytes() == grown.read_bytes() != before
    ckpt = tmp_path / "lib.nirc.ckpt"
    assert ckpt.exists() and not lock_path(lib).exists()

    warm_start, started = SubnetTrainer.warm_start, []

    def spy(self, state):  # the re-fit starts from the saved weights, except the frozen ones
        before = {n: p.detach().clone() for n, p in self.tensors["shared"].items()}
        warm_start(self, state)
        for n, p in self.tensors["shared"].items():
            used = self.used[n]
            assert torch.equal(p[used], before[n][used])
            assert torch.equal(p[~used], state["shared"][n][~used])
        started.append(self.video)

    monkeypatch.setattr(SubnetTrainer, "warm_start", spy)
    notes: list[str] = []
    result = append_video(lib, tiny_clip, resume=True, notice=notes.append, **options)
    assert any("training again from the saved state" in n for n in notes), notes
    assert started == [2]  # once, as the library's third video
    assert result.train["video"] == 2 and not ckpt.exists()
    for k in (0, 1):  # the other program's videos are untouched
        assert np.array_equal(decode_video(lib, video=k), decode_video(grown, video=k))


def test_the_commit_check_refuses_a_damaged_or_replaced_library(lib, library, tiny_clip):
    from codec.container import ContainerReader, Section, append_sections
    from codec.container.writer import BaseChanged, BaseState

    with ContainerReader(lib) as r:
        base = BaseState.read(r)
    extra = [Section(1, "x.extra", b"payload")]
    lib.write_bytes(lib.read_bytes()[:-3])  # truncated by another program
    with pytest.raises(BaseChanged):
        append_sections(lib, extra, expect=base)
    shutil.copyfile(library, lib)
    assert append_sections(lib, extra, expect=base) > len(library.read_bytes())
    with pytest.raises(BaseChanged):  # grown since: its bytes are no longer the base's
        append_sections(lib, [Section(1, "y.extra", b"more")], expect=base)
