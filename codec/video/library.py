"""Encoding into a PFNR library: the first video makes the file, each later one is appended
(``codec.api.encode_clip(model="pfnr")`` and ``codec.api.append_video`` call this)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from codec.errors import InputError

if TYPE_CHECKING:
    from codec.api import EncodeResult


def encode_library(clip, output, library, *, size=None, epochs=None, time_budget=None,
                    bits=None, seed=0, threads=None, report=None, capacity=None,
                    **unused: Any) -> EncodeResult:
    """PFNR: a new library of one video (``library`` None, write ``output``) or a video
    appended to the library file ``library`` (``output`` is where the grown file goes)."""
    import torch

    from codec.api import EncodeResult, check_output_path, decode_video, model_size
    from codec.container import ContainerReader, append_sections, write_container
    from codec.metrics import quality
    from codec.runtime import seed_everything
    from codec.video.pfnr_codec import PFNRCodec, PFNRTrainOptions, fit_video, plan_config

    t0 = time.perf_counter()
    if unused:
        raise InputError(f"{', '.join('--' + k for k in unused)}: not pfnr options")
    if epochs is not None and epochs != int(epochs):
        raise InputError("--epochs must be a whole number for pfnr")
    defaults = PFNRTrainOptions()
    try:
        opts = PFNRTrainOptions(epochs=defaults.epochs if epochs is None else int(epochs),
                                time_budget=time_budget, seed=seed,
                                bits=defaults.bits if bits is None else bits,
                                capacity=defaults.capacity if capacity is None else capacity)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not 2 <= opts.bits <= 16:
        raise InputError("--bits must be in 2..16")
    t, h, w, _ = clip.frames.shape
    torch.set_num_threads(threads or os.cpu_count() or 1)
    seed_everything(seed)
    lib = None
    if library is None:
        check_output_path(output)
        try:
            config = plan_config(w, h, model_size("pfnr", size))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    else:
        from codec import registry

        with ContainerReader(library) as reader:
            if registry.by_id(reader.codec_id).cls is not PFNRCodec:
                raise InputError(f"{library}: not a pfnr library (it holds a "
                                 f"{registry.by_id(reader.codec_id).name} file)")
            lib = PFNRCodec.from_container(reader)
        config = lib.config
        first = lib.videos[0].info
        if (first.width, first.height) != (w, h):
            raise InputError(f"the library holds {first.width}x{first.height} videos; this one "
                             f"is {w}x{h} (use --resize {first.width}x{first.height})")
    entry, stats = fit_video(config, lib, clip.frames, clip.fps, opts, report)
    if lib is None:
        codec = PFNRCodec(config, [entry])
        header, sections = codec.to_container()
        nbytes = added = write_container(output, codec.codec_id, header, sections)
        index = 0
    else:
        index = len(lib.videos)
        before = os.path.getsize(library)
        sections = entry.sections(index, lib.known()[1], list(config.shared_shapes()))
        nbytes = append_sections(library, sections, output)
        added = nbytes - before  # what this video cost: its sections and the longer TOC
    encode_seconds = time.perf_counter() - t0
    path = output or library
    q = quality(clip.frames, decode_video(path, video=index))
    stats = {**stats, "video": index, "library_bytes": nbytes}
    return EncodeResult(os.fspath(path), t, w, h, stats["new_weights"], added,
                        8 * added / (t * w * h), q.psnr, q.ssim, q.ssim_kind, encode_seconds,
                        stats)
