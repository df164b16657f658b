"""Writer locks: one process at a time rewrites a file in place (``nircodec append``).

The lock is an exclusive ``flock`` on ``FILE.lock`` beside the file (the file itself is replaced
by a rename, so it cannot carry the lock), holding the writer's pid for the messages. The kernel
drops a ``flock`` when its holder dies, even by SIGKILL, so a killed writer never blocks the next
one; the lock file it leaves behind names a pid that is gone, and the next writer says it cleared
it. Readers take no lock: writers replace files atomically (``codec.atomic``), so a reader sees
the old file or the new one, never a part.

A filesystem without ``flock`` (some network mounts) is refused with one line rather than
written to unprotected.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from codec.errors import InputError

POLL = 0.1
"""Seconds between tries while waiting for a lock."""
NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class LockedError(InputError):
    """Another process holds the lock (and we were not asked to wait, or waited long enough)."""


def lock_path(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.lock")


def holder(path: str | os.PathLike) -> int | None:
    """The pid written in ``path``'s lock file (None: no file, or no pid in it)."""
    try:
        text = lock_path(path).read_text(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _flock(fd: int, name: str) -> bool:
    """Try to take the lock on ``fd``: True when taken, False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        raise InputError(f"cannot lock {name}: file locking is not available on this "
                         "platform") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in NO_LOCKING:
            raise InputError(f"cannot lock {name}: its filesystem does not support file "
                             f"locking ({exc.strerror}); write the library on a local "
                             "disk") from None
        raise InputError(f"cannot lock {name}: {exc.strerror or exc}") from None
    return True


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike, *, wait: float | None = None, verb: str = "written to",
                notice: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the writer lock of ``path`` for the ``with`` block. ``wait``: None or 0 fails at
    once (:class:`LockedError`, naming the holder's pid) when another process holds it; a number
    of seconds (``math.inf``: no limit) queues behind it. ``notice`` gets one line when we wait
    and when a stale lock file (its pid gone) is cleared."""
    target = lock_path(path)
    name = os.fspath(path)
    deadline = time.monotonic() + (wait or 0)
    told = False
    while True:
        try:
            fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise InputError(f"cannot lock {name}: cannot create {str(target)!r}: "
                             f"{exc.strerror or exc}") from None
        try:
            if _flock(fd, name):
                try:  # the file we locked may have been removed by the holder meanwhile
                    same = os.path.samestat(os.fstat(fd), os.stat(target))
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
                continue
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        pid = holder(path)
        who = f" (pid {pid})" if pid else ""
        if not wait or time.monotonic() >= deadline:
            hint = "wait for it or use --wait" if not wait else f"gave up after {wait:g} s"
            raise LockedError(f"{name} is being {verb} by another process{who}; {hint}")
        if not told and notice is not None:
            notice(f"waiting for another process{who} to finish with {name}")
            told = True
        time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
    try:
        old = os.read(fd, 64).decode(errors="replace").strip()
        if old.isdigit() and int(old) != os.getpid() and not alive(int(old)) and notice:
            notice(f"cleared a stale lock on {name} left by pid {old} (no longer running)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):  # unlinked while held: no one can lock a stale inode
            os.unlink(target)
        os.close(fd)
