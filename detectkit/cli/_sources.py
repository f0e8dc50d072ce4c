"""The one rule ``detect`` and ``classify`` share for SOURCE arguments that yield no image.

A path that does not exist, or a folder holding no image (not even in sub-folders with
``--recursive``), is reported as a failed input (exit code 1) before any work; the other
sources are still processed.

>>> import tempfile, pathlib
>>> empty = pathlib.Path(tempfile.mkdtemp())
>>> split_sources([empty / "nope", empty], recursive=False)[1][0][1]
'... does not exist'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["split_sources"]


def split_sources(sources: list[Any], *, recursive: bool) -> tuple[list[Any], list[tuple[str, str]]]:
    """Sources worth reading, and ``(source, message)`` for those that hold nothing to read."""
    from detectkit.image import list_images

    usable: list[Any] = []
    problems: list[tuple[str, str]] = []
    for s in sources:
        if isinstance(s, Path) and not s.exists():
            problems.append((str(s), f"{s} does not exist"))
        elif isinstance(s, Path) and s.is_dir() and not list_images(s, recursive=recursive):
            hint = "" if recursive else " (use --recursive for sub-folders)"
            problems.append((str(s), f"folder {s} holds no images{hint}"))
        else:
            usable.append(s)
    return usable, problems
