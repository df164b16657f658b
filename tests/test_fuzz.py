"""Corruption fuzzing: damaged files raise ContainerError (or decode), nothing else, quickly.

Mutations: random byte flips, truncations, and edits *behind* the CRCs (the damaged header,
TOC or section payload gets a recomputed CRC) so that the parsers underneath are reached too.
"""

from __future__ import annotations

import contextlib
import signal
import zlib

import numpy as np
import pytest

from codec import registry
from codec.container import ContainerReader, encode_container
from codec.errors import ContainerError, InputError
from codec.tensors import TensorBundle
from tests.conftest import GOLDEN

CASE_SECONDS = 2.0


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def seed_files() -> list[bytes]:
    rng = np.random.default_rng(5)
    bundle = TensorBundle.from_arrays(
        {"w": rng.laplace(0, 0.1, (12, 5, 3, 3)), "b": rng.normal(0, 1, 12)}
    )
    header, sections = bundle.to_container()
    files = [encode_container(bundle.codec_id, header, sections)]
    files += [p.read_bytes() for p in sorted(GOLDEN.glob("*.nirc"))]  # tensors and hnerv
    return files


def regions(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, crc_offset) of every CRC-protected region."""
    with ContainerReader(data) as r:
        out = [(20, r.body_start, 16)]
        for s in r.sections:
            out.append((s.offset, s.offset + s.frame_bytes - 4, s.offset + s.frame_bytes - 4))
        out.append((r.toc_offset, len(data) - 16, len(data) - 12))
    return out


def mutate(data: bytes, rng: np.random.Generator, regs) -> bytes:
    raw = bytearray(data)
    kind = rng.integers(0, 5)
    if kind == 0:  # byte flips anywhere
        for i in rng.integers(0, len(raw), rng.integers(1, 4)):
            raw[i] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncation
        del raw[int(rng.integers(0, len(raw))) :]
    elif kind == 2:  # edit a 32/64-bit length field of the preamble or trailer
        off, fmt = [(12, "<I"), (len(raw) - 16, "<Q")][int(rng.integers(0, 2))]
        value = int(rng.choice([0, 1, 2**31 - 1, len(raw), len(raw) * 2, rng.integers(0, 2**31)]))
        raw[off : off + (4 if fmt == "<I" else 8)] = value.to_bytes(
            4 if fmt == "<I" else 8, "little"
        )
    else:  # damage inside a CRC-protected region and fix its CRC (reaches the inner parsers)
        start, end, crc_at = regs[int(rng.integers(0, len(regs)))]
        if end > start:
            for i in rng.integers(start, end, rng.integers(1, 4)):
                raw[i] = int(rng.integers(0, 256)) if kind == 3 else raw[i] ^ 0x80
            raw[crc_at : crc_at + 4] = zlib.crc32(bytes(raw[start:end])).to_bytes(4, "little")
    return bytes(raw)


def decode_fully(data: bytes) -> None:
    with ContainerReader(data) as r:
        r.verify()
        obj = registry.read(r)
        if hasattr(obj, "arrays"):
            obj.arrays()
        elif hasattr(obj, "mesh"):
            try:
                obj.mesh(16)
            except InputError as exc:  # a valid field may have no surface inside the box
                assert "no surface" in str(exc)
        else:
            list(obj.render())


def run_cases(n: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    registry.load_builtin()  # import costs (torch, scikit-image) are not the decoder's time
    import skimage.measure  # noqa: F401

    files = seed_files()
    regs = [regions(f) for f in files]
    outcome = {"error": 0, "decoded": 0}
    for case in range(n):
        i = int(rng.integers(0, len(files)))
        data = mutate(files[i], rng, regs[i])
        try:
            with time_limit(CASE_SECONDS):
                decode_fully(data)
            outcome["decoded"] += 1
        except ContainerError:
            outcome["error"] += 1
        except CaseTimeout:
            pytest.fail(f"case {case} (seed {seed}) took over {CASE_SECONDS} s")
        except Exception as exc:
            pytest.fail(f"case {case} (seed {seed}): {type(exc).__name__}: {exc}")
    return outcome


def test_fuzz_default():
    outcome = run_cases(2500, seed=1)
    assert outcome["error"] > 1500  # most damage must be detected


@pytest.mark.slow
def test_fuzz_long():
    run_cases(25000, seed=2)
