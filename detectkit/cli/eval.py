"""``detectkit eval``: COCO-exact evaluation of predictions against ground truth.

    detectkit eval GROUND_TRUTH PREDICTIONS [--iou-type bbox|segm] [--json] [--plots DIR] [--per-class]
                   [--gt-format FORMAT] [--pred-format FORMAT]

``GROUND_TRUTH`` is a COCO JSON file or any dataset :func:`detectkit.formats.read` reads;
``PREDICTIONS`` a COCO results JSON list, or a dataset with confidences (e.g. YOLO labels with a
sixth confidence column); their formats are detected, or named with ``--gt-format`` and
``--pred-format`` (coco, yolo, voc, labelme, cvat). Prints the 12 COCO numbers and per-class AP
(sorted); ``--json`` prints one JSON object instead (``stats`` in pycocotools order plus the
named numbers). Predictions on images the ground truth does not have are an error naming how many and which; prediction
categories the ground truth does not have are reported on stderr and ignored (as pycocotools).
Files are read as ``detectkit convert`` reads them: a bad record (e.g. a box without 4 numbers)
is skipped and reported on stderr with the count; ``--strict`` stops at the first one (exit 1).
Categories are matched by name when both sides name them (a ``results.json`` takes its names from
the ``annotations.json`` beside it); ids that visibly do not match are an error suggesting
``--category-offset N`` (e.g. ``-1`` for predictions numbered from 1 against YOLO classes from 0)
or ``--category-map PRED=GT,...``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._data import FORMATS, quiet_library_warnings
from detectkit.cli._errors import flag_text, guarded
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate predictions against ground truth (COCO mAP/AR)",
        **parser_options(__doc__),
    )
    parser.add_argument("ground_truth", metavar="GROUND_TRUTH", help="COCO JSON or dataset folder/file")
    parser.add_argument("predictions", metavar="PREDICTIONS", help="COCO results JSON or dataset with confidences")
    parser.add_argument(
        "--gt-format", choices=FORMATS, metavar="FORMAT", help="format of GROUND_TRUTH (default: detected)"
    )
    parser.add_argument(
        "--pred-format", choices=FORMATS, metavar="FORMAT", help="format of PREDICTIONS (default: detected)"
    )
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox", help="box or mask IoU (default bbox)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--plots", metavar="DIR", help="save PR curves, confusion matrix and per-class AP as PNG")
    parser.add_argument("--per-class", action="store_true", help="full per-class table (AP, AP50, AP75, AR, GT)")
    parser.add_argument("--conf", type=float, default=0.25, help="confidence cut for the confusion matrix (0.25)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU for the confusion matrix (0.5)")
    parser.add_argument("--overwrite", action="store_true", help="replace plots already in --plots DIR")
    parser.add_argument(
        "--strict", action="store_true", help="fail on the first malformed record instead of skipping it"
    )
    parser.add_argument(
        "--category-offset",
        type=int,
        default=0,
        metavar="N",
        help="add N to every prediction category id (e.g. -1: predictions from 1, ground truth from 0)",
    )
    parser.add_argument(
        "--category-map",
        metavar="PRED=GT,...",
        help="map prediction category ids to ground-truth ids, e.g. 1=0,2=1 (overrides matching by name)",
    )
    parser.add_argument(
        "--mot",
        action="store_true",
        help="tracking metrics (HOTA, MOTA, IDF1, ID switches; TrackEval-exact): GROUND_TRUTH and PREDICTIONS "
        "are MOTChallenge .txt files (or sequence folders) or detect --track JSON lines",
    )
    parser.set_defaults(func=guarded(run, _FLAGS))


_FLAGS = {
    "iou_type": "--iou-type",
    "overwrite": "--overwrite",
    "strict": "--strict",
    "ground_truth_format": "--gt-format FORMAT",
    "predictions_format": "--pred-format FORMAT",
}


def _short_table(metrics: Any) -> str:
    rows = metrics.per_class(sort=True)
    if not rows:
        return ""
    width = max(8, *(len(str(r["name"])) for r in rows))
    lines = ["", f" {'class':<{width}}  {'AP':>6}"]
    for r in rows:
        ap = "     -" if r["ap"] != r["ap"] else f"{r['ap']:6.3f}"
        lines.append(f" {r['name']:<{width}}  {ap}")
    return "\n".join(lines)


def _parse_category_map(spec: str | None) -> dict[int, int] | None:
    """``"1=0,2=1"`` -> ``{1: 0, 2: 1}``; UsageError naming ``--category-map`` otherwise."""
    if not spec:
        return None
    out: dict[int, int] = {}
    for part in spec.split(","):
        pred, sep, truth = part.partition("=")
        try:
            if not sep:
                raise ValueError(part)
            out[int(pred)] = int(truth)
        except ValueError:
            raise UsageError(f"--category-map expects PRED=GT pairs like 1=0,2=1, got {part!r}") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Evaluate and print; returns 0 (errors surface as ``DetectkitError`` -> exit 1)."""
    from detectkit.metrics import evaluate

    if not 0.0 <= args.iou <= 1.0:
        raise UsageError(f"--iou must be in [0, 1], got {args.iou}")
    if getattr(args, "mot", False):  # multi-object tracking metrics
        return _run_mot(args)
    if not 0.0 <= args.conf <= 1.0:
        raise UsageError(f"--conf must be in [0, 1], got {args.conf}")
    if args.plots:
        check_output_dir(args.plots, flag="--plots", overwrite=args.overwrite)
    with quiet_library_warnings():  # skipped records are counted in metrics.warnings
        metrics = evaluate(
            args.ground_truth,
            args.predictions,
            iou_type=args.iou_type,
            category_map=_parse_category_map(getattr(args, "category_map", None)),
            category_offset=getattr(args, "category_offset", 0),
            strict=bool(getattr(args, "strict", False)),
            ground_truth_format=getattr(args, "gt_format", None),
            predictions_format=getattr(args, "pred_format", None),
        )
    for note in metrics.warnings:
        print(flag_text(f"detectkit eval: warning: {note}", _FLAGS), file=sys.stderr)
    plots = []
    if args.plots:
        plots = metrics.plot(args.plots, conf_threshold=args.conf, iou_threshold=args.iou)
    if args.json:
        payload = metrics.to_dict(per_class=True)
        payload["confusion_matrix"] = metrics.confusion_matrix(
            iou_threshold=args.iou, conf_threshold=args.conf
        ).to_dict()
        if plots:
            payload["plots"] = [str(p) for p in plots]
        import json

        print(json.dumps(payload))
        return 0
    print(metrics.summary(per_class=args.per_class))
    if not args.per_class:
        print(_short_table(metrics))
    best = metrics.f1_threshold()
    if best["threshold"] == best["threshold"]:  # not NaN
        print(
            f"\n best F1 {best['f1']:.3f} at confidence >= {best['threshold']:.4g} "
            f"(precision {best['precision']:.3f}, recall {best['recall']:.3f}, IoU 0.5)"
        )
    for p in plots:
        print(f" saved {p}")
    return 0


def _run_mot(args: argparse.Namespace) -> int:
    """``eval --mot``: HOTA / CLEAR / Identity of one tracked sequence."""
    from detectkit.metrics.mot import evaluate_mot

    iou = args.iou  # CLEAR/Identity match threshold (TrackEval's default 0.5)
    if not 0.0 < iou <= 1.0:
        raise UsageError(f"--iou must be in (0, 1] for --mot, got {iou}")
    metrics = evaluate_mot(args.ground_truth, args.predictions, threshold=iou)
    if args.json:
        import json

        print(json.dumps(metrics.to_dict(per_alpha=True)))
        return 0
    print(metrics.summary())
    return 0
