"""``detectkit annotate``: draw every image of a dataset with its labels.

    detectkit annotate DATASET [--images DIR] --out DIR [--limit N] [--classes A B ...]

``DATASET`` is anything :func:`detectkit.formats.read` understands (a COCO JSON file, a YOLO
folder or ``data.yaml``, a VOC/LabelMe/CVAT export); ``--images`` is the folder the file names
are relative to when the format does not say. Output keeps each image's relative file name
(PNG/JPEG kept, other formats written as PNG). Images that cannot be read are reported and
skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._errors import DATASET_FLAGS, guarded
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir

__all__ = ["register", "run"]

_KEEP_EXT = {".png", ".jpg", ".jpeg"}


def register(subparsers: Any) -> None:
    """Add the ``annotate`` subcommand."""
    parser = subparsers.add_parser(
        "annotate",
        help="draw a dataset's labels on its images",
        **parser_options(__doc__),
    )
    parser.add_argument("dataset", help="annotation file or dataset folder")
    parser.add_argument("--images", help="folder the image file names are relative to (e.g. for COCO JSON)")
    parser.add_argument("--out", required=True, help="output folder for the annotated images")
    parser.add_argument("--format", dest="fmt", help="dataset format (default: detected)")
    parser.add_argument("--limit", type=int, help="draw at most N images")
    parser.add_argument("--classes", nargs="+", help="only these classes (names or ids)")
    parser.add_argument("--no-labels", action="store_true", help="draw boxes and masks only")
    parser.add_argument("--thickness", type=int, help="line thickness in pixels (default: from the image size)")
    parser.add_argument("--overwrite", action="store_true", help="draw into a non-empty --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=guarded(run, FLAGS))


FLAGS = {**DATASET_FLAGS, "format": "--format FORMAT"}


def _classes(tokens: list[str] | None) -> list[int | str] | None:
    if tokens is None:
        return None
    return [int(t) if t.lstrip("-").isdigit() else t for t in tokens]


def run(args: argparse.Namespace) -> int:
    """Draw the dataset; returns 0, or 1 if any image failed."""
    from detectkit._progress import stderr_bar
    from detectkit.cli._data import print_issues, quiet_library_warnings
    from detectkit.errors import DetectkitError, InvalidInputError
    from detectkit.formats import read
    from detectkit.image import load_image
    from detectkit.viz import annotate, save

    if args.limit is not None and args.limit < 0:
        raise UsageError(f"--limit must be >= 0, got {args.limit}")
    options: dict[str, Any] = {}
    if args.images is not None:
        if not Path(args.images).is_dir():
            raise InvalidInputError(f"--images must be a folder, got {args.images!r}")
        options["images"] = args.images
    check_output_dir(args.out, flag="--out", overwrite=args.overwrite)
    with quiet_library_warnings():  # skipped records are printed below, as the other commands do
        ds = read(args.dataset, format=args.fmt, **options)
    if not args.quiet:
        print_issues(ds)
    if args.images is None and len(ds.images) and all(r.path is None for r in ds.images):
        raise UsageError(
            f"the image files of {args.dataset} were not found beside it; pass --images DIR "
            "(the folder its file names are relative to)"
        )
    classes = _classes(args.classes)
    out_dir = Path(args.out)
    out_root = out_dir.resolve()
    records = list(ds)
    if args.limit is not None:
        records = records[: args.limit]
    failed = drawn = objects = 0
    bar = stderr_bar(records, desc="annotate", unit="img", disable=args.quiet)
    for record, dets in bar:
        try:
            if classes is not None:
                dets = dets.filter(classes=classes)
            src: Path | None = record.path
            if src is None and args.images is not None:
                src = Path(args.images) / record.file_name
            if src is None:
                raise InvalidInputError(f"{record.file_name}: no image path; pass --images DIR")
            image = load_image(src)
            picture = annotate(image, dets, labels=not args.no_labels, thickness=args.thickness)
            rel = Path(record.file_name)
            if rel.suffix.lower() not in _KEEP_EXT:
                rel = rel.with_suffix(".png")
            target = (out_dir / rel).resolve()
            if out_root not in target.parents:
                raise InvalidInputError(f"{record.file_name}: file name escapes the output folder")
            save(picture, target)
            drawn += 1
            objects += len(dets)
        except (DetectkitError, OSError) as exc:
            failed += 1
            bar.write(f"detectkit annotate: error: {exc}", file=sys.stderr)
    bar.close()
    print(f"annotated {drawn} images ({objects} objects) -> {out_dir}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0
