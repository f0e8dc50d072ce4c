"""``detectkit augment-preview``: a picture grid of an augmentation preset.

    detectkit augment-preview SOURCE [--preset none|light|strong] [--images N] [--variants N]
                              [--size PX] [--seed N] [--out FILE]

``SOURCE`` is a detection dataset (any format; boxes are drawn and follow the box-aware
transforms), a class-folder tree / CSV, or a folder of images. One row per image: the
original, then ``--variants`` augmented versions.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from detectkit.cli import UsageError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``augment-preview`` subcommand."""
    parser = subparsers.add_parser(
        "augment-preview",
        help="save a picture grid of an augmentation preset",
        description="Show what an augmentation preset does: original + augmented versions per image.",
    )
    parser.add_argument("source", metavar="SOURCE", help="dataset, class-folder tree, CSV or image folder")
    parser.add_argument("--preset", choices=("none", "light", "strong"), default="light")
    parser.add_argument("--images", type=int, default=4, help="rows (images) in the grid (4)")
    parser.add_argument("--variants", type=int, default=4, help="augmented tiles per row (4)")
    parser.add_argument("--size", type=int, default=192, help="tile side in pixels (192)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="augment_preview.jpg", help="output image (augment_preview.jpg)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and save the grid; prints its path."""
    from detectkit.errors import DetectkitError, InvalidInputError
    from detectkit.train.preview import preview_grid, save_grid

    for name in ("images", "variants"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.size < 32:
        raise UsageError(f"--size must be >= 32, got {args.size}")
    source = Path(args.source)
    if not source.exists():
        raise InvalidInputError(f"{source} does not exist")
    images: list[Any] = []
    boxes = None
    with contextlib.suppress(DetectkitError, ValueError, OSError):
        from detectkit.dataset import Dataset

        ds = Dataset.read(source)
        rows = [(r, d) for r, d in ds if r.path is not None and Path(r.path).is_file()][: args.images]
        if rows:
            images = [r.path for r, _ in rows]
            boxes = [d.xyxy for _, d in rows]
    if not images:
        with contextlib.suppress(DetectkitError):
            from detectkit.train.data import read_labelled

            images = list(read_labelled(source).paths[:: max(1, len(read_labelled(source)) // args.images)])
            images = images[: args.images]
    if not images and source.is_dir():
        from detectkit.image import list_images

        images = list(list_images(source, recursive=True)[: args.images])
    if not images and source.is_file():
        images = [source]
    if not images:
        raise InvalidInputError(f"{source}: no images found")
    grid = preview_grid(images, args.preset, boxes=boxes, size=args.size, variants=args.variants, seed=args.seed)
    print(save_grid(grid, args.out))
    return 0
