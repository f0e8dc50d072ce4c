"""``detectkit validate DATASET``: list problems with file and line/record; exit 1 when there are errors.

Checks: malformed records and lines, boxes outside the image or of zero area, missing or
unreadable images (header only) and sizes that differ from the annotation, duplicate ids
and file names, unknown classes.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from detectkit.cli._data import add_read_options, load
from detectkit.cli._errors import DATASET_FLAGS, flag_text, guarded
from detectkit.cli._help import parser_options

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser("validate", help="check a dataset and list its problems", **parser_options(__doc__))
    p.add_argument("dataset", metavar="DATASET", help="dataset file or folder")
    add_read_options(p)
    p.add_argument("--no-images", action="store_true", help="do not check the image files")
    p.add_argument("--tolerance", type=float, default=1.0, help="pixels a box may pass the border (default: 1)")
    p.add_argument("--limit", type=int, default=200, help="print at most this many problems (default: 200)")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(func=guarded(run, FLAGS))


FLAGS = DATASET_FLAGS


def run(args: argparse.Namespace) -> int:
    """Validate; exit 0 when clean (warnings allowed), 1 when there are errors."""
    ds = load(args.dataset, args)
    found = ds.validate(check_images=not args.no_images, tolerance=args.tolerance)
    errors = [i for i in found if i.severity == "error"]  # counted in full; printed with missing images as one line
    issues = _collapse_missing_images(found, args, ds)
    if args.json:
        payload = {
            "dataset": args.dataset,
            "images": len(ds.images),
            "objects": ds.num_objects,
            "errors": len(errors),
            "warnings": len(found) - len(errors),
            "problems": [
                {"severity": i.severity, "path": i.path, "line": i.line, "record": i.record, "message": i.message}
                for i in issues
            ],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for issue in issues[: args.limit]:
            print(flag_text(str(issue), FLAGS))
        if len(issues) > args.limit:
            print(f"... {len(issues) - args.limit} more")
        verdict = "OK" if not errors else "FAILED"
        print(
            f"{verdict}: {len(ds.images)} images, {ds.num_objects} objects, "
            f"{len(errors)} error(s), {len(found) - len(errors)} warning(s)"
        )
    return 1 if errors else 0


_NOT_FOUND = "image file not found (pass the image folder)"


def _collapse_missing_images(issues: list[Any], args: argparse.Namespace, ds: Any) -> list[Any]:
    """Many images without a file: one line saying what to pass, not one line per image."""
    missing = [i for i in issues if i.message == _NOT_FOUND]
    if len(missing) < 2:
        return issues
    from detectkit.dataset import Issue

    where = (
        f"in {args.images}"
        if getattr(args, "images", None)
        else "beside the annotations, in images/ or ../images/<split>"
    )
    one = Issue(
        "error",
        args.dataset,
        f"{len(missing)} of {len(ds.images)} image files not found {where} (e.g. {missing[0].path}): "
        "pass --images DIR, the folder the image file names are relative to, or --no-images to skip image checks",
    )
    first = issues.index(missing[0])
    rest = [i for i in issues if i.message != _NOT_FOUND]
    return [*rest[:first], one, *rest[first:]]
