"""``nircodec`` command line. Subcommands are registered here, one module each."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from codec import __version__
from codec.errors import NircodecError

# (name, module): each module has add_parser(subparsers) and run(args) -> int.
COMMANDS = (
    ("encode", "codec.cli.encode"),
    ("append", "codec.cli.append"),
    ("decode", "codec.cli.decode"),
    ("info", "codec.cli.info"),
    ("mesh", "codec.cli.mesh"),
    ("eval", "codec.cli.eval"),
    ("rd", "codec.cli.rd"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: one line plus the usage, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"nircodec: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nircodec", description="Neural-representation codec for video and 3D surfaces."
    )
    parser.add_argument("--version", action="version", version=f"nircodec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for _, module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except NircodecError as exc:
        return _fail(args, str(exc))
    except KeyboardInterrupt:
        return _fail(args, "interrupted", code=130)
    except MemoryError:
        return _fail(args, "out of memory")
    except BrokenPipeError:  # `nircodec info f.nirc | head`: the reader left; say nothing
        _silence_stdout()
        return 0
    except OSError as exc:  # disk full, permissions... caused by the environment, not a bug
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return _fail(args, f"{exc.strerror or exc}{where}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. captured in tests)
        pass


def _fail(args: argparse.Namespace, message: str, code: int = 1) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    sys.stderr.write(f"nircodec: error: {message}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
