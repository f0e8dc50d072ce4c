"""The sliced-inference flags of ``detectkit detect`` (``--slice``, ``--overlap``, ``--merge`` ...).

Kept beside ``detect.py`` so that the command module only adds the flags and passes the
resulting :class:`~detectkit.slicing.SliceConfig` on (``Detector.detect_batch(..., slicing=)``).
"""

from __future__ import annotations

import argparse
from typing import Any

from detectkit.cli import UsageError
from detectkit.errors import InvalidInputError

__all__ = ["add_slice_arguments", "parse_overlap", "parse_slice", "slice_config_from_args"]


def parse_slice(text: str) -> int | tuple[int, int] | str:
    """``--slice`` value: ``640``, ``640x480`` (width x height) or ``auto`` (the model's input size).

    >>> parse_slice("640"), parse_slice("640x480"), parse_slice("auto")
    (640, (640, 480), 'auto')
    """
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    parts = value.split("x")
    if len(parts) in (1, 2) and all(p.isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    raise UsageError(f"--slice must be a tile size such as 640, 640x480 or auto, got {text!r}")


def parse_overlap(text: str) -> float | int:
    """``--overlap`` value: a ratio below 1 (``0.2``) or pixels (``64``).

    >>> parse_overlap("0.2"), parse_overlap("64")
    (0.2, 64)
    """
    value = text.strip()
    try:
        return int(value) if value.isdigit() else float(value)
    except ValueError:
        raise UsageError(
            f"--overlap must be a ratio in [0, 1) such as 0.2 or pixels such as 64, got {text!r}"
        ) from None


def add_slice_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sliced-inference flags to ``parser``."""
    g = parser.add_argument_group("sliced inference (large images, small objects)")
    g.add_argument(
        "--slice",
        default=None,
        metavar="SIZE",
        help="detect in overlapping tiles of SIZE (640, 640x480, or auto = the model's input size) and merge",
    )
    g.add_argument(
        "--overlap", default="0.2", help="tile overlap: ratio such as 0.2 or pixels such as 64 (default: %(default)s)"
    )
    g.add_argument(
        "--merge", choices=("nmm", "nms", "wbf"), default="nmm", help="merge of tile boxes (default: %(default)s)"
    )
    g.add_argument(
        "--match", choices=("ios", "iou"), default=None, help="match metric of the merge (default: ios; wbf: iou)"
    )
    g.add_argument(
        "--match-threshold", type=float, default=0.5, help="merge boxes matching more than this (default: %(default)s)"
    )
    g.add_argument("--merge-agnostic", action="store_true", help="merge tile boxes across classes")
    g.add_argument("--no-full-image", action="store_true", help="skip the extra whole-image pass")
    g.add_argument(
        "--no-edge-aware",
        action="store_true",
        help="plain merge (like sahi): no stitching of boxes cut by tile borders",
    )
    g.add_argument("--slice-batch", type=int, default=8, help="tiles per forward pass (default: %(default)s)")


def slice_config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~detectkit.slicing.SliceConfig` of the parsed flags, or None without ``--slice``."""
    if getattr(args, "slice", None) is None:
        return None
    from detectkit.slicing import SliceConfig

    size = parse_slice(args.slice)
    try:
        return SliceConfig(
            slice_wh=None if size == "auto" else size,  # type: ignore[arg-type]
            overlap=parse_overlap(args.overlap),
            merge=args.merge,
            match_metric=args.match,
            match_threshold=args.match_threshold,
            class_agnostic=args.merge_agnostic,
            full_image=not args.no_full_image,
            edge_aware=not args.no_edge_aware,
            batch_size=args.slice_batch,
        )
    except InvalidInputError as exc:  # SliceConfig names its parameters; the user typed flags
        from detectkit.cli._errors import flag_text

        raise UsageError(flag_text(str(exc), _SLICE_FLAGS)) from None


_SLICE_FLAGS = {
    "slice_wh": "--slice",
    "overlap": "--overlap",
    "merge": "--merge",
    "match_metric": "--match",
    "match_threshold": "--match-threshold",
    "class_agnostic": "--merge-agnostic",
    "batch_size": "--slice-batch",
}
