"""What a model is to the rest of nircodec: one :class:`Method` subclass, registered with
:func:`codec.registry.register_method`. The command line (``--model``/``--method`` choices and
flag groups), ``rd``, ``info``, the memory check, the golden files and the contract tests read
the registry; nothing else lists model names.

A video method fits a clip (or, when ``streamed``, a :class:`codec.video.source` frame source
read group by group) and returns its codec; the encode pipeline (``codec.encode``) seeds, checks
the output path, writes the file, decodes it and measures it. A surface method (``recon``) fits
normalised points and returns a codec that meshes, or, for mesh-only methods, a mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from codec.options import jsonable, parse_count

Report = Callable[[float, dict], None]


@dataclass
class FitContext:
    """Where and how a fit runs (the pipeline's part of an encode)."""

    device: Any = "cpu"  # torch.device
    seed: int = 0
    threads: int = 1
    report: Report | None = None
    precision: str = "fp32"  # of the training steps (codec.fit.precision)
    extra: dict[str, Any] = field(default_factory=dict)
    """Kind-specific settings (surfaces: ``purpose`` "encode" or "mesh", ``resolution``)."""


class Method:
    """One model, both directions. Subclasses set the class attributes and override what
    applies to their kind."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "video" or "surface"
    codec: ClassVar[type | None] = None
    """The registered codec class of the files it writes (None: a mesh-only method)."""
    Options: ClassVar[type]
    """Frozen dataclass of its options (``codec.options``); fields = command-line flags."""
    summary: ClassVar[str] = ""
    """One phrase for ``--model``'s help."""
    default: ClassVar[bool] = False
    """The method used when none is named (one per kind)."""
    streamed: ClassVar[bool] = False
    """Video: ``fit`` takes a frame source read a group at a time, never the whole clip."""
    library: ClassVar[bool] = False
    """Video: a file holds several videos and ``append`` adds one."""
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """Where it can train."""
    tiny: ClassVar[dict[str, Any]] = {}
    """Options of a fast smoke encode of a tiny input (the contract tests use them)."""

    # -- memory model (codec.memory): upper bounds fitted to tools/bench_memory.py -----------
    held_copies: ClassVar[int] = 3
    """uint8 copies of the whole clip it keeps (input, training copy, decoded frames)."""
    work_per_pixel: ClassVar[int] = 6000
    """Bytes per pixel of one frame for activations, gradients and decoded batches."""
    networks_held: ClassVar[int] = 1
    """Networks of ``--size`` parameters in memory at once."""

    # -- time model (codec.presets): fitted to tools/bench_presets.py -------------------------
    epoch_cost: ClassVar[float | None] = None
    """Video: seconds of one training epoch per pixel of the clip (all frames) with a network
    of ``cost_params`` parameters on the reference machine (2 CPU cores); None: no estimate,
    and presets scale the default epochs only."""
    cost_params: ClassVar[int] = 100_000
    cost_exponent: ClassVar[float] = 0.0
    """Epoch cost grows as (parameters / ``cost_params``) ** ``cost_exponent``."""
    min_epochs: ClassVar[float] = 1.0
    """The fewest epochs a preset's time cap may leave (below 1: the model takes fractions of
    a pass over the clip)."""
    measure_cost: ClassVar[float] = 3e-6
    """Video: seconds per pixel of the clip for writing the file, decoding it and measuring
    PSNR and MS-SSIM on the reference machine."""

    # -- encoding ----------------------------------------------------------------------------
    def plan(self, shape: tuple[int, ...], options: Any) -> Any:
        """The codec's config for an input of ``shape`` ((frames, height, width) for video)
        under ``options`` (its ``size`` above all). ValueError for impossible budgets."""
        raise NotImplementedError

    def fit(self, source: Any, config: Any, options: Any, ctx: FitContext) -> tuple[Any, dict]:
        """Train on ``source`` and return (codec instance, training statistics)."""
        raise NotImplementedError

    def check_run(self, options: Any, *, checkpointing: bool) -> None:
        """InputError for option combinations the pipeline cannot run (e.g. checkpoints of
        parallel workers)."""

    def coded_frames(self, frames: int, options: Any) -> int | None:
        """Frames one network of ``--size`` codes (None: it is shared by later inputs, so no
        limit applies): a network larger than their samples cannot compress them."""
        return frames

    def params(self, options: Any) -> int:
        """Parameters ``--size`` asks for."""
        return parse_count(options.size)

    def append(self, library: Any, clip: Any, options: Any, ctx: FitContext
               ) -> tuple[Any, list, dict]:
        """Library methods: fit ``clip`` as the next video of ``library`` (its codec, read from
        the file) → (the library with it, the sections to append, statistics with "video")."""
        raise NotImplementedError

    def key_options(self, options: Any) -> dict[str, Any]:
        """The options that decide the bytes it writes (a checkpoint resumes only under the
        same ones)."""
        return jsonable(options)
