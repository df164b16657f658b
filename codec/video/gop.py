"""Encoding a video group by group: frames are streamed from their source G at a time (never the
whole clip in memory), each group is fitted warm from the one before and coded at once. With
``workers`` > 1 the groups are split into that many contiguous chunks, each a chain of its own
(its first group starts cold), fitted in parallel processes.
"""

from __future__ import annotations

import math
import os
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from codec.errors import InputError
from codec.video.io import Geometry

if TYPE_CHECKING:
    from codec.api import EncodeResult

Report = Callable[[float, dict], None]


@dataclass(frozen=True)
class FileSource:
    """Frames ``start ..`` of a video file (re-opened by every worker)."""

    path: str
    start: int = 0
    max_frames: int | None = None
    geometry: Geometry = field(default_factory=Geometry)

    def count(self) -> int:
        from codec.video.io import count_frames

        n = max(0, count_frames(self.path) - self.start)
        return n if self.max_frames is None else min(n, self.max_frames)

    def frames(self, offset: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
        from codec.video.io import iter_video

        if self.max_frames is not None:
            count = min(count or self.max_frames, self.max_frames - offset)
        return iter_video(self.path, start=self.start + offset, max_frames=count,
                          geometry=self.geometry)

    def fps(self):
        from codec.video.io import video_rate

        return video_rate(self.path)


@dataclass(frozen=True)
class ArraySource:
    """Frames already in memory: (T, H, W, 3) uint8."""

    array: np.ndarray

    def count(self) -> int:
        return len(self.array)

    def frames(self, offset: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
        end = len(self.array) if count is None else offset + count
        yield from self.array[offset:end]


@dataclass(frozen=True)
class ChainJob:
    config: object  # NirvanaConfig
    opts: object  # NirvanaTrainOptions
    source: FileSource | ArraySource
    first_group: int
    groups: int
    budget: float | None  # seconds for this chain
    threads: int


def fit_chain(job: ChainJob, report: Report | None = None) -> list[tuple[bytes, dict]]:
    """Fit and code ``job.groups`` groups in order; returns (payload, stats) per group."""
    import torch

    from codec import checkpoint
    from codec.video.nirvana_codec import encode_group, group_state
    from codec.video.nirvana_fit import (
        ChainState,
        GroupData,
        fit_group,
        group_steps,
        is_cut,
    )

    torch.set_num_threads(job.threads)
    config, opts = job.config, job.opts
    g_size = config.gop
    state = ChainState.cold(config, opts.seed + job.first_group)
    out: list[tuple[bytes, dict]] = []
    previous = last_frame = None
    start = time.perf_counter()
    first = 0  # groups already done (resumed from a checkpoint)
    tag = f"nirvana/{job.first_group}"
    ckpt = checkpoint.active()
    saved = ckpt.restore(tag) if ckpt else None
    if saved is not None:
        state.load(saved["chain"])
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
        data = GroupData.of(config, batch, grid)
        restart = k > 0 and is_cut(last_frame, batch)
        last_frame = batch[-1]
        cold = k == 0 or restart
        seconds = steps = None
        if job.budget is not None:  # this group's share of the time left (later groups warm)
            units = opts.cold_factor if cold else 1.0
            left = job.budget - (time.perf_counter() - start)
            seconds = max(1e-3, left * units / (units + job.groups - k - 1))
        else:
            steps = group_steps(config, data.centres.shape[0], opts, cold)

        def sub(fraction: float, stats: dict, _k=k) -> None:
            if report is not None:
                report((_k + fraction) / job.groups, stats)

        res = fit_group(config, state, data, opts, restart=restart, steps=steps,
                        seconds=seconds, report=sub)
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


def fit_all(config, opts, source, *, workers: int = 1, threads: int | None = None,
            report: Report | None = None) -> tuple[list[tuple[bytes, dict]], int]:
    """Every group of ``source``: (payload, stats) per group, and the frame count."""
    total = source.count()
    if total < 1:
        raise InputError("no frames to encode (video is empty or --start is too large)")
    groups = math.ceil(total / config.gop)
    chunks = split_groups(groups, workers)
    threads = threads or os.cpu_count() or 1
    jobs = [ChainJob(config, opts, source, first, n, opts.time_budget,
                     max(1, threads // len(chunks))) for first, n in chunks]
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


def encode_stream(source, fps, output, *, model: str = "nirvana", size: str | int | None = None,
                   epochs: float | None = None, time_budget: float | None = None,
                   bits: int | None = None, embed_bits: int | None = None,
                   qat_epochs: int | None = None, loss: str | None = None, seed: int = 0,
                   device: str = "auto", threads: int | None = None, report=None,
                   gop: int | None = None, lmbda: float | None = None, workers: int = 1,
                   intra_period: int | None = None) -> EncodeResult:
    """The nirvana encoder: ``source`` (codec.video.gop) is fitted group by group and coded;
    quality is measured by streaming the file's decoded frames against the source again."""
    import torch

    from codec.api import EncodeResult, check_output_path, model_size
    from codec.container import write_container
    from codec.metrics import quality_stream
    from codec.runtime import seed_everything
    from codec.video.meta import VideoInfo
    from codec.video.nirvana import plan_config
    from codec.video.nirvana_codec import NirvanaCodec
    from codec.video.nirvana_fit import NirvanaTrainOptions

    t0 = time.perf_counter()
    other = {"--bits": bits, "--embed-bits": embed_bits, "--qat-epochs": qat_epochs,
             "--loss": loss}
    given = [k for k, v in other.items() if v is not None]
    if given:
        raise InputError(f"{', '.join(given)}: not used by nirvana (its rate is set by --lmbda)")
    if device not in ("auto", "cpu"):
        raise InputError("nirvana encodes on the CPU (--device cpu)")
    if not 1 <= workers <= 64:
        raise InputError("--workers must be in 1..64")
    check_output_path(output)
    defaults = NirvanaTrainOptions()
    try:
        opts = NirvanaTrainOptions(
            epochs=defaults.epochs if epochs is None else epochs, time_budget=time_budget,
            lmbda=defaults.lmbda if lmbda is None else lmbda, seed=seed,
            intra_period=intra_period or defaults.intra_period)
        config = plan_config(model_size("nirvana", size), gop=3 if gop is None else gop)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    seed_everything(seed)
    results, frames = fit_all(config, opts, source, workers=workers, threads=threads,
                              report=report)
    h, w = results[0][1]["height"], results[0][1]["width"]
    p = config.patch
    video = VideoInfo(w, h, frames, fps, (-w % p, -h % p))
    intra = [s["group"] for _, s in results if s["intra"]]
    codec = NirvanaCodec(config, video, intra, {i: pay for i, (pay, _) in enumerate(results)})
    header, sections = codec.to_container()
    nbytes = write_container(output, codec.codec_id, header, sections)
    encode_seconds = time.perf_counter() - t0
    from codec import registry
    from codec.container import ContainerReader

    with ContainerReader(output) as reader:
        decoded = registry.read(reader)
    q = quality_stream(source.frames(), decoded.render())
    stats = {"groups": [s for _, s in results], "workers": min(workers, len(results)),
             "config": {"siren_width": config.siren_width,
                        "stem_channels": config.stem_channels,
                        "head_channels": config.head_channels}}
    return EncodeResult(os.fspath(output), frames, w, h, codec.params(), nbytes,
                        8 * nbytes / (frames * w * h), q.psnr, q.ssim, q.ssim_kind,
                        encode_seconds, stats)
