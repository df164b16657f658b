"""Project exceptions. Anything a user can cause raises a subclass of :class:`NircodecError`.

The CLI prints ``nircodec: error: <message>`` and exits 1 for these; other exceptions are bugs.
"""

from __future__ import annotations


class NircodecError(Exception):
    """Base class for errors caused by input, options or the environment (never by a bug)."""


class ContainerError(NircodecError):
    """A ``.nirc`` file (or a section inside it) is malformed, truncated or unsupported."""


class EntropyError(ContainerError):
    """An entropy-coded stream is malformed."""


class InputError(NircodecError):
    """A bad input file or option value (missing file, unsupported format, absurd size...)."""
