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
    issues = ds.validate(check_images=not args.no_images, tolerance=args.tolerance)
    errors = [i for i in issues if i.severity == "error"]
    if args.json:
        payload = {
            "dataset": args.dataset,
            "images": len(ds.images),
            "objects": ds.num_objects,
            "errors": len(errors),
            "warnings": len(issues) - len(errors),
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
            f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)"
        )
    return 1 if errors else 0
