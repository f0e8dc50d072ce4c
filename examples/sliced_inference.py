"""Sliced inference on a large image with small objects: whole-image vs sliced, side by side.

    python examples/sliced_inference.py [--out DIR] [--size 1920x1080]   (default: out/sliced)

Generates a large image of small shapes (``datasets/generate_large.py``), runs the shipped
demo detector on the whole image and sliced into 320 px tiles, prints how many of the labelled
shapes each finds, and writes ``sliced_vs_whole.jpg`` (the README picture in ``docs/images/``):
a crop of the whole-image result (left) next to the same crop of the sliced result (right,
tile borders in grey).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("example_generate_large", ROOT / "datasets" / "generate_large.py")
    if spec is None or spec.loader is None:
        raise ImportError("datasets/generate_large.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _found(dets: Any, boxes: np.ndarray, cls: np.ndarray) -> int:
    """Labelled shapes matched by a box of their class at IoU >= 0.5."""
    from detectkit.boxes import box_iou

    if len(dets) == 0 or len(boxes) == 0:
        return 0
    iou = box_iou(boxes, dets.xyxy).astype(float)
    iou[cls[:, None] != dets.class_id[None, :]] = 0
    return int((iou.max(axis=1) >= 0.5).sum())


def main(argv: list[str] | None = None) -> int:
    import cv2

    from detectkit import Detector
    from detectkit.slicing import SliceConfig, slice_boxes
    from detectkit.viz import annotate, grid, save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out/sliced"))
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the generated image")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    img, objects = _generator().generate_large_image(0, 3, size_wh=(w, h), fill=0.5)
    boxes = np.array([b for _, b in objects], float).reshape(-1, 4)
    cls = np.array([c for c, _ in objects], np.int64)

    detector = Detector(backend="auto")
    config = SliceConfig(slice_wh=320, overlap=0.2)
    whole = detector.detect(img)
    sliced = detector.detect(img, slicing=config)
    n = len(boxes)
    print(f"image {w}x{h}, {n} labelled shapes (7-40 px), backend {detector.backend}")
    print(f"whole image: {len(whole)} boxes, {_found(whole, boxes, cls)}/{n} shapes found")
    print(f"sliced 320 px, overlap 0.2: {len(sliced)} boxes, {_found(sliced, boxes, cls)}/{n} shapes found")

    tiles = img.copy()
    for x0, y0, x1, y1 in slice_boxes((w, h), 320, config.overlap_px((320, 320))).tolist():
        cv2.rectangle(tiles, (x0, y0), (x1 - 1, y1 - 1), (200, 200, 200), 1)
    right = annotate(tiles, sliced, labels=False, confidence=False, thickness=2)
    left = annotate(img, whole, labels=False, confidence=False, thickness=2)
    cw, ch = min(w, 560), min(h, 380)  # a crop, enlarged 1.5x, so the small shapes stay visible
    x, y = (w - cw) // 2, (h - ch) // 2
    picture = grid(
        [left[y : y + ch, x : x + cw], right[y : y + ch, x : x + cw]],
        columns=2,
        cell_size_wh=(cw * 3 // 2, ch * 3 // 2),
        titles=[f"whole image: {len(whole)} boxes", f"sliced (320 px tiles): {len(sliced)} boxes"],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "sliced_vs_whole.jpg"
    save(picture, target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
