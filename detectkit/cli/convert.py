"""``detectkit convert SRC DST --to FORMAT``: convert an annotated dataset between formats.

For COCO and CVAT the path is the annotation file; for YOLO the dataset folder (or its
``data.yaml``); for VOC and LabelMe a folder. When image files are available (``--images``
or beside the source) folder targets get them linked in (copied with ``--copy-images``),
so a YOLO result trains as is. What the target format cannot hold (crowd regions, RLE
masks, ...) is reported, never silently dropped. Reading or writing that takes longer than
half a second shows a progress bar on stderr (not with ``--quiet``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from detectkit.cli._data import FORMATS, add_class_options, add_read_options, apply_classes, load, print_issues
from detectkit.cli._errors import DATASET_FLAGS, flag_text, guarded
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir, check_output_file

if TYPE_CHECKING:
    from detectkit.formats import FileMapper

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``convert`` subcommand."""
    p = subparsers.add_parser("convert", help="convert a dataset between annotation formats", **parser_options(__doc__))
    p.add_argument("src", metavar="SRC", help="source dataset (file or folder)")
    p.add_argument("dst", metavar="DST", help="destination file (coco, cvat) or folder (yolo, voc, labelme)")
    p.add_argument("--to", required=True, choices=FORMATS, help="target format")
    add_read_options(p)
    p.add_argument("--copy-images", action="store_true", help="copy image files instead of linking them")
    p.add_argument("--no-images", action="store_true", help="do not place image files in the output")
    p.add_argument("--task", choices=("detect", "segment", "obb", "auto"), default="detect", help="YOLO task")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    add_class_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars; print nothing on success")
    from detectkit.batch.cli import add_engine_arguments  # --engine local|ray: detectkit/batch

    add_engine_arguments(p, "convert")
    p.set_defaults(func=guarded(run, FLAGS))


FLAGS = {**DATASET_FLAGS, "task": "--task"}


def run(
    args: argparse.Namespace, *, map_shards: FileMapper | None = None, engine_note: Callable[[], str] | None = None
) -> int:
    """Convert; exit 0 on success, 1 on a bad input.

    ``map_shards`` / ``engine_note``: how ``--engine`` (:mod:`detectkit.batch.conversion`) runs
    the per-file parse, and the summary note saying what it did.
    """
    if getattr(args, "engine", None) is not None:  # a sharded batch job (detectkit.batch)
        from detectkit.batch.cli import run_from_args

        return run_from_args(args, "convert")
    from pathlib import Path

    from detectkit._progress import progress_enabled
    from detectkit.errors import InvalidInputError
    from detectkit.formats import write
    from detectkit.formats.api import file_target

    if Path(args.src).resolve() == Path(args.dst).resolve():
        raise InvalidInputError(f"DST must differ from SRC, got {args.dst} for both")
    if args.to in ("yolo", "voc", "labelme"):
        check_output_dir(args.dst, flag="DST", overwrite=args.overwrite)
    else:  # DST/ or an existing folder: the file goes inside it (write() says so in the summary)
        check_output_file(file_target(args.dst, args.to)[0], flag="DST", overwrite=args.overwrite)
    ds = load(args.src, args) if map_shards is None else load(args.src, args, map_shards=map_shards)
    ds = apply_classes(ds, args)
    options: dict[str, Any] = {}
    if args.to in ("yolo", "voc", "labelme"):
        options = {"overwrite": args.overwrite, "copy_images": args.copy_images, "link_images": not args.no_images}
        if args.images:
            options["images"] = args.images
    if args.to == "yolo":
        options["task"] = args.task
    from detectkit.formats.api import carry_extra_fields, lost_fields_note

    lost = carry_extra_fields(ds, args.to)  # COCO attributes -> CVAT/LabelMe; keypoints etc. counted
    try:
        with progress_enabled(not args.quiet):
            summary = write(ds, args.dst, format=args.to, **options)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {args.dst}: {exc.strerror or exc}") from None
    if lost:
        summary.notes.append(lost_fields_note(lost, args.to))
    if engine_note is not None:
        summary.notes.append(engine_note())
    if (umbrella := _umbrella_classes(ds)) and args.to == "yolo":
        summary.notes.append(umbrella)
    # bad records (errors) and shapes the reader skipped on purpose (warnings saying "skipped")
    skipped = [i for i in ds.issues if i.severity == "error" or "skipped" in i.message]
    if not args.quiet:
        print_issues(ds, flags=FLAGS)
        for issue in [i for i in skipped if i.severity != "error"][:20]:
            print(flag_text(f"warning: skipped {issue}", FLAGS), file=sys.stderr)
    if args.json:
        payload = summary.to_dict()
        payload["lost_fields"] = lost
        payload["skipped_source_records"] = [str(i) for i in skipped]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    elif not args.quiet:
        print(flag_text(str(summary), FLAGS))
    return 0


def _umbrella_classes(ds: Any) -> str | None:
    """A note for classes with no boxes that are the super-category of the others (Roboflow's COCO
    export lists its project as category 0 this way): YOLO keeps them as classes a model never sees.

    >>> from detectkit.dataset import Category, Dataset
    >>> cats = [Category(0, "pets", "none"), Category(1, "cat", "pets"), Category(2, "dog", "pets")]
    >>> _umbrella_classes(Dataset(categories=cats, images=[]))
    "class 'pets' has no boxes and is the super-category of the others; drop it with --keep cat,dog"
    """
    supers = {c.supercategory for c in ds.categories if c.supercategory}
    used = {int(k) for k in ds.table.class_id.tolist()}
    empty = [c for c in ds.categories if c.name in supers and c.id not in used]
    if not empty:
        return None
    keep = ",".join(c.name for c in ds.categories if c not in empty)
    names = ", ".join(repr(c.name) for c in empty)
    return f"class {names} has no boxes and is the super-category of the others; drop it with --keep {keep}"
