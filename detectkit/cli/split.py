"""``detectkit split DATASET OUT``: split images into train / val / test (stratified by class).

YOLO and VOC outputs hold the splits in one dataset (``images/<split>/``,
``ImageSets/Main/<split>.txt``); COCO and CVAT write ``OUT/<split>.json`` / ``.xml``;
LabelMe writes ``OUT/<split>/``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._data import FORMATS, add_class_options, add_read_options, apply_classes, load, print_issues
from detectkit.cli._errors import DATASET_FLAGS, guarded
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``split`` subcommand."""
    p = subparsers.add_parser("split", help="split a dataset into train/val/test", **parser_options(__doc__))
    p.add_argument("dataset", metavar="DATASET", help="dataset file or folder")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--to", choices=FORMATS, default=None, help="output format (default: the source's)")
    p.add_argument("--train", type=float, default=0.8, help="train fraction (default: 0.8)")
    p.add_argument("--val", type=float, default=0.2, help="val fraction (default: 0.2)")
    p.add_argument("--test", type=float, default=0.0, help="test fraction (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--no-stratify", action="store_true", help="plain random split")
    p.add_argument("--copy-images", action="store_true", help="copy image files instead of linking them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_read_options(p)
    add_class_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=guarded(run, FLAGS))


FLAGS = DATASET_FLAGS


def run(args: argparse.Namespace) -> int:
    """Split and write; exit 0."""
    from pathlib import Path

    from detectkit._progress import progress_enabled
    from detectkit.dataset import Dataset
    from detectkit.formats import atomic_dir, detect_format, write

    fractions = {"--train": args.train, "--val": args.val, "--test": args.test}
    for flag, value in fractions.items():
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{flag} must be a fraction in [0, 1], got {value}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise UsageError(
            f"--train, --val and --test must add up to 1, got {args.train} + {args.val} + {args.test} = {total:g}"
        )
    check_output_dir(args.out, flag="OUT", overwrite=args.overwrite)
    ds = apply_classes(load(args.dataset, args), args)
    fmt = args.to or args.from_ or detect_format(args.dataset)
    parts = ds.split(train=args.train, val=args.val, test=args.test, stratify=not args.no_stratify, seed=args.seed)
    out = Path(args.out)
    summaries = []
    with progress_enabled():
        if fmt in ("yolo", "voc"):
            merged = Dataset.concat(list(parts.values()))
            summaries.append(write(merged, out, format=fmt, overwrite=args.overwrite, copy_images=args.copy_images))
        else:
            with atomic_dir(out, overwrite=args.overwrite) as tmp:
                for name, part in parts.items():
                    target = tmp / (f"{name}.json" if fmt == "coco" else f"{name}.xml" if fmt == "cvat" else name)
                    s = write(
                        part, target, format=fmt, **({"copy_images": args.copy_images} if fmt == "labelme" else {})
                    )
                    s.path = out / target.name
                    summaries.append(s)
    print_issues(ds)
    counts = {k: len(v) for k, v in parts.items()}
    if args.json:
        print(json.dumps({"splits": counts, "outputs": [s.to_dict() for s in summaries]}, indent=2))
    else:
        print("split: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        for s in summaries:
            print(s)
    return 0
