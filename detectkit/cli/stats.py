"""``detectkit stats DATASET``: images, objects, empty images, boxes per class, box sizes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from detectkit.cli._data import add_class_options, add_read_options, apply_classes, load
from detectkit.cli._errors import DATASET_FLAGS, guarded
from detectkit.cli._help import parser_options

__all__ = ["format_stats", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``stats`` subcommand."""
    p = subparsers.add_parser("stats", help="dataset statistics (a table, or --json)", **parser_options(__doc__))
    p.add_argument("dataset", metavar="DATASET", help="dataset file or folder")
    add_read_options(p)
    add_class_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=guarded(run, FLAGS))


FLAGS = DATASET_FLAGS


def format_stats(stats: dict[str, Any]) -> str:
    """The stats dict as a plain-text table."""
    lines = [
        f"images        {stats['images']}",
        f"objects       {stats['objects']}",
        f"empty images  {stats['empty_images']}",
    ]
    if stats.get("crowd"):
        lines.append(f"crowd         {stats['crowd']}")
    if stats.get("splits"):
        lines.append("splits        " + ", ".join(f"{k}={v}" for k, v in sorted(stats["splits"].items())))
    classes = stats["classes"]
    if classes:
        width = max(5, *(len(n) for n in classes))
        lines += ["", f"{'class':<{width}}  {'id':>5}  {'boxes':>8}  {'images':>7}"]
        for name, c in classes.items():
            lines.append(f"{name:<{width}}  {c['id']:>5}  {c['boxes']:>8}  {c['images']:>7}")
    if stats.get("unknown_class_ids"):
        lines.append(f"unknown class ids: {stats['unknown_class_ids']}")
    sizes = stats["box_sizes"]
    lines += ["", "box sizes (COCO): " + ", ".join(f"{k}={v}" for k, v in sizes.items())]
    if stats["size_histogram"]:
        lines.append("sqrt(area) px:    " + ", ".join(f"{k}: {v}" for k, v in stats["size_histogram"].items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print statistics; exit 0."""
    ds = apply_classes(load(args.dataset, args), args)
    stats = ds.stats()
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print(format_stats(stats))
    return 0
