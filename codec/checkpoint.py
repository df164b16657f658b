"""Resumable encodes: ``--checkpoint-every SECONDS`` saves the training state atomically to
``OUTPUT.ckpt``; ``--resume`` continues from it. An ``--epochs`` run that is interrupted and
resumed ends with the same bytes as one that never stopped (same seed, CPU).

Training loops ask :func:`active` for the checkpoint of the encode in progress (None when
checkpointing is off), call :meth:`Checkpoint.restore` once with their tag, and offer their
state at safe points (an epoch's end) with :meth:`Checkpoint.offer`. States are dicts of
tensors and plain values, loaded with ``torch.load(weights_only=True)``: a checkpoint file
never runs code.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from codec.errors import InputError

_ACTIVE: contextvars.ContextVar[Checkpoint | None] = contextvars.ContextVar(
    "nircodec_checkpoint", default=None)


def active() -> Checkpoint | None:
    """The checkpoint of the encode running in this context, if any."""
    return _ACTIVE.get()


def file_identity(path) -> list:
    """What a checkpoint remembers of an input file to notice that it changed."""
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


class Checkpoint:
    """One encode's checkpoint file. ``key`` (JSON-able) names the encode: its inputs and
    options; a file saved under another key is refused rather than resumed. ``base``
    (JSON-able) is the state of a file the encode builds on (an append's library): a
    checkpoint saved against another base is not resumed but re-fitted from
    (:meth:`take_warm`): training starts again from its saved state."""

    def __init__(self, path: str | os.PathLike, every: float | None, key: dict,
                 resume: bool, base: Any = None,
                 notice: Callable[[str], None] | None = None) -> None:
        import torch

        if every is not None and not every >= 0:
            raise InputError("--checkpoint-every must be a number of seconds >= 0")
        self.path = os.fspath(path)
        self.every = every
        self.key = json.dumps(key, sort_keys=True)
        self.base = base
        self.saved: dict[str, Any] | None = None
        self.warm: dict[str, Any] | None = None
        self.final: tuple[str, Callable[[], dict[str, Any]]] | None = None
        self.touched = False  # loaded or written: ours to remove when the encode succeeds
        self._last = time.monotonic()
        if resume and os.path.exists(self.path):
            try:
                data = torch.load(self.path, map_location="cpu", weights_only=True)
            except Exception as exc:  # a damaged file: say so instead of starting over
                raise InputError(f"{self.path}: not a readable checkpoint ({exc})") from None
            if not isinstance(data, dict) or data.get("key") != self.key:
                raise InputError(f"{self.path}: this checkpoint belongs to another encode "
                                 "(different input or options); delete it or drop --resume")
            self.touched = True
            if data.get("base") == base:
                self.saved = data
            else:
                self.warm = data
                if notice is not None:
                    notice(f"the file this encode builds on changed since {self.path} was "
                           "saved: training again from the saved state, against the file as "
                           "it is now")
        elif not resume and os.path.exists(self.path) and every is not None:
            raise InputError(f"{self.path} exists: add --resume to continue that encode, or "
                             "delete it")

    @property
    def resumed_tag(self) -> str | None:
        return None if self.saved is None else self.saved["tag"]

    def restore(self, tag: str) -> dict[str, Any] | None:
        """The saved state when it was saved under ``tag`` (handed out once)."""
        if self.saved is None or self.saved["tag"] != tag:
            return None
        state, self.saved = self.saved["state"], None
        return state

    def take_warm(self) -> dict[str, Any] | None:
        """A state saved against another base, to start training from (handed out once)."""
        state, self.warm = (None if self.warm is None else self.warm["state"]), None
        return state

    def offer(self, tag: str, state: Callable[[], dict[str, Any]]) -> None:
        """Save ``state()`` when ``every`` seconds have passed since the last save."""
        if self.every is None or time.monotonic() - self._last < self.every:
            return
        self.save(tag, state)

    def save(self, tag: str, state: Callable[[], dict[str, Any]]) -> None:
        """Save ``state()`` now (atomically; Ctrl-C waits for it)."""
        import torch

        from codec.atomic import atomic_write

        with _no_interrupts(), atomic_write(self.path) as fh:
            torch.save({"key": self.key, "tag": tag, "base": self.base, "state": state()}, fh)
        self.touched = True
        self._last = time.monotonic()

    def finished(self, tag: str, state: Callable[[], dict[str, Any]]) -> None:
        """A training run's end: ``state`` is what :meth:`keep_final` saves."""
        self.final = (tag, state)

    def keep_final(self) -> bool:
        """Save the state the last training run ended with (False: none ended)."""
        if self.final is None:
            return False
        try:
            self.save(*self.final)
        except NotImplementedError:  # a trainer that cannot be checkpointed
            return False
        return True

    def remove(self) -> None:
        if not self.touched:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Hold Ctrl-C back while a checkpoint is written: an interrupt inside ``torch.save``
    breaks its zip writer, which then raises its own error in place of the interrupt. A SIGINT
    that arrives meanwhile is recorded and handed to the previous handler (a
    KeyboardInterrupt, normally) when the block ends. Python runs signal handlers in the main
    thread whichever thread the signal reached, so this holds with torch's worker threads."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if caught and callable(old):
        old(signal.SIGINT, None)
    elif caught and old == signal.SIG_DFL:
        raise KeyboardInterrupt


@contextlib.contextmanager
def checkpointing(output, every: float | None, resume: bool, key: Callable[[], dict], *,
                  base: Any = None, always: bool = False,
                  notice: Callable[[str], None] | None = None) -> Iterator[Checkpoint | None]:
    """Make a checkpoint active for the encode in the ``with`` block (None when neither
    ``every`` nor ``resume`` is given, unless ``always``: then one that saves only when asked,
    :meth:`Checkpoint.keep_final`). ``key()`` names the encode, ``base`` what it builds on.
    After a successful encode the file is removed; after an error or an interrupt it stays,
    for ``--resume``."""
    if every is None and not resume and not always:
        yield None
        return
    ckpt = Checkpoint(f"{os.fspath(output)}.ckpt", every, key(), resume, base, notice)
    token = _ACTIVE.set(ckpt)
    try:
        yield ckpt
    finally:
        _ACTIVE.reset(token)
    ckpt.remove()


def training_state(model, optim, gen, start: float, **extra: Any) -> dict[str, Any]:
    """A training loop's state: module, optimizer and generator, the seconds trained since
    ``start`` (perf_counter) and the loop's own ``extra`` values."""
    return {"model": model.state_dict(), "optim": optim.state_dict(), "gen": gen.get_state(),
            "seconds": time.perf_counter() - start, **extra}


def load_training(saved: dict[str, Any], model, optim, gen) -> float:
    """Put a :func:`training_state` back; returns the seconds it had trained."""
    model.load_state_dict(saved["model"])
    optim.load_state_dict(saved["optim"])
    gen.set_state(saved["gen"])
    return saved["seconds"]
