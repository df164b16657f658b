"""Container fuzzer: mutated, truncated and spliced ``.nirc`` files must be refused with the
project's ContainerError (or decode), never crash, hang or allocate without bound.

Seeds: the ``example()`` of every registered codec, written as a container, plus every file in
``tests/golden``. Each case damages one seed, then reads, verifies and fully decodes it (frames
rendered, tensors dequantized, surfaces meshed at 16³). Mutations:

- ``flip``: 1-3 random bytes changed anywhere;
- ``truncate``: cut at a random length;
- ``length``: a length field of the preamble or trailer set to 0, 1, 2³¹-1, the file size, twice
  it or a random value;
- ``inner``: 1-3 bytes changed inside a CRC-protected region (header, a section, the table of
  contents) and its CRC recomputed, so the parsers behind the CRCs are reached;
- ``splice``: a prefix of one seed joined to a suffix of another;
- ``transplant``: a CRC-protected region overwritten with bytes of another seed (another codec's
  valid data) and its CRC recomputed;
- ``repeat``: a random slice of the file inserted again.

Bounds: each case runs under a ``--case-seconds`` alarm, and the process's address space is
capped at its size after warm-up plus ``--memory-mib`` (a decoder asking for more gets a
MemoryError, counted as a failure).

    python tools/fuzz_container.py --cases 10000 [--seed 2] [--json]

Prints counts per mutation and outcome; exits 1 when any case failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import signal
import sys
import time
import traceback
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec import registry  # noqa: E402
from codec.container import ContainerReader, encode_container  # noqa: E402
from codec.errors import ContainerError, InputError  # noqa: E402

MUTATIONS = ("flip", "truncate", "length", "inner", "splice", "transplant", "repeat")


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


def seed_files() -> dict[str, bytes]:
    """One container per registered codec (its example) and the golden files."""
    registry.load_builtin()
    seeds = {}
    for entry in registry.entries():
        header, sections = entry.cls.example().to_container()
        seeds[f"{entry.name}-example"] = encode_container(entry.codec_id, header, sections)
    for path in sorted((ROOT / "tests" / "golden").glob("*.nirc")):
        seeds[path.name] = path.read_bytes()
    return seeds


def regions(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, crc_offset) of every CRC-protected region of a valid file."""
    with ContainerReader(data) as r:
        out = [(20, r.body_start, 16)]
        for s in r.sections:
            out.append((s.offset, s.offset + s.frame_bytes - 4, s.offset + s.frame_bytes - 4))
        out.append((r.toc_offset, len(data) - 16, len(data) - 12))
    return out


def _fix_crc(raw: bytearray, start: int, end: int, crc_at: int) -> None:
    raw[crc_at : crc_at + 4] = zlib.crc32(bytes(raw[start:end])).to_bytes(4, "little")


def mutate(kind: str, data: bytes, other: bytes, regs, rng: np.random.Generator) -> bytes:
    raw = bytearray(data)
    n = len(raw)
    if kind == "flip":
        for i in rng.integers(0, n, rng.integers(1, 4)):
            raw[i] ^= int(rng.integers(1, 256))
    elif kind == "truncate":
        del raw[int(rng.integers(0, n)) :]
    elif kind == "length":
        off, width = [(12, 4), (n - 16, 8)][int(rng.integers(0, 2))]
        value = int(rng.choice([0, 1, 2**31 - 1, n, n * 2, int(rng.integers(0, 2**31))]))
        raw[off : off + width] = value.to_bytes(width, "little")
    elif kind == "inner":
        start, end, crc_at = regs[int(rng.integers(0, len(regs)))]
        if end > start:
            for i in rng.integers(start, end, rng.integers(1, 4)):
                raw[i] = int(rng.integers(0, 256)) if rng.random() < 0.5 else raw[i] ^ 0x80
            _fix_crc(raw, start, end, crc_at)
    elif kind == "splice":
        raw = raw[: int(rng.integers(0, n))] + other[int(rng.integers(0, len(other))) :]
    elif kind == "transplant":
        start, end, crc_at = regs[int(rng.integers(0, len(regs)))]
        if end > start:
            at = int(rng.integers(0, max(1, len(other) - (end - start))))
            piece = other[at : at + end - start]
            raw[start : start + len(piece)] = piece
            _fix_crc(raw, start, end, crc_at)
    elif kind == "repeat":
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 64)))
        at = int(rng.integers(0, n))
        raw[at:at] = raw[a:b]
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
                if "no surface" not in str(exc):
                    raise
        else:
            list(obj.render())


def cap_address_space(extra_mib: int) -> int:
    """Limit this process's address space to its current size + ``extra_mib``; returns the cap
    in bytes (0 when the platform has no such limit)."""
    try:
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return 0
    cap = vm + (extra_mib << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    return cap


def run(cases: int, seed: int, case_seconds: float = 2.0, memory_mib: int = 1024,
        show: int = 5) -> dict:
    """Run ``cases`` cases; returns counts and the first ``show`` failures."""
    import skimage.measure  # noqa: F401  (import costs are not a case's time)
    import torch

    torch.set_num_threads(1)
    seeds = seed_files()
    names = list(seeds)
    files = [seeds[k] for k in names]
    regs = [regions(f) for f in files]
    for f in files:  # warm-up: first decodes allocate caches and thread pools
        decode_fully(f)
    cap = cap_address_space(memory_mib) if memory_mib else 0
    rng = np.random.default_rng(seed)
    counts = {k: {"error": 0, "decoded": 0, "failed": 0} for k in MUTATIONS}
    failures = []
    t0 = time.perf_counter()
    for case in range(cases):
        i, j = (int(v) for v in rng.integers(0, len(files), 2))
        kind = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
        data = mutate(kind, files[i], files[j], regs[i], rng)
        try:
            with time_limit(case_seconds):
                decode_fully(data)
            counts[kind]["decoded"] += 1
            continue
        except ContainerError:
            counts[kind]["error"] += 1
            continue
        except CaseTimeout:
            what = f"took over {case_seconds} s"
        except MemoryError:
            what = f"allocated past the {memory_mib} MiB bound"
        except Exception as exc:
            what = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
        counts[kind]["failed"] += 1
        if len(failures) < show:
            failures.append({"case": case, "seed": names[i], "mutation": kind, "what": what})
    total = {k: sum(c[k] for c in counts.values()) for k in ("error", "decoded", "failed")}
    return {"cases": cases, "seed": seed, "seeds": names, "counts": counts, "total": total,
            "failures": failures, "seconds": time.perf_counter() - t0,
            "address_space_cap": cap}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--case-seconds", type=float, default=2.0)
    ap.add_argument("--memory-mib", type=int, default=1024,
                    help="address space allowed above the warmed-up process (0: no cap)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    res = run(args.cases, args.seed, args.case_seconds, args.memory_mib)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['cases']:,} cases from {len(res['seeds'])} seed files "
              f"({', '.join(res['seeds'])}), seed {res['seed']}, {res['seconds']:.0f} s\n")
        print("| mutation | ContainerError | decoded | failed |\n|---|---:|---:|---:|")
        for kind, c in res["counts"].items():
            print(f"| {kind} | {c['error']:,} | {c['decoded']:,} | {c['failed']:,} |")
        t = res["total"]
        print(f"| all | {t['error']:,} | {t['decoded']:,} | {t['failed']:,} |")
        for f in res["failures"]:
            print(f"\ncase {f['case']} ({f['mutation']} of {f['seed']}): {f['what']}")
    return 1 if res["total"]["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
