"""Python API: ``encode_video`` and ``decode_video`` (what the CLI calls)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codec.errors import ContainerError, InputError

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_count(text: str | int | float) -> int:
    """``"0.1M"`` -> 100000, ``"50k"`` -> 50000, ``"20000"`` -> 20000."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _SIZE.match(text)
        if not m:
            raise InputError(f"size must be a count like 0.1M, 50k or 20000, got {text!r}")
        value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if not 1_000 <= value <= 1e9:
        raise InputError(f"size {text!r} is outside 1k..1000M parameters")
    return round(value)


@dataclass
class EncodeResult:
    """What ``encode_video`` measured; every number comes from the written file."""

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

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "frames",
                "width",
                "height",
                "params",
                "bytes",
                "bpp",
                "psnr",
                "ms_ssim",
                "ssim_kind",
                "encode_seconds",
            )
        } | {"output": self.path}


def encode_video(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start: int = 0,
    max_frames: int | None = None,
    crop: tuple[int, int] | None = None,
    resize: tuple[int, int] | None = None,
    checkpoint_every: float | None = None,
    resume: bool = False,
    **options: Any,
) -> EncodeResult:
    """Fit a model to a video file, write ``output`` (.nirc), decode it back and measure it.

    ``options`` are those of :func:`encode_clip` (size, epochs, time_budget, bits, ...).
    ``checkpoint_every`` (seconds) saves the training state to ``OUTPUT.ckpt``; ``resume``
    continues from that file (codec.checkpoint).
    """
    from codec.checkpoint import checkpointing, file_identity
    from codec.video.io import Geometry, read_video

    check_output_path(output, input)
    geometry = Geometry(crop=crop, resize=resize)
    model = options.get("model", "hnerv")
    check_input_fits(model, input, start, max_frames, geometry, options.get("size"),
                     options.get("gop"))

    def key() -> dict[str, Any]:
        return {"command": "encode", "input": file_identity(input), "start": start,
                "max_frames": max_frames, "crop": crop, "resize": resize,
                "options": _key_options(options)}

    if model == "nirvana" and options.get("workers", 1) > 1 and (checkpoint_every is not None
                                                                 or resume):
        raise InputError("--checkpoint-every and --resume need --workers 1 for nirvana")
    with checkpointing(output, checkpoint_every, resume, key):
        if model == "nirvana":  # streamed group by group, never all in memory
            from codec.video.gop import FileSource, encode_stream

            source = FileSource(os.fspath(input), start, max_frames, geometry)
            return encode_stream(source, source.fps(), output, **options)
        clip = read_video(input, start=start, max_frames=max_frames, geometry=geometry)
        return encode_clip(clip, output, **options)


def _key_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that shape an encode's result (a checkpoint is only resumed under the same
    ones); where it runs and how it reports do not."""
    return {k: v for k, v in sorted(options.items())
            if k not in ("report", "device", "threads") and v is not None}


def check_input_fits(model: str, input, start: int, max_frames: int | None, geometry,
                     size: str | int | None = None, gop: int | None = None) -> None:
    """Refuse, before decoding a frame, an input with no frames in range, a network larger
    than the raw frames it would code, or an encode that would not fit in memory."""
    from codec.memory import check_encode
    from codec.video.io import probe

    count, width, height = probe(input, start, max_frames, geometry)
    if count == 0:
        raise InputError(f"{input}: no frames to encode (video is empty or --start is too "
                         "large)")
    if model not in MODELS:
        return
    params = model_size(model, size)
    if model != "pfnr":  # a pfnr network is shared by the videos appended later
        # nirvana's size is one group's network; the others code the whole clip
        frames = min(count, gop or 3) if model == "nirvana" else count
        raw = 3 * frames * width * height
        if params > raw:
            what = f"a group of {frames} frames" if model == "nirvana" else f"{frames} frames"
            raise InputError(f"--size {size}: {params:,} parameters is more than the {raw:,} "
                             f"samples of {what} of {width}x{height}; a smaller network is "
                             "needed to compress them")
    check_encode(model, count, width, height, input, params)


MODELS = ("hnerv", "hashgrid", "nirvana", "pfnr")
DEFAULT_SIZE = {"hnerv": "0.1M", "hashgrid": "0.1M", "nirvana": "10k", "pfnr": "0.3M"}


def model_size(model: str, size: str | int | None) -> int:
    """Parameters of ``--size`` (for nirvana: one group's network), ``DEFAULT_SIZE`` if None."""
    return parse_count(size if size is not None else DEFAULT_SIZE[model])


def model_defaults(model: str) -> tuple[float, int | None]:
    """(epochs, bits) a model trains with when they are not given: the defaults of its training
    options dataclass, so they are written down once (nirvana has no bit depth: --lmbda)."""
    if model == "hnerv":
        from codec.video.train import TrainOptions

        return TrainOptions.epochs, TrainOptions.weight_bits
    if model == "nirvana":
        from codec.video.nirvana_fit import NirvanaTrainOptions

        return NirvanaTrainOptions.epochs, None
    if model == "pfnr":
        from codec.video.pfnr_codec import PFNRTrainOptions

        return PFNRTrainOptions.epochs, PFNRTrainOptions.bits
    from codec.video.hashgrid_codec import FieldTrainOptions

    return FieldTrainOptions.epochs, FieldTrainOptions.bits


def encode_clip(
    clip,
    output: str | os.PathLike,
    *,
    model: str = "hnerv",
    size: str | int | None = None,
    epochs: float | None = None,
    time_budget: float | None = None,
    bits: int | None = None,
    embed_bits: int | None = None,
    qat_epochs: int | None = None,
    loss: str | None = None,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    report=None,
    **model_options: Any,
) -> EncodeResult:
    """Encode already-decoded frames (a :class:`codec.video.io.Clip`) into ``output``.

    ``model``: one of MODELS (default "hnerv"); ``size``: see :func:`model_size`. ``epochs``:
    HNeRV epochs, or passes over all pixels for hashgrid (defaults 300 / 20). ``bits``: HNeRV
    weight bits (default 8) or the bit depth of the widest hash-grid level (default 6).
    ``embed_bits``, ``qat_epochs`` and ``loss`` are HNeRV options; ``model_options`` go to
    nirvana (gop, lmbda, intra_period, workers) or pfnr (capacity).
    """
    import torch

    from codec.container import write_container
    from codec.metrics import quality
    from codec.runtime import resolve_device, seed_everything

    t0 = time.perf_counter()
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if model == "nirvana":
        from codec.video.gop import ArraySource, encode_stream

        return encode_stream(ArraySource(clip.frames), clip.fps, output, size=size,
                              epochs=epochs, time_budget=time_budget, bits=bits,
                              embed_bits=embed_bits, qat_epochs=qat_epochs, loss=loss,
                              seed=seed, device=device, threads=threads, report=report,
                              **model_options)
    if model == "pfnr":
        from codec.video.library import encode_library

        return encode_library(clip, output, None, size=size, epochs=epochs,
                               time_budget=time_budget, bits=bits, seed=seed, threads=threads,
                               report=report, **model_options)
    if model_options:
        flags = ", ".join("--" + k.replace("_", "-") for k in model_options)
        raise InputError(f"{flags}: options of another model (nirvana or pfnr)")
    target = model_size(model, size)
    default_epochs, default_bits = model_defaults(model)
    epochs = default_epochs if epochs is None else epochs
    bits = default_bits if bits is None else bits
    if not 2 <= bits <= 16:
        raise InputError("--bits must be in 2..16")
    check_output_path(output)
    t, h, w, _ = clip.frames.shape
    torch.set_num_threads(threads or os.cpu_count() or 1)
    seed_everything(seed)
    dev = resolve_device(device)
    if model == "hnerv":
        codec, stats = _fit_hnerv(clip, target, epochs, time_budget, bits, embed_bits,
                                  qat_epochs, loss, seed, dev, report)
    else:
        hnerv_only = {"--embed-bits": embed_bits, "--qat-epochs": qat_epochs, "--loss": loss}
        given = [k for k, v in hnerv_only.items() if v is not None]
        if given:
            raise InputError(f"{', '.join(given)}: HNeRV options, not used by hashgrid")
        codec, stats = _fit_hashgrid(clip, target, epochs, time_budget, bits, seed, dev, report)
    header, sections = codec.to_container()
    nbytes = write_container(output, codec.codec_id, header, sections)
    encode_seconds = time.perf_counter() - t0
    decoded = decode_video(output)  # measure what a user gets: the real decoder on the file
    q = quality(clip.frames, decoded)
    return EncodeResult(
        os.fspath(output),
        t,
        w,
        h,
        codec.params(),
        nbytes,
        8 * nbytes / (t * w * h),
        q.psnr,
        q.ssim,
        q.ssim_kind,
        encode_seconds,
        stats,
    )


def _fit_hnerv(clip, target, epochs, time_budget, bits, embed_bits, qat_epochs, loss, seed,
               device, report):
    from codec.video.hnerv import HNeRVConfig, plan_strides, solve_channels
    from codec.video.hnerv_codec import HNeRVCodec
    from codec.video.train import TrainOptions

    if epochs != int(epochs):
        raise InputError("--epochs must be a whole number for hnerv")
    given = {"loss": loss, "qat_epochs": qat_epochs, "embed_bits": embed_bits}
    try:
        opts = TrainOptions(
            epochs=int(epochs),
            time_budget=time_budget,
            weight_bits=bits,
            seed=seed,
            **{k: v for k, v in given.items() if v is not None},
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not 2 <= opts.embed_bits <= 16:
        raise InputError("--embed-bits must be in 2..16")
    t, h, w, _ = clip.frames.shape
    strides, embed_hw = plan_strides(w, h, target)
    config = solve_channels(HNeRVConfig(strides=strides, embed_hw=embed_hw), t, target)
    return HNeRVCodec.fit(clip.frames, clip.fps, config, opts, device=device, report=report)


def _fit_hashgrid(clip, target, epochs, time_budget, bits, seed, device, report):
    from codec.video.hashgrid_codec import FieldTrainOptions, HashGridCodec, plan_config

    _, h, w, _ = clip.frames.shape
    try:
        opts = FieldTrainOptions(epochs=epochs, time_budget=time_budget, bits=bits, seed=seed)
        config = plan_config(w, h, target)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return HashGridCodec.fit(clip.frames, clip.fps, config, opts, device=device, report=report)


def append_video(library: str | os.PathLike, input: str | os.PathLike, *, start: int = 0,
                 max_frames: int | None = None, crop=None, resize=None,
                 output: str | os.PathLike | None = None, **options: Any) -> EncodeResult:
    """Fit one more video into a PFNR library file, appending its sections in place
    (atomically; earlier bytes unchanged). ``bytes``/``bpp`` of the result are what the append
    added to the file; ``train["library_bytes"]`` is the whole file."""
    from codec.checkpoint import checkpointing, file_identity
    from codec.video.io import Geometry, read_video
    from codec.video.library import encode_library

    if output is not None:
        check_output_path(output, input)
    geometry = Geometry(crop=crop, resize=resize)
    check_input_fits("pfnr", input, start, max_frames, geometry)
    every, resume = options.pop("checkpoint_every", None), options.pop("resume", False)
    options = {k: v for k, v in options.items() if v is not None}

    def key() -> dict[str, Any]:
        return {"command": "append", "library": file_identity(library),
                "input": file_identity(input), "start": start, "max_frames": max_frames,
                "crop": crop, "resize": resize, "options": _key_options(options)}

    with checkpointing(output or library, every, resume, key):
        clip = read_video(input, start=start, max_frames=max_frames, geometry=geometry)
        return encode_library(clip, output, library, **options)


def decode_video(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    frames: slice | None = None,
    device: str = "cpu",
    video: int | None = None,
) -> np.ndarray | None:
    """Decode a video ``.nirc``. Without ``output``: returns (T, H, W, 3) uint8 frames. With
    ``output`` (directory, .y4m or .mp4): writes them there and returns None."""
    from codec import registry
    from codec.container import ContainerReader
    from codec.runtime import resolve_device
    from codec.video.io import write_frames
    from codec.video.meta import VideoInfo

    with ContainerReader(path) as reader:
        entry = registry.by_id(reader.codec_id)
        if entry.kind != "video":
            raise InputError(f"{path}: holds a {entry.name} file, not a video")
        if getattr(entry.cls, "library", False):  # a PFNR library: one of its videos
            model = entry.cls.from_container(reader, 0 if video is None else video)
            indices = _select(model.video.frames, frames, path)
        elif video not in (None, 0):
            raise InputError(f"{path}: --video picks a video of a pfnr library; this is a "
                             f"{entry.name} file with one video")
        elif getattr(entry.cls, "random_access", False):  # read only the sections needed
            indices = _select(VideoInfo.from_dict(reader.header.get("video")).frames, frames,
                              path)
            model = entry.cls.from_container(reader, indices)
        else:
            model = entry.cls.from_container(reader)
            indices = _select(model.video.frames, frames, path)
    video = model.video
    rendered = model.render(indices, device=resolve_device(device))
    if output is None:
        return collect_frames(rendered, len(indices), video.height, video.width)
    write_frames(output, rendered, video.fps, (video.width, video.height))
    return None


def collect_frames(frames, count: int, height: int, width: int) -> np.ndarray:
    """(count, H, W, 3) uint8 from a frame iterator, copied into one array as they come: a
    list of rendered frames would keep each one's allocation alive between the renderer's
    large temporaries, and a long clip's heap then grows to several times its size."""
    out = np.empty((count, height, width, 3), np.uint8)
    n = 0
    for n, frame in enumerate(frames, 1):
        out[n - 1] = frame
    if n != count:
        raise ContainerError(f"the decoder gave {n} frames, not {count}")
    return out


def _select(total: int, frames: slice | None, path) -> range:
    """Frame indices a ``--frames`` slice picks from ``total``; errors for empty or
    out-of-range selections."""
    if frames is None:
        return range(total)
    stop = frames.stop
    if stop is not None and stop > total:
        raise InputError(f"{path}: --frames ends at {stop}, past the last frame (the file has "
                         f"{total} frames: 0..{total - 1})")
    indices = range(total)[frames]
    if len(indices) == 0:
        raise InputError(f"{path}: the frame range selects no frames (the file has {total})")
    return indices


def parse_range(text: str) -> slice:
    """``"A:B"`` (B exclusive), ``"A:"``, ``":B"`` or ``"N"`` (one frame) -> slice."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            return slice(int(a) if a else None, int(b) if b else None)
        n = int(text)
        return slice(n, n + 1)
    except ValueError:
        raise InputError(f"--frames must look like A:B, got {text!r}") from None


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
