"""The one encode pipeline, for every registered method: options, output checks, memory checks,
seeding, threads and device, checkpoints, fitting, writing, then decoding the written file with
the real decoder and measuring it.

    result = encode_video("clip.mp4", "clip.nirc", model="hnerv", options={"size": "50k"})
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codec import options as opt
from codec import presets, registry
from codec.checkpoint import checkpointing, file_identity
from codec.container import ContainerReader, append_sections, write_container
from codec.container.writer import BaseChanged, BaseState
from codec.decode import decode_video
from codec.errors import InputError
from codec.lock import writer_lock
from codec.memory import check_encode
from codec.method import FitContext, Method, Report
from codec.metrics import quality, quality_stream
from codec.presets import Plan
from codec.runtime import resolve_device, seed_everything
from codec.tensorpack import section_split
from codec.video.io import Geometry, probe, read_video
from codec.video.source import ArraySource, FileSource


@dataclass
class EncodeResult:
    """What an encode measured; every number comes from the written file."""

    path: str
    frames: int
    width: int
    height: int
    params: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    ssim_kind: str
    encode_seconds: float
    train: dict[str, Any] = field(default_factory=dict)
    sections: list[dict[str, Any]] = field(default_factory=list)
    """Bytes of each section of the file (and values and bits per value of tensors)."""

    def to_dict(self) -> dict[str, Any]:
        keys = ("frames", "width", "height", "params", "bytes", "bpp", "psnr", "ms_ssim",
                "ssim_kind", "encode_seconds", "sections")
        planned = self.train.get("plan", {})  # what the speed preset chose (codec.presets)
        return {k: getattr(self, k) for k in keys} | planned | {"output": self.path}


# -- steps shared by video and surface encodes -----------------------------------------------
def check_output_path(output, *inputs) -> None:
    """InputError unless ``output`` can be created: not a directory, in a writable folder, and
    not one of ``inputs`` (which writing would destroy)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(output)))
    if os.path.isdir(output):
        raise InputError(f"{output}: is a directory (give a file path)")
    for path in inputs:
        if os.path.exists(output) and os.path.exists(path) and os.path.samefile(output, path):
            raise InputError(f"{output}: the output path is the input file; choose another")
    if not os.path.isdir(folder):
        raise InputError(f"output directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"output directory {folder!r} is not writable")


def options_of(method: Method, options: Any) -> Any:
    """``options`` as ``method``'s options dataclass: an instance, or a dict of flag values
    (None: the default)."""
    if isinstance(options, method.Options):
        return options
    return opt.build(method.Options, dict(options or {}), method.name)


def given_options(method: Method, options: Any) -> set[str]:
    """The option names a caller set: a dict's keys with values (None: not given), or every
    field of an options dataclass instance."""
    if isinstance(options, method.Options):
        return {spec.name for spec in opt.specs(method.Options)}
    return {k for k, v in dict(options or {}).items() if v is not None}


def fit_device(method: Method, device: str):
    """The torch device a fit of ``method`` on ``device`` ("auto", "cpu", "cuda") runs on
    ("auto" picks CUDA only for a method that trains there)."""
    if device == "auto" and "cuda" not in method.devices:
        device = "cpu"
    return resolve_device(device)


def apply_preset(method: Method, options: Any, shape: tuple[int, int, int], device: str,
                 threads: int | None, preset: str | None,
                 notice: Callable[[str], None] | None) -> tuple[Any, Plan]:
    """The method's options with the epochs of ``preset`` (codec.presets) unless the caller
    gave ``--epochs`` or ``--time-budget``; tells ``notice`` (one line) when the encode is
    estimated to run longer than an hour or the preset had to cut most of its epochs.
    ``shape``: (frames, height, width)."""
    if preset is not None and preset not in presets.PRESETS:
        raise InputError(f"--preset must be one of {', '.join(presets.PRESETS)}, "
                         f"got {preset!r}")
    opts = options_of(method, options)
    opts, plan = presets.choose(method, opts, given_options(method, options),
                                shape[0] * shape[1] * shape[2], fit_device(method, device).type,
                                preset, threads or os.cpu_count() or 1)
    line = presets.hint(plan, method.name)
    if line is not None and notice is not None:
        notice(line)
    return opts, plan


def start_fit(method: Method, *, seed: int = 0, device: str = "auto",
              threads: int | None = None, report: Report | None = None,
              precision: str = "fp32") -> FitContext:
    """Threads, seeds (repeatable CPU encodes), the device and precision of a fit."""
    import torch

    from codec.fit import PRECISIONS

    if precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got "
                         f"{precision!r}")
    dev = fit_device(method, device)
    if dev.type not in method.devices:
        raise InputError(f"{method.name} trains on {' or '.join(method.devices)} only "
                         f"(--device {method.devices[0]})")
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    seed_everything(seed)
    return FitContext(device=dev, seed=seed, threads=threads, report=report,
                      precision=precision)


def fit_precision(ctx: FitContext):
    """The scope in which a fit's training steps run at ``ctx.precision`` (codec.fit)."""
    from codec.fit import precision

    return precision(ctx.device.type, ctx.precision)


def plan(method: Method, shape: tuple[int, ...], options: Any) -> Any:
    try:
        return method.plan(shape, options)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def write_codec(output, codec) -> int:
    """Write ``codec``'s container to ``output`` atomically; returns its bytes."""
    header, sections = codec.to_container()
    return write_container(output, codec.codec_id, header, sections)


def result_params(codec, stats: dict) -> int:
    """Parameters an encode reports: the method's own count when its statistics give one
    (a library counts what the video added), else everything its codec stores."""
    return int(stats.pop("params")) if "params" in stats else int(codec.params())


# -- video ------------------------------------------------------------------------------------
def check_input_fits(method: Method, options: Any, input, start: int, max_frames: int | None,
                     geometry) -> tuple[int, int, int]:
    """(frames, width, height) of the input; refuses, before decoding a frame, an input with no
    frames in range, a network larger than the raw frames it would code, or an encode that
    would not fit in memory."""
    count, width, height = probe(input, start, max_frames, geometry)
    if count == 0:
        raise InputError(f"{input}: no frames to encode (video is empty or --start is too "
                         "large)")
    params = method.params(options)
    frames = method.coded_frames(count, options)
    if frames is not None:
        raw = 3 * frames * width * height
        if params > raw:
            what = f"{frames} frames" if frames == count else f"a group of {frames} frames"
            raise InputError(f"--size {options.size}: {params:,} parameters is more than the "
                             f"{raw:,} samples of {what} of {width}x{height}; a smaller "
                             "network is needed to compress them")
    check_encode(method, count, width, height, input, params)
    return count, width, height


def encode_video(input, output, *, model: str | None = None, options: Any = None,
                 start: int = 0, max_frames: int | None = None,
                 crop: tuple[int, int] | None = None, resize: tuple[int, int] | None = None,
                 seed: int = 0, device: str = "auto", threads: int | None = None,
                 report: Report | None = None, checkpoint_every: float | None = None,
                 resume: bool = False, preset: str | None = None,
                 notice: Callable[[str], None] | None = None,
                 precision: str = "fp32") -> EncodeResult:
    """Fit ``model`` (default: the default video method) to a video file, write ``output``
    (.nirc), decode it back and measure it. ``options``: the method's options dataclass or a
    dict of its fields (unset epochs come from ``preset``, codec.presets; ``notice`` hears
    the estimate of an encode longer than an hour, or of one its preset cut short).
    ``checkpoint_every`` (seconds) saves the training state to ``OUTPUT.ckpt``; ``resume``
    continues from that file (codec.checkpoint)."""
    method = registry.method(model or registry.default_method("video"), "video")
    opts = options_of(method, options)
    check_output_path(output, input)
    geometry = Geometry(crop=crop, resize=resize)
    count, width, height = check_input_fits(method, opts, input, start, max_frames, geometry)
    opts, chosen = apply_preset(method, options, (count, height, width), device, threads,
                                preset, notice)
    method.check_run(opts, checkpointing=checkpoint_every is not None or resume)

    def key() -> dict[str, Any]:
        return {"command": "encode", "model": method.name, "input": file_identity(input),
                "start": start, "max_frames": max_frames, "crop": crop, "resize": resize,
                "options": method.key_options(opts), "seed": seed}

    with checkpointing(output, checkpoint_every, resume, key):
        if method.streamed:  # group by group, never all in memory
            source = FileSource(os.fspath(input), start, max_frames, geometry)
        else:
            source = read_video(input, start=start, max_frames=max_frames, geometry=geometry)
        return _encode(method, opts, source, output, (count, height, width), chosen,
                       seed=seed, device=device, threads=threads, report=report,
                       precision=precision)


def encode_clip(clip, output, *, model: str | None = None, options: Any = None, seed: int = 0,
                device: str = "auto", threads: int | None = None,
                report: Report | None = None, preset: str | None = None,
                notice: Callable[[str], None] | None = None,
                precision: str = "fp32") -> EncodeResult:
    """Encode already-decoded frames (a :class:`codec.video.io.Clip`) into ``output``."""
    method = registry.method(model or registry.default_method("video"), "video")
    shape = tuple(clip.frames.shape[:3])
    opts, chosen = apply_preset(method, options, shape, device, threads, preset, notice)
    source = ArraySource(clip.frames, clip.fps) if method.streamed else clip
    return _encode(method, opts, source, output, shape, chosen, seed=seed, device=device,
                   threads=threads, report=report, precision=precision)


def _encode(method: Method, opts: Any, source, output, shape: tuple[int, int, int],
            chosen: Plan, *, seed: int, device: str, threads: int | None,
            report: Report | None, precision: str = "fp32") -> EncodeResult:
    """``shape``: (frames, height, width) of ``source`` (from the headers for a streamed
    source, which is read only while fitting)."""
    t0 = time.perf_counter()
    check_output_path(output)
    ctx = start_fit(method, seed=seed, device=device, threads=threads, report=report,
                    precision=precision)
    config = plan(method, tuple(shape), opts)
    with fit_precision(ctx):
        codec, stats = method.fit(source, config, opts, ctx)
    nbytes = write_codec(output, codec)
    seconds = time.perf_counter() - t0
    stats = {**stats, "plan": chosen.to_dict()}
    if method.library:  # a new library: its first video
        stats = {**stats, "video": 0, "library_bytes": nbytes}
    return _measured(method, codec, stats, source, output, nbytes, nbytes, seconds,
                     video=stats.get("video"))


def _measured(method: Method, codec, stats: dict, source, path, nbytes: int, added: int,
              seconds: float, video: int | None = None) -> EncodeResult:
    """The result of an encode, its quality measured on frames the real decoder gives from the
    written file (``video``: which video of a library)."""
    info = codec.video
    with ContainerReader(path) as reader:
        split = section_split(reader)
        if method.streamed:  # stream both: a long clip is never held whole
            decoded = registry.read(reader)
    if method.streamed:
        q = quality_stream(source.frames(), decoded.render())
    else:
        q = quality(source.frames, decode_video(path, video=video))
    params = result_params(codec, stats)
    t, w, h = info.frames, info.width, info.height
    return EncodeResult(os.fspath(path), t, w, h, params, added, 8 * added / (t * w * h),
                        q.psnr, q.ssim, q.ssim_kind, seconds, stats, split)


def append_video(library, input, *, start: int = 0, max_frames: int | None = None,
                 crop=None, resize=None, output=None, options: Any = None, seed: int = 0,
                 device: str = "auto", threads: int | None = None,
                 report: Report | None = None, checkpoint_every: float | None = None,
                 resume: bool = False, preset: str | None = None,
                 notice: Callable[[str], None] | None = None,
                 precision: str = "fp32", wait: float | None = None) -> EncodeResult:
    """Fit one more video into a library file (a method with ``library``), appending its
    sections (atomically; earlier bytes unchanged; to ``output`` when given). ``bytes``/``bpp``
    of the result are what the append added; ``train["library_bytes"]`` is the whole file.

    The file written (``output`` or the library) is locked for the whole append
    (``codec.lock``): another writer holding it fails this call at once, or, with ``wait``
    seconds (``math.inf``: no limit), this call queues behind it and then reads the library as
    that writer left it. Before the new file replaces the old one, the library must still be
    byte-for-byte the one training started from; if another program changed it, nothing is
    written and the trained state is kept in ``OUTPUT.ckpt``, for ``resume`` to re-fit against
    the library as it is then."""
    if output is not None:
        check_output_path(output, input)
    target = output or library
    if not os.path.isfile(library):  # its own one-line error, not one about the lock file
        ContainerReader(library).close()
    with writer_lock(target, wait=wait, verb="appended to", notice=notice):
        with ContainerReader(library) as reader:
            entry = registry.by_id(reader.codec_id)
            method = registry.method(entry.name) if entry.kind == "video" else None
            if method is None or not method.library:
                raise InputError(f"{library}: not a library file (it holds a {entry.name} "
                                 "file)")
            lib = method.codec.from_container(reader)
            base = BaseState.read(reader)
        opts = options_of(method, options)
        geometry = Geometry(crop=crop, resize=resize)
        count, width, height = check_input_fits(method, opts, input, start, max_frames,
                                                geometry)
        opts, chosen = apply_preset(method, options, (count, height, width), device, threads,
                                    preset, notice)

        def key() -> dict[str, Any]:  # the library's state is the checkpoint's base
            return {"command": "append", "library": os.path.abspath(library),
                    "input": file_identity(input), "start": start, "max_frames": max_frames,
                    "crop": crop, "resize": resize, "options": method.key_options(opts),
                    "seed": seed}

        with checkpointing(target, checkpoint_every, resume, key, base=base.to_list(),
                           always=True, notice=notice) as ckpt:
            clip = read_video(input, start=start, max_frames=max_frames, geometry=geometry)
            t0 = time.perf_counter()
            ctx = start_fit(method, seed=seed, device=device, threads=threads, report=report,
                            precision=precision)
            with fit_precision(ctx):
                codec, sections, stats = method.append(lib, clip, opts, ctx)
            try:
                nbytes = append_sections(library, sections, output, expect=base)
            except BaseChanged as exc:
                if not ckpt.keep_final():
                    raise
                raise BaseChanged(f"{exc}; nothing was written, and this append's training "
                                  f"is kept in {ckpt.path}: run the same command with --resume "
                                  "to re-fit it against the library as it is now") from None
            seconds = time.perf_counter() - t0
    # measured on the file as written, with the lock already free for the next writer
    stats = {**stats, "plan": chosen.to_dict(), "library_bytes": nbytes}
    return _measured(method, codec, stats, clip, target, nbytes, nbytes - base.size, seconds,
                     video=stats["video"])
