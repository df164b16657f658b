"""Encoding a video group by group: frames are streamed from their source G at a time (never the
whole clip in memory), each group is fitted warm from the one before and coded at once. With
``workers`` > 1 the groups are split into that many contiguous chunks, each a chain of its own
(its first group starts cold), fitted in parallel processes.

With an active checkpoint (``codec.checkpoint``, one worker only) a chain offers its state after
every group under the tag ``nirvana/{first group}`` and resumes from the last group it saved.
"""

from __future__ import annotations

import math
import queue
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from codec import checkpoint
from codec.errors import InputError
from codec.fit import Budget, Report
from codec.video.nirvana.codec import encode_group, group_state
from codec.video.nirvana.fit import RECIPE, ChainState, GroupData, fit_group, group_steps, is_cut
from codec.video.nirvana.network import NirvanaConfig
from codec.video.source import ArraySource, FileSource


@dataclass(frozen=True)
class ChainJob:
    config: NirvanaConfig
    options: Any  # NirvanaOptions (codec.video.nirvana.method)
    seed: int
    source: FileSource | ArraySource
    first_group: int
    groups: int
    threads: int
    device: str = "cpu"


def fit_chain(job: ChainJob, report: Report | None = None) -> list[tuple[bytes, dict]]:
    """Fit and code ``job.groups`` groups in order; returns (payload, stats) per group."""
    torch.set_num_threads(job.threads)
    config, opts = job.config, job.options
    g_size = config.gop
    state = ChainState.cold(config, job.seed + job.first_group).to(job.device)
    out: list[tuple[bytes, dict]] = []
    previous = last_frame = None
    start = time.perf_counter()
    first = 0  # groups already done (resumed from a checkpoint)
    tag = f"nirvana/{job.first_group}"
    ckpt = checkpoint.active()
    saved = ckpt.restore(tag) if ckpt else None
    if saved is not None:
        state.load(saved["chain"])
        state.to(job.device)
        first, out = saved["groups_done"], [tuple(r) for r in saved["out"]]
        previous = (saved["previous"][0].numpy(), saved["previous"][1])
        last_frame = saved["last_frame"].numpy()
        start -= saved["seconds"]

    def snapshot() -> dict:
        return {"chain": state.state(), "groups_done": len(out), "out": out,
                "previous": (torch.from_numpy(previous[0]), previous[1]),
                "last_frame": torch.from_numpy(last_frame),
                "seconds": time.perf_counter() - start}

    it = job.source.frames((job.first_group + first) * g_size, (job.groups - first) * g_size)
    for k in range(first, job.groups):
        frames = [f for _, f in zip(range(g_size), it, strict=False)]
        if not frames:
            raise InputError("the video ended before the frame count its container gave")
        batch = np.stack(frames)
        h, w = batch.shape[1:3]
        if out and (h, w) != (out[0][1]["height"], out[0][1]["width"]):
            raise InputError("the frame size changes within the video; nirvana needs one size")
        grid = (math.ceil(h / config.patch), math.ceil(w / config.patch))
        data = GroupData.of(config, batch, grid).to(job.device)
        restart = k > 0 and is_cut(last_frame, batch)
        last_frame = batch[-1]
        cold = k == 0 or restart
        if opts.time_budget is not None:  # this group's share of the time left (later warm)
            units = RECIPE.cold_factor if cold else 1.0
            left = opts.time_budget - (time.perf_counter() - start)
            budget = Budget(seconds=max(1e-3, left * units / (units + job.groups - k - 1)))
        else:
            budget = Budget(steps=group_steps(data.centres.shape[0], opts.epochs, cold))

        def sub(fraction: float, stats: dict, _k=k) -> None:
            if report is not None:
                report((_k + fraction) / job.groups, stats)

        res = fit_group(config, state, data, budget, lmbda=opts.lmbda,
                        intra_period=opts.intra_period, seed=job.seed, restart=restart,
                        report=sub)
        payload = encode_group(config, res.symbols, res.steps, previous, res.intra)
        previous = group_state(config, res.symbols, res.steps)
        out.append((payload, {**res.stats, "group": job.first_group + k,
                              "frames": len(frames), "height": int(h), "width": int(w),
                              "bytes": len(payload)}))
        if ckpt is not None:
            ckpt.offer(tag, snapshot)
    return out


def split_groups(groups: int, workers: int) -> list[tuple[int, int]]:
    """(first group, count) of each worker's chunk, as even as possible."""
    workers = max(1, min(workers, groups))
    base, extra = divmod(groups, workers)
    out, at = [], 0
    for i in range(workers):
        n = base + (i < extra)
        out.append((at, n))
        at += n
    return out


def fit_all(config: NirvanaConfig, options: Any, source: FileSource | ArraySource, *,
            seed: int = 0, threads: int = 1, device: str = "cpu", report: Report | None = None
            ) -> tuple[list[tuple[bytes, dict]], int]:
    """Every group of ``source`` under ``options`` (NirvanaOptions), in ``options.workers``
    chains fitted on ``device``: (payload, stats) per group, and the frame count."""
    total = source.count()
    if total < 1:
        raise InputError("no frames to encode (video is empty or --start is too large)")
    groups = math.ceil(total / config.gop)
    chunks = split_groups(groups, options.workers)
    jobs = [ChainJob(config, options, seed, source, first, n, max(1, threads // len(chunks)),
                     str(device)) for first, n in chunks]
    if len(jobs) == 1:
        results = fit_chain(jobs[0], report)
    else:
        results = [r for chunk in _run_parallel(jobs, report) for r in chunk]
    frames = sum(s["frames"] for _, s in results)
    if frames != total:
        raise InputError(f"the video has {frames} frames, not the {total} its container "
                         "lists; encode with --workers 1")
    return results, frames


def _run_parallel(jobs: list[ChainJob], report: Report | None) -> list[list]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    with ctx.Manager() as manager, ProcessPoolExecutor(len(jobs), mp_context=ctx) as pool:
        q = manager.Queue()
        futures = [pool.submit(_worker, job, i, q) for i, job in enumerate(jobs)]
        fractions = [0.0] * len(jobs)
        while not all(f.done() for f in futures):
            try:
                i, fraction, stats = q.get(timeout=0.5)
                fractions[i] = fraction
                if report is not None:
                    report(sum(fractions) / len(jobs), stats)
            except queue.Empty:
                pass
        return [f.result() for f in futures]


def _worker(job: ChainJob, index: int, q) -> list[tuple[bytes, dict]]:
    last = [0.0]

    def report(fraction: float, stats: dict) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5:
            last[0] = now
            q.put((index, fraction, stats))

    return fit_chain(job, report)
