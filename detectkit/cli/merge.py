"""``detectkit merge SRC... --out OUT --to FORMAT``: merge datasets; categories are unified by name.

Image and annotation ids of later datasets are renumbered when they collide. Image file names
present in more than one SRC are reported (a folder target refuses them: their label files would
collide); ``--rename-duplicates`` prefixes the later ones with their source's name
(``val_00000.jpg`` -> ``shapes2_val_00000.jpg``).
"""

from __future__ import annotations

import argparse
import json
import sys
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
    p.add_argument(
        "--rename-duplicates",
        action="store_true",
        help="prefix image file names already in an earlier SRC with their source's name",
    )
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
    datasets, duplicates, renamed = _deduplicate(datasets, args.sources, rename=args.rename_duplicates)
    dup_names = _examples([d[0] for d in duplicates])
    if duplicates and args.to in ("yolo", "voc", "labelme"):
        raise InvalidInputError(
            f"{len(duplicates)} image file name(s) appear in more than one SRC ({dup_names}); "
            f"a {args.to} folder cannot hold both: pass --rename-duplicates to prefix them with their source's name"
        )
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
    if duplicates:
        print(
            f"warning: {len(duplicates)} image file name(s) appear in more than one SRC and are written twice "
            f"({dup_names}); pass --rename-duplicates to prefix them with their source's name",
            file=sys.stderr,
        )
    if renamed:
        summary.notes.append(
            f"renamed {len(renamed)} duplicate image file name(s): {_examples([f'{a} -> {b}' for a, b in renamed])}"
        )
    if args.json:
        payload = summary.to_dict()
        payload["duplicate_file_names"] = [{"file_name": d[0], "sources": list(d[1:])} for d in duplicates]
        payload["renamed"] = [{"from": a, "to": b} for a, b in renamed]
        print(json.dumps(payload, indent=2))
    else:
        print(summary)
    return 0


def _examples(items: list[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def _deduplicate(
    datasets: list[Any], sources: list[str], *, rename: bool
) -> tuple[list[Any], list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Find image file names already in an earlier source; with ``rename`` prefix them.

    Returns the datasets (renamed when asked), the duplicates ``(file name, first source,
    later source)`` left in place, and the renames ``(old, new)``.
    """
    from pathlib import Path

    from detectkit.dataset import Dataset

    first_seen: dict[str, str] = {}
    duplicates: list[tuple[str, str, str]] = []
    renamed: list[tuple[str, str]] = []
    out = []
    tags: set[str] = set()
    for ds, src in zip(datasets, sources):
        sp = Path(src)
        tag = sp.stem if sp.is_file() else sp.name or "src"
        base_tag, n = tag, 2
        while tag in tags:
            tag, n = f"{base_tag}{n}", n + 1
        tags.add(tag)
        records = []
        changed = False
        for r in ds.images:
            name = r.file_name
            if name in first_seen:
                if rename:
                    head, _, leaf = name.rpartition("/")
                    new, k = f"{head + '/' if head else ''}{tag}_{leaf}", 2
                    while new in first_seen:
                        new, k = f"{head + '/' if head else ''}{tag}{k}_{leaf}", k + 1
                    renamed.append((name, new))
                    r = r._replace(file_name=new)
                    name = new
                    changed = True
                else:
                    duplicates.append((name, first_seen[name], src))
            first_seen.setdefault(name, src)
            records.append(r)
        if changed:
            ds = Dataset.from_table(
                ds.categories,
                records,
                ds.table,
                info=ds.info,
                licenses=ds.licenses,
                issues=ds.issues,
                source_format=ds.source_format,
            )
        out.append(ds)
    return out, duplicates, renamed
