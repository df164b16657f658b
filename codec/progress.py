"""Progress bars on stderr (tqdm), silenced by ``--quiet``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


def progress(
    iterable=None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    quiet: bool = False,
):
    """A tqdm bar on stderr with rate and ETA; a no-op wrapper when ``quiet``."""
    from tqdm.auto import tqdm

    fmt = None
    if unit == "%":  # fractional progress: whole percents, elapsed time and ETA
        fmt = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=quiet,
        dynamic_ncols=True,
        mininterval=0.5,
        leave=False,
        bar_format=fmt,
    )


@contextlib.contextmanager
def fraction_bar(desc: str, quiet: bool = False) -> Iterator[Callable[[float, dict], None]]:
    """A percent bar driven by ``report(fraction, stats)`` callbacks, full when the block ends.
    The bar appears at the first report, so an error raised before any work is done prints
    its one line alone."""
    bar = None

    def report(fraction: float, stats: dict | None = None) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total=100, desc=desc, unit="%", quiet=quiet)
        bar.update(round(max(0.0, min(100.0, fraction * 100)) - bar.n, 2))

    try:
        yield report
        if bar is not None:
            bar.update(100 - bar.n)
    finally:
        if bar is not None:
            bar.close()
