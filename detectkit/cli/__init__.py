"""The ``detectkit`` command line: thin argument parsing over the library.

Each subcommand lives in its own module ``detectkit/cli/<name>.py`` exposing
``register(subparsers)``, which adds a parser whose default ``func`` takes the parsed
arguments and returns an exit code. Subcommand modules import heavy libraries only
inside ``func`` so ``detectkit --help`` stays fast.

Exit codes: 0 success, 1 a failure in the work (bad input file, failed image), 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from detectkit import __version__
from detectkit.errors import DetectkitError, InvalidInputError

__all__ = ["UsageError", "expand_source", "main"]


class UsageError(InvalidInputError):
    """A bad command-line argument: reported in one line, exit code 2."""


def expand_source(text: str) -> int | Path:
    """A source argument: a camera index for pure digits that are not an existing file, else a path.

    >>> expand_source("0"), expand_source("photos/")
    (0, PosixPath('photos'))
    """
    if text.isdigit() and not Path(text).exists():
        return int(text)
    return Path(text)


# Subcommand modules, in the order they appear in --help.
COMMANDS: tuple[str, ...] = (
    "detect",
    "classify",
    "annotate",
    "eval",
    "convert",
    "validate",
    "stats",
    "split",
    "merge",
    "train",
    "export",
    "augment-preview",
    "serve",
    "anonymize",
    "robustness",
)
_DATASET_COMMANDS = frozenset({"convert", "validate", "stats", "split", "merge"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered (or just ``only``, which starts faster)."""
    parser = argparse.ArgumentParser(
        prog="detectkit",
        description="Image recognition and object detection: detect, classify, convert, evaluate, annotate.",
    )
    parser.add_argument("--version", action="version", version=f"detectkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f"detectkit.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    >>> main(["--version"])
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in _DATASET_COMMANDS and "numpy" not in sys.modules:
        # These commands do no linear algebra: one OpenBLAS thread halves numpy's start-up CPU.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Only the named subcommand's module is imported (its parser is all that is needed).
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    restore = _plain_warnings()
    try:
        return int(func(args))
    except InvalidInputError as exc:
        print(f"detectkit {args.command}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except DetectkitError as exc:
        print(f"detectkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        restore()


def _plain_warnings() -> Callable[[], None]:
    """Show Python warnings as one ``warning: ...`` line (no source file and line of code) while a
    command runs; returns the function that puts the previous display back. Left alone when
    something else (pytest, ``catch_warnings(record=True)``) already handles warnings."""
    import warnings

    previous = warnings.showwarning
    if previous is not getattr(warnings, "_showwarning_orig", previous):
        return lambda: None

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        print(f"warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show

    def restore() -> None:
        warnings.showwarning = previous

    return restore


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
