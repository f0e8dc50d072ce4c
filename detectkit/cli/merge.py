"""``detectkit merge SRC... --out OUT --to FORMAT``: merge datasets; categories are unified by name.

Image and annotation ids of later datasets are renumbered when they collide.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from detectkit.cli._data import FORMATS, add_class_options, add_read_options, apply_classes, load, print_issues
from detectkit.cli._errors import DATASET_FLAGS, guarded
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir, check_output_file

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``merge`` subcommand."""
    p = subparsers.add_parser("merge", help="merge datasets (classes unified by name)", **parser_options(__doc__))
    p.add_argument("sources", nargs="+", metavar="SRC", help="datasets to merge (any formats)")
    p.add_argument("-o", "--out", required=True, help="output file or folder")
    p.add_argument("--to", required=True, choices=FORMATS, help="output format")
    p.add_argument("--copy-images", action="store_true", help="copy image files instead of linking them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_read_options(p)
    add_class_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=guarded(run, FLAGS))


FLAGS = DATASET_FLAGS


def run(args: argparse.Namespace) -> int:
    """Merge and write; exit 0."""
    from pathlib import Path

    from detectkit._progress import progress_enabled
    from detectkit.errors import InvalidInputError
    from detectkit.formats import write

    if len(args.sources) < 2:
        raise InvalidInputError("merge needs at least two SRC datasets")
    if args.to in ("yolo", "voc", "labelme"):
        check_output_dir(args.out, flag="--out", overwrite=args.overwrite)
    else:
        check_output_file(args.out, flag="--out", overwrite=args.overwrite)
    datasets = [load(src, args) for src in args.sources]
    merged = datasets[0]
    for other in datasets[1:]:
        merged = merged.merge(other)
    merged = apply_classes(merged, args)
    options: dict[str, Any] = {}
    if args.to in ("yolo", "voc", "labelme"):
        options = {"overwrite": args.overwrite, "copy_images": args.copy_images}
    elif Path(args.out).exists() and not args.overwrite:
        raise InvalidInputError(f"output {args.out} exists (use --overwrite)")
    with progress_enabled():
        summary = write(merged, args.out, format=args.to, **options)
    print_issues(merged)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary)
    return 0
