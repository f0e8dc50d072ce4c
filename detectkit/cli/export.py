"""``detectkit export``: ONNX / OpenVINO export of a detector or classifier, optionally INT8.

    detectkit export MODEL --format onnx|openvino [--int8 --calibration DATASET] [--val DATASET]
                     [--imgsz N] [--max-drop POINTS] [--out FILE] [--name NAME] [--json]

INT8 exports are re-evaluated on ``--val`` (default: the calibration dataset) and refused, with
nothing written, when they lose more than ``--max-drop`` points (mAP50-95 for detectors, top-1
for classifiers). The result is registered in the user manifest, so ``Detector(NAME)`` loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._errors import guarded

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export a detector/classifier to ONNX or OpenVINO (optionally INT8, accuracy-guarded)",
        description="Export to ONNX or OpenVINO; INT8 by static quantisation with an accuracy guard.",
    )
    parser.add_argument("model", metavar="MODEL", help="manifest name, .pt checkpoint or classifier weights")
    parser.add_argument("--format", choices=("onnx", "openvino"), default="onnx", help="output format (onnx)")
    parser.add_argument("--int8", action="store_true", help="static INT8 quantisation (needs --calibration)")
    parser.add_argument("--calibration", metavar="DATASET", help="calibration images: a dataset or image folder")
    parser.add_argument("--calibration-size", type=int, default=100, metavar="N", help="at most N images (100)")
    parser.add_argument("--val", metavar="DATASET", help="labelled set for the accuracy guard (default: calibration)")
    parser.add_argument("--imgsz", type=int, help="detector input size (default: the model's)")
    parser.add_argument("--max-drop", type=float, default=1.0, metavar="POINTS", help="guard budget in points (1)")
    parser.add_argument("--out", metavar="FILE", help="output .onnx/.xml (default: MODEL[-int8].<ext> here)")
    parser.add_argument("--name", help="user-manifest name (default: the output file's stem)")
    parser.add_argument("--task", choices=("detect", "classify"), help="when it cannot be inferred from MODEL")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=guarded(run, FLAGS))


# library parameters -> the flags of this command (errors and notes are written with these)
FLAGS = {
    "calibration": "--calibration DATASET",
    "calibration_size": "--calibration-size",
    "imgsz": "--imgsz",
    "int8": "--int8",
    "max_drop": "--max-drop",
    "name": "--name",
    "out": "--out",
    "task": "--task",
    "val": "--val DATASET",
}


def run(args: argparse.Namespace) -> int:
    """Export; returns 0 (a refused INT8 export surfaces as ``AccuracyGuardError`` -> exit 1)."""
    from detectkit.train.export import export_model

    if args.int8 and not args.calibration:
        raise UsageError("--int8 needs --calibration DATASET (images to calibrate the INT8 ranges)")
    if args.max_drop < 0:
        raise UsageError(f"--max-drop must be >= 0, got {args.max_drop}")
    if args.calibration_size < 1:
        raise UsageError(f"--calibration-size must be >= 1, got {args.calibration_size}")
    result = export_model(
        args.model,
        format=args.format,
        int8=args.int8,
        calibration=args.calibration,
        val=args.val,
        imgsz=args.imgsz,
        max_drop=args.max_drop,
        out=args.out,
        name=args.name,
        calibration_size=args.calibration_size,
        task=args.task,
    )
    if args.json:
        payload = {k: v for k, v in vars(result).items() if k != "entry"}
        payload["path"] = str(result.path)
        print(json.dumps(payload))
    else:
        print(result)
    print(f"load it with Detector({result.name or str(result.path)!r}) / Classifier(...)", file=sys.stderr)
    return 0
