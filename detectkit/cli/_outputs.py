"""Output checks every subcommand runs BEFORE it starts working.

A run that fails at its last step because the output already exists wastes the whole run
(exit code 1, like any other input that cannot be used).
So each output flag is checked up front: a folder output must be absent, empty, or allowed
with ``--overwrite``; a file output must be absent or allowed with ``--overwrite``; and a
file where a folder is expected (or the reverse) is refused.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> check_output_dir(root / "new", flag="--out", overwrite=False)
>>> _ = (root / "full").mkdir(); _ = (root / "full" / "x.txt").write_text("x")
>>> check_output_dir(root / "full", flag="--out", overwrite=False)
Traceback (most recent call last):
...
detectkit.errors.InvalidInputError: --out ... exists and is not empty; pass --overwrite to replace its contents
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from detectkit.errors import InvalidInputError

__all__ = ["check_output_dir", "check_output_file"]


def check_output_dir(
    path: str | os.PathLike[str], *, flag: str, overwrite: bool, only: Iterable[str] | None = None
) -> None:
    """Refuse a folder output that holds files, unless ``overwrite``.

    Args:
        path: the output folder.
        flag: the option that named it (for the message).
        overwrite: ``--overwrite`` was given.
        only: when set, only these names inside the folder count as a clash (a command that
            writes a few known files into a folder it shares, e.g. ``detections.jsonl``).

    Raises:
        InvalidInputError: the folder is a file, or holds (the given) entries and ``overwrite`` is False.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{flag} {target} is a file; give a folder")
    if overwrite or not target.is_dir():
        return
    if only is not None:
        clash = sorted(name for name in only if (target / name).exists())
        if clash:
            raise InvalidInputError(
                f"{flag} {target} already holds {', '.join(clash)}; "
                "pass --overwrite to replace, or choose another folder"
            )
        return
    if any(target.iterdir()):
        raise InvalidInputError(f"{flag} {target} exists and is not empty; pass --overwrite to replace its contents")


def check_output_file(path: str | os.PathLike[str], *, flag: str, overwrite: bool) -> None:
    """Refuse an existing file output unless ``overwrite``; refuse a folder where a file goes.

    Raises:
        InvalidInputError: ``path`` is a folder, or exists and ``overwrite`` is False.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"{flag} {target} is a folder; give a file name")
    if target.exists() and not overwrite:
        raise InvalidInputError(f"{flag} {target} exists; pass --overwrite to replace it")
