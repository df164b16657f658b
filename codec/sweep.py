"""Rate–distortion sweeps over many inputs, on Ray.

``nircodec rd`` runs every (input, model, rate point) and every anchor ladder of an input as one
Ray task. With no address Ray starts embedded on this machine for the length of the sweep (no
command to run first); ``--address HOST:PORT`` (or ``RAY_ADDRESS``) joins a running cluster.

* **Data.** The driver reads each input once (with ``--max-frames``/``--crop``/``--resize``)
  and puts its frames in Ray's object store; tasks on any node read them from there (zero-copy
  on the driver's node), so workers need neither the input files nor a shared filesystem.
  A task sends back its measurements and the bytes of the ``.nirc`` it wrote; the driver
  writes both into the output directory.
* **Failures.** A task whose worker dies (killed, machine lost) is run again, up to
  ``retries`` times. A point that fails for its own reasons (e.g. a size too small for the
  frame) is not retried: the sweep finishes every other point and then reports it.
* **Cache.** A point is written to ``POINTS/CURVE__LABEL.json`` (atomically) when it is
  complete, keyed by its source frames, seed, options and training length
  (:func:`codec.rd.point_key`); a rerun loads what is there and runs only what is missing,
  so an interrupted sweep resumes and a sweep with more points computes only the new ones.
* **Outputs.** Per input, what ``codec.rd.write_outputs`` writes (one input: into the output
  directory itself; several: into one folder per input), and for several inputs the data-set
  view (:mod:`codec.dataset`).
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codec import rd, registry
from codec.errors import InputError

FAULT_ENV = "NIRCODEC_RD_FAULT_ONCE"
"""Fault injection for tests: a directory; the first task that finds no marker file there
creates one and kills its own worker process (a task whose worker dies is retried)."""


@dataclass(frozen=True)
class Engine:
    """Where and how the tasks run."""

    address: str | None = None
    """a running Ray cluster (``HOST:PORT``); None: ``RAY_ADDRESS``, else an embedded one"""
    task_cpus: float = 1.0
    """CPUs each task reserves (its PyTorch threads: the whole number, at least 1)"""
    task_gpus: float = 0.0
    """GPUs each task reserves (fractions let small fits share one); > 0 trains on CUDA"""
    retries: int = 3
    """runs again of a task whose worker died"""

    def __post_init__(self) -> None:
        if not self.task_cpus > 0:
            raise InputError(f"--task-cpus must be > 0, got {self.task_cpus:g}")
        if not self.task_gpus >= 0:
            raise InputError(f"--task-gpus must be >= 0, got {self.task_gpus:g}")

    @property
    def threads(self) -> int:
        return max(1, int(self.task_cpus))

    @property
    def device(self) -> str:
        return "cuda" if self.task_gpus > 0 else "cpu"


VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v", ".ts", ".mpg",
                  ".mpeg", ".flv", ".ivf", ".264", ".265", ".h264", ".hevc")


def surface_suffixes() -> tuple[str, ...]:
    """What recon reads: point clouds and meshes (loaded here, not at import: codec never
    imports recon at module level)."""
    from recon.pointcloud import MESH_FORMATS, POINT_FORMATS

    return POINT_FORMATS + MESH_FORMATS


def kind_of(path: Path) -> str:
    """"surface" for point clouds and meshes, else "video"."""
    return "surface" if path.suffix.lower() in surface_suffixes() else "video"


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (their video, point-cloud and mesh files, sorted) and glob patterns
    (``clips/*.mp4``, ``data/**/*.ply``), in order, each file once. InputError for a missing
    file, a pattern or folder that finds nothing, or videos mixed with surfaces."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if any(ch in item for ch in "*?[") and not path.exists():
            found = [Path(m) for m in sorted(glob.glob(item, recursive=True))]
            found = [f for f in found if f.is_file()]
            if not found:
                raise InputError(f"{item}: the pattern matches no file")
        elif path.is_dir():
            known = VIDEO_SUFFIXES + surface_suffixes()
            found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in
                           known)
            if not found:
                raise InputError(f"{item}: no video, point cloud or mesh files in this folder")
        elif path.is_file():
            found = [path]
        else:
            raise InputError(f"{item}: no such file or folder")
        out += found
    first: dict[str, Path] = {}
    for p in out:
        first.setdefault(os.path.realpath(p), p)
    unique = list(first.values())
    if len({kind_of(p) for p in unique}) > 1:
        raise InputError("the inputs mix videos with point clouds or meshes; sweep them "
                         "separately")
    return unique


def input_names(paths: list[Path]) -> list[str]:
    """A short, unique folder name per input: its stem, with its parent's name or a number
    where stems repeat."""
    stems = [p.stem or "input" for p in paths]
    names = [s if stems.count(s) == 1 else f"{p.parent.name}_{s}" for s, p in
             zip(stems, paths, strict=True)]
    return [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]


# -- Ray -----------------------------------------------------------------------------------------
_TOKEN = secrets.token_hex(32)


@contextmanager
def ray_session(engine: Engine, quiet: bool = False) -> Iterator[Any]:
    """The ``ray`` module, connected: to ``engine.address`` / ``RAY_ADDRESS`` when given (left
    running afterwards), else to a Ray started here for the length of the block (shut down
    after). An embedded Ray authenticates with a fresh token kept in this process's
    environment (never written to disk). What Ray prints for the driver (e.g. that a worker
    died and its task is retried) goes to stderr, or nowhere when ``quiet``: stdout stays
    free for ``--json``."""
    with open(os.devnull, "w") if quiet else nullcontext(sys.stderr) as sink, \
            redirect_stdout(sink):
        yield from _ray_session(engine)


def _ray_session(engine: Engine) -> Iterator[Any]:
    address = engine.address or os.environ.get("RAY_ADDRESS") or None
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "PYTHONPATH")}
    if not address and saved["RAY_AUTH_MODE"] is None and saved["RAY_AUTH_TOKEN"] is None:
        os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray's config: set before it loads
        os.environ["RAY_AUTH_TOKEN"] = _TOKEN  # Ray caches it: one per process
    if not address:  # embedded workers import what this process imports (its models too)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            dict.fromkeys(os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)))
    try:
        import ray
        from ray._raylet import Config
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise InputError("nircodec rd needs Ray: pip install 'ray>=2.9'") from None
    Config.initialize("")  # a Ray loaded earlier in this process re-reads the environment
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.ERROR, "configure_logging": True}
    try:
        if address:
            _probe(address)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot join the Ray cluster at {address}: "
                                 f"{_first_line(exc)}") from None
        else:
            ray.init(num_cpus=os.cpu_count() or 1, num_gpus=_cuda_count(), **kwargs)
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _probe(address: str) -> None:
    """InputError at once when nothing listens at a ``HOST:PORT`` address (Ray itself would
    retry for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "/" in address:
        return  # "auto", ray:// and other forms: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"cannot join the Ray cluster at {address}: "
                         f"{exc.strerror or exc}") from None


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _first_line(exc: BaseException) -> str:
    exc = getattr(exc, "cause", None) or exc  # a task's own exception, not Ray's wrapper
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- tasks ---------------------------------------------------------------------------------------
def _inject_fault() -> None:
    folder = os.environ.get(FAULT_ENV)
    if not folder:
        return
    try:
        fd = os.open(os.path.join(folder, "fault-injected"), os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(1)  # the worker dies mid-task, as when its machine is lost


class SweepKind:
    """What the engine needs to know of one kind of input (videos here; surfaces in
    ``recon.rd``): how to read an input, its jobs and cache keys, and the Ray task that
    computes points. ``task(payload, spec, curve, labels, threads, device, models)`` returns,
    per label, (label, the point's fields, the bytes of its .nirc or None, an error line or
    None); it must be a module-level function (Ray ships it to the workers by reference), and
    it passes ``models`` (:func:`codec.registry.shipment`) to :func:`run_points`."""

    point: type = rd.RdPoint
    task: Callable[..., list] = staticmethod(lambda *a: [])

    def check(self, spec: Any) -> None:
        """InputError for a spec that cannot run (before any work starts)."""

    def load(self, spec: Any) -> tuple[Any, str]:
        """(what the tasks receive, through the object store; the source's cache key)."""
        raise NotImplementedError

    def jobs(self, spec: Any) -> list[tuple[str, str]]:
        raise NotImplementedError

    def ladder(self, spec: Any, curve: str) -> bool:
        """Whether ``curve``'s points run as one task (an anchor's ladder)."""
        return False

    def key(self, spec: Any, base: str, curve: str, label: str) -> str:
        """What a cached point must match (:func:`codec.rd.point_key`)."""
        return rd.point_key(spec, base, curve, label)

    def more(self, spec: Any, points: list) -> list[tuple[str, str]]:
        """Points to add once an input's tasks are all done (none by default)."""
        return []

    def cost(self, spec: Any, curve: str, label: str) -> float:
        """A point's relative cost: an input's costliest points are sent first, so the
        cheap ones fill the gaps at the end instead of one long point running alone."""
        return 0.0


def video_task(payload, spec: rd.SweepSpec, curve: str, labels: list[str], threads: int,
               device: str, models: list) -> list[tuple[str, dict | None, bytes | None,
                                                       str | None]]:
    """Ray task: the points ``labels`` of ``curve`` on the frames ``payload`` = (frames, fps).
    """
    from codec.video.io import Clip

    clip = Clip(*payload)

    def one(label: str, folder: Path) -> tuple[rd.RdPoint, bytes | None]:
        if curve in spec.anchors:
            return rd.anchor_point(clip, curve, label), None
        path = folder / "point.nirc"
        point = rd.inr_point(spec, clip, curve, label, path, threads=threads, device=device)
        return point, path.read_bytes()

    return run_points(one, labels, threads, models)


def run_points(one: Callable[[str, Path], tuple[Any, bytes | None]], labels: list[str],
               threads: int, models: list) -> list[tuple[str, dict | None, bytes | None,
                                                         str | None]]:
    """A task's body: ``one(label, scratch folder)`` → (point, .nirc bytes) for each label,
    a point's own failure (InputError, ValueError, RuntimeError) kept as its error line.
    ``models``: the sweep's models, registered here first when this worker lacks them."""
    import torch

    _inject_fault()
    registry.adopt(models)
    torch.set_num_threads(threads)
    out = []
    for label in labels:
        try:
            with tempfile.TemporaryDirectory(prefix="nircodec-rd-") as tmp:
                point, data = one(label, Path(tmp))
            out.append((label, asdict(point), data, None))
        except (InputError, ValueError, RuntimeError) as exc:
            out.append((label, None, None, _first_line(exc)))
    return out


class VideoSweep(SweepKind):
    point = rd.RdPoint
    task = staticmethod(video_task)

    def check(self, spec: rd.SweepSpec) -> None:
        rd.check_spec(spec)

    def load(self, spec: rd.SweepSpec) -> tuple[Any, str]:
        clip = rd.read_clip(spec)
        return (clip.frames, clip.fps), rd.source_key(spec, clip.frames)

    def jobs(self, spec: rd.SweepSpec) -> list[tuple[str, str]]:
        return rd.jobs_of(spec)

    def ladder(self, spec: rd.SweepSpec, curve: str) -> bool:
        return curve in spec.anchors

    def cost(self, spec: rd.SweepSpec, curve: str, label: str) -> float:
        """Seconds the presets' time model gives the point (per megapixel; 0: none)."""
        from codec import presets
        from codec.encode import options_of

        if curve in spec.anchors:
            return 0.0
        method = registry.method(curve)
        options = rd.encode_options(curve, label, spec.epochs_of(curve))
        try:
            return presets.estimate(method, options_of(method, options), 10**6, "cpu") or 0.0
        except (InputError, ValueError):
            return 0.0

    def more(self, spec: rd.SweepSpec, points: list) -> list[tuple[str, str]]:
        """One more CRF for each anchor still below the INR points' top rate."""
        out = []
        for anchor in spec.anchors:
            if any(p.curve == anchor for p in points):
                crf = rd.next_crf(spec, points, anchor)
                if crf is not None:
                    out.append((anchor, f"crf{crf}"))
        return out


VIDEO = VideoSweep()


# -- the sweep -----------------------------------------------------------------------------------
@dataclass
class InputState:
    """One input's sweep: its spec, output folder, source key, payload and points so far."""

    spec: Any
    out: Path
    base: str = ""
    payload: Any = None  # an ObjectRef once loaded
    points: dict[tuple[str, str], Any] = field(default_factory=dict)
    pending: int = 0  # tasks in flight

    def ordered(self, kind: SweepKind) -> list:
        order = {job: i for i, job in enumerate(kind.jobs(self.spec))}
        return [p for _, p in sorted(self.points.items(),
                                     key=lambda kv: (order.get(kv[0], len(order)), kv[0]))]


@dataclass
class Failure:
    input: str
    curve: str
    label: str
    error: str

    def __str__(self) -> str:
        return f"{self.curve} {self.label} on {os.path.basename(self.input)}: {self.error}"


def run_sweep(kind: SweepKind, specs: list, outs: list[Path], engine: Engine, *,
              quiet: bool = True) -> list[list]:
    """Every point of every spec (one output folder each), on Ray; returns each input's
    points. Raises InputError naming the points that failed after all others finished
    (those are cached)."""
    from codec.progress import progress

    for spec in specs:
        kind.check(spec)
    states = [InputState(spec, out) for spec, out in zip(specs, outs, strict=True)]
    failures: list[Failure] = []
    with ray_session(engine, quiet) as ray, progress(total=0, desc="rd points", unit="pt",
                                                     quiet=quiet) as bar:
        _check_resources(ray, engine)
        models = registry.shipment(sorted({c for s in states for c, _ in kind.jobs(s.spec)
                                           if registry.is_method(c)}))
        remote = ray.remote(kind.task).options(
            num_cpus=engine.task_cpus, num_gpus=engine.task_gpus or None,
            max_retries=engine.retries, retry_exceptions=False)
        tasks: dict[Any, tuple[InputState, str, list[str]]] = {}

        def submit(state: InputState, jobs: list[tuple[str, str]]) -> None:
            """Load cached points; send the others (one task a point, or a ladder's)."""
            ladders: dict[str, list[str]] = {}
            for curve, label in jobs:
                point = _load(kind, state, curve, label)
                if point is None:
                    ladders.setdefault(curve, []).append(label)
                else:
                    state.points[(curve, label)] = point
                    bar.update(1)
            groups = [(curve, [x]) for curve, todo in ladders.items()
                      if not kind.ladder(state.spec, curve) for x in todo]
            groups.sort(key=lambda g: -kind.cost(state.spec, g[0], g[1][0]))  # stable
            groups += [(curve, todo) for curve, todo in ladders.items()
                       if kind.ladder(state.spec, curve)]
            for curve, group in groups:
                ref = remote.remote(state.payload, state.spec, curve, group, engine.threads,
                                    engine.device, models)
                tasks[ref] = (state, curve, group)
                state.pending += 1

        def finish(state: InputState) -> None:
            while state.pending == 0 and (more := kind.more(state.spec,
                                                            list(state.points.values()))):
                bar.total += len(more)
                submit(state, more)

        bar.total = sum(len(kind.jobs(s.spec)) for s in states)
        for state in states:
            payload, state.base = kind.load(state.spec)
            (state.out / "points").mkdir(parents=True, exist_ok=True)
            state.payload = ray.put(payload)
            del payload
            submit(state, kind.jobs(state.spec))
            finish(state)
        while tasks:
            done, _ = ray.wait(list(tasks), num_returns=1, timeout=1.0)
            bar.refresh()
            for ref in done:
                state, curve, labels = tasks.pop(ref)
                state.pending -= 1
                try:
                    results = ray.get(ref)
                except Exception as exc:  # the task itself crashed, or died out of retries
                    results = [(label, None, None, _first_line(exc)) for label in labels]
                for label, fields, data, error in results:
                    if error is not None:
                        failures.append(Failure(str(state.spec.input), curve, label, error))
                    else:
                        _store(kind, state, curve, label, kind.point(**fields), data)
                    bar.set_postfix_str(f"{curve} {label}", refresh=False)
                    bar.update(1)
                finish(state)
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise InputError(f"{len(failures)} rd point(s) failed: {failures[0]}{more}; the "
                         "finished points are cached, rerun to retry")
    return [s.ordered(kind) for s in states]


def _check_resources(ray, engine: Engine) -> None:
    """InputError when no node could ever run a task (Ray would wait for one forever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not any(r.get("CPU", 0) >= engine.task_cpus and r.get("GPU", 0) >= engine.task_gpus
               for r in nodes):
        most = max((r.get("CPU", 0) for r in nodes), default=0)
        gpus = max((r.get("GPU", 0) for r in nodes), default=0)
        raise InputError(f"no Ray node has --task-cpus {engine.task_cpus:g} and --task-gpus "
                         f"{engine.task_gpus:g} (the largest has {most:g} CPUs and {gpus:g} "
                         "GPUs)")


def _load(kind: SweepKind, state: InputState, curve: str, label: str):
    return rd.load_point(rd.point_path(state.out, curve, label),
                         kind.key(state.spec, state.base, curve, label), kind.point)


def _store(kind: SweepKind, state: InputState, curve: str, label: str, point: Any,
           data: bytes | None) -> None:
    """A finished point: its .nirc (INR points), then its cache entry (atomic writes)."""
    from codec.atomic import atomic_write

    if data is not None:
        with atomic_write(state.out / f"{curve}-{label}.nirc") as fh:
            fh.write(data)
    rd.save_point(rd.point_path(state.out, curve, label),
                  kind.key(state.spec, state.base, curve, label), point)
    state.points[(curve, label)] = point
