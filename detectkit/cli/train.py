"""``detectkit train``: train a detector (Ultralytics) or fine-tune a classifier (torchvision).

    detectkit train detector DATASET [--model yolov8n.yaml|CKPT|NAME] [--epochs N] [--imgsz N]
                             [--batch N] [--val DATASET | --val-split 0.1] [--out DIR] [--name NAME] [--resume]
    detectkit train classifier FOLDER|CSV [--arch mobilenet_v2] [--epochs N] [--freeze-backbone N]
                               [--augment none|light|strong] [--val FOLDER|CSV | --val-split 0.2]
                               [--imgsz 224] [--batch N] [--lr LR] [--patience N] [--scratch] [--out DIR] [--name NAME]

Progress goes to stderr, one line per epoch; the result (metrics, weights, the name it is
registered under) to stdout, or one JSON object with ``--json``. Ctrl-C during detector
training leaves ``OUT/weights/last.pt``; run the same command with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._data import FORMATS
from detectkit.cli._errors import guarded

__all__ = ["register", "run_classifier", "run_detector"]


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand with its ``detector`` and ``classifier`` targets."""
    parser = subparsers.add_parser(
        "train",
        help="train a detector or fine-tune a classifier (transfer learning)",
        description="Train a YOLO detector from any dataset format, or fine-tune an ImageNet classifier.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    det = targets.add_parser("detector", help="train a YOLO detector (Ultralytics) on a dataset of any format")
    det.add_argument("dataset", metavar="DATASET", help="COCO / YOLO / VOC / LabelMe / CVAT dataset")
    det.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="annotation format of DATASET (default: detected)",
    )
    det.add_argument("--model", default="yolov8n.yaml", help="yolov8n.yaml (scratch), a .pt checkpoint or a name")
    det.add_argument("--epochs", type=int, default=10)
    det.add_argument("--imgsz", type=int, default=640)
    det.add_argument("--batch", type=int, default=16)
    group = det.add_mutually_exclusive_group()
    group.add_argument("--val", metavar="DATASET", help="a separate val dataset")
    group.add_argument("--val-split", type=float, default=0.1, help="val fraction when there is no val set (0.1)")
    det.add_argument("--out", metavar="DIR", help="training folder (default: in the detectkit cache)")
    det.add_argument("--name", help="model name for the user manifest (default: DATASET-MODEL)")
    det.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    det.add_argument("--json", action="store_true", help="print the result as one JSON object")
    det.set_defaults(
        func=guarded(run_detector, {"format": "--format FORMAT", "val": "--val DATASET", "val_split": "--val-split"})
    )

    clf = targets.add_parser("classifier", help="fine-tune a torchvision classifier from ImageNet weights")
    clf.add_argument("data", metavar="FOLDER|CSV", help="a folder per class, or a CSV of path,label")
    clf.add_argument("--arch", default="mobilenet_v2", help="torchvision architecture (mobilenet_v2)")
    clf.add_argument("--weights", metavar="FILE", help="start from this state dict (architectures not shipped)")
    clf.add_argument("--scratch", action="store_true", help="random initialisation instead of ImageNet weights")
    clf.add_argument("--epochs", type=int, default=10)
    clf.add_argument("--freeze-backbone", type=int, metavar="N", help="head-only epochs first (default min(3, E/2))")
    clf.add_argument("--augment", choices=("none", "light", "strong"), default="light")
    group = clf.add_mutually_exclusive_group()
    group.add_argument("--val", metavar="FOLDER|CSV", help="a separate labelled val set")
    group.add_argument("--val-split", type=float, default=0.2, help="val fraction when there is no val set (0.2)")
    clf.add_argument("--imgsz", type=int, default=224)
    clf.add_argument("--batch", type=int, default=32)
    clf.add_argument("--lr", type=float, default=1e-3)
    clf.add_argument("--patience", type=int, default=3, help="early stopping patience in epochs (3)")
    clf.add_argument("--out", metavar="DIR", help="output folder (default: in the detectkit cache)")
    clf.add_argument("--name", help="model name for the user manifest (default: FOLDER-ARCH)")
    clf.add_argument("--json", action="store_true", help="print the result as one JSON object")
    clf.set_defaults(func=run_classifier)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def run_detector(args: argparse.Namespace) -> int:
    """Train a detector; prints the result."""
    from detectkit.train.detector import train_detector

    _positive(args, "epochs", "imgsz", "batch")
    if args.val is None and not 0 < args.val_split < 1:
        raise UsageError(f"--val-split must be in (0, 1), got {args.val_split}")
    data: Any = args.dataset
    if args.format is not None:  # read here: train_detector detects the format of a path itself
        from detectkit.formats import read

        data = read(args.dataset, format=args.format)
    result = train_detector(
        data,
        model=args.model,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        val=args.val,
        val_split=args.val_split,
        out=args.out,
        name=args.name,
        resume=args.resume,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "weights": str(result.weights),
                    "name": result.name,
                    "map50": result.map50,
                    "map50_95": result.map50_95,
                    "report": str(result.report),
                    "convert_seconds": result.convert_seconds,
                    "train_seconds": result.train_seconds,
                }
            )
        )
    else:
        print(result)
    return 0


def run_classifier(args: argparse.Namespace) -> int:
    """Fine-tune a classifier; prints the result."""
    from detectkit.train.classifier import train_classifier

    _positive(args, "epochs", "batch", "patience")
    if args.imgsz < 32:
        raise UsageError(f"--imgsz must be >= 32, got {args.imgsz}")
    if args.freeze_backbone is not None and not 0 <= args.freeze_backbone <= args.epochs:
        raise UsageError(f"--freeze-backbone must be in [0, --epochs={args.epochs}], got {args.freeze_backbone}")
    if args.val is None and not 0 < args.val_split < 1:
        raise UsageError(f"--val-split must be in (0, 1), got {args.val_split}")
    if args.lr <= 0:
        raise UsageError(f"--lr must be > 0, got {args.lr}")
    result = train_classifier(
        args.data,
        arch=args.arch,
        epochs=args.epochs,
        freeze_backbone=args.freeze_backbone,
        pretrained=not args.scratch,
        weights=args.weights,
        val=args.val,
        val_split=args.val_split,
        batch=args.batch,
        lr=args.lr,
        augment=args.augment,
        patience=args.patience,
        imgsz=args.imgsz,
        out=args.out,
        name=args.name,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "weights": str(result.weights),
                    "name": result.name,
                    "top1": result.top1,
                    "top5": result.top5,
                    "per_class_recall": result.per_class_recall,
                    "confusion": result.confusion.tolist(),
                    "best_epoch": result.best_epoch,
                    "epochs_run": result.epochs_run,
                    "out": str(result.out),
                }
            )
        )
    else:
        print(result)
        for cls, recall in result.per_class_recall.items():
            print(f"  {cls:<20} recall {recall:.3f}")
    return 0
