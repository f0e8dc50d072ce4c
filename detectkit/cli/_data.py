"""Shared pieces of the dataset subcommands (convert, validate, stats, split, merge).

Only the standard library and detectkit's light modules are imported here, so the
dataset commands start fast (no torch, ultralytics or supervision).
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from detectkit.cli import UsageError
from detectkit.errors import InvalidInputError

if TYPE_CHECKING:
    from detectkit.dataset import Dataset

#: detectkit.formats.FORMATS, spelt out so the CLI's parsers do not import the formats package
#: (tests/cli/test_eval.py checks they are the same).
FORMATS = ("coco", "yolo", "voc", "labelme", "cvat")


def usage(message: str) -> UsageError:
    """A usage error the CLI reports with exit code 2."""
    return UsageError(message)


def add_read_options(p: argparse.ArgumentParser) -> None:
    """``--from``, ``--images``, ``--strict``."""
    p.add_argument("--from", dest="from_", choices=FORMATS, default=None, help="source format (default: detected)")
    p.add_argument("--images", default=None, metavar="DIR", help="folder holding the image files")
    p.add_argument("--strict", action="store_true", help="fail on the first malformed record instead of skipping it")


def add_class_options(p: argparse.ArgumentParser) -> None:
    """``--remap OLD=NEW`` and ``--keep A,B``."""
    p.add_argument(
        "--remap",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="rename/merge a class (id or name); empty NEW drops it; repeatable",
    )
    p.add_argument("--keep", default=None, metavar="A,B", help="keep only these classes (ids or names)")


@contextmanager
def quiet_library_warnings() -> Iterator[None]:
    """Reader warnings are printed by the CLI itself (as issues), not by ``warnings``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load(path: str, args: argparse.Namespace, **read_options: Any) -> Dataset:
    """Read a dataset with the common options (``read_options``: more options of the format's reader)."""
    from detectkit._progress import progress_enabled
    from detectkit.formats import read

    options: dict[str, Any] = {"strict": bool(getattr(args, "strict", False))}
    if getattr(args, "images", None):
        options["images"] = args.images
    options.update(read_options)
    try:
        with quiet_library_warnings(), progress_enabled(not getattr(args, "quiet", False)):
            return read(path, format=getattr(args, "from_", None), **options)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def apply_classes(ds: Dataset, args: argparse.Namespace) -> Dataset:
    """Apply ``--remap`` then ``--keep``."""
    if getattr(args, "remap", None):
        mapping: dict[int | str, str | None] = {}
        for item in args.remap:
            if "=" not in item:
                raise usage(f"--remap must be OLD=NEW, got {item!r}")
            old, new = item.split("=", 1)
            mapping[old.strip()] = new.strip() or None
        ds = ds.remap(mapping)
    if getattr(args, "keep", None):
        try:
            ds = ds.filter(classes=[c.strip() for c in args.keep.split(",") if c.strip()])
        except InvalidInputError as exc:  # "classes: unknown class name 'x'; known: [...]"
            raise usage(re.sub(r"^classes\b", "--keep", str(exc))) from None
    return ds


def print_issues(ds: Dataset, *, limit: int = 20, stream: Any = None, flags: Mapping[str, str] | None = None) -> None:
    """Print read problems (skipped records) to stderr, parameter names written as ``flags``."""
    from detectkit.cli._errors import DATASET_FLAGS, flag_text

    out = stream or sys.stderr
    errors = [i for i in ds.issues if i.severity == "error"]
    for issue in errors[:limit]:
        print(flag_text(f"warning: skipped {issue}", DATASET_FLAGS if flags is None else flags), file=out)
    if len(errors) > limit:
        print(f"warning: ... and {len(errors) - limit} more skipped records (see `detectkit validate`)", file=out)
