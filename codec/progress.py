"""Progress bars on stderr (tqdm), silenced by ``--quiet``."""

from __future__ import annotations

import sys


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
