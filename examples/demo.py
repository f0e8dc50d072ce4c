"""The detectkit demo (``make demo``): the shipped demo detector on the sample shapes images.

Runs ``Detector("demo-shapes")`` over a few images of ``datasets/shapes/images/val``, writes
annotated images and one JSON file per image under ``out/demo/``, plus ``out/demo/summary.json``,
and prints a short summary (objects found per class, time per image, agreement with the labels:
recall = labelled objects found, precision = detections that are correct).

    python examples/demo.py [--images N] [--out DIR] [--backend torch|onnx|auto]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "datasets" / "shapes" / "images" / "val"


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def match(dets: Any, label_file: Path, image_size_wh: tuple[int, int]) -> tuple[int, int, int]:
    """(true positives, labelled objects, detections) for one image.

    Detections are matched one to one with the labels, highest confidence first: a detection
    is a true positive when it has the label's class and IoU >= 0.5 with a label not matched
    yet. Recall is true positives / labelled objects, precision true positives / detections.

    >>> import tempfile
    >>> from detectkit import Detections
    >>> label = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = label.write_text("0 0.25 0.25 0.5 0.5\\n")
    >>> dets = Detections(xyxy=[[0, 0, 50, 50], [1, 1, 50, 50], [60, 60, 90, 90]], confidence=[0.9, 0.8, 0.7])
    >>> match(dets, label, (100, 100))  # one hit, a duplicate and a false alarm
    (1, 1, 3)
    """
    from detectkit.boxes import box_iou, convert

    rows = np.loadtxt(label_file, ndmin=2) if label_file.is_file() else np.zeros((0, 5))
    if rows.size == 0 or len(dets) == 0:
        return 0, len(rows) if rows.size else 0, len(dets)
    gt = convert(rows[:, 1:5], "cxcywhn", "xyxy", image_size_wh=image_size_wh)
    ok = (box_iou(gt, dets.xyxy) >= 0.5) & (rows[:, :1].astype(np.int64) == dets.class_id[None, :])
    taken = np.zeros(len(gt), dtype=bool)
    hits = 0
    for j in np.argsort(-dets.confidence, kind="stable"):
        free = np.flatnonzero(ok[:, j] & ~taken)
        if len(free):
            taken[free[0]] = True
            hits += 1
    return hits, len(gt), len(dets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8, help="how many sample images (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx", "auto"))
    args = parser.parse_args(argv)

    from detectkit import Detector, annotate
    from detectkit.image import load_image
    from detectkit.viz import save

    images = sorted(SAMPLES.glob("*.jpg"))[: args.images]
    if not images:
        print(f"no sample images in {SAMPLES}")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    detector = Detector("demo-shapes", backend=args.backend)
    load_s = time.perf_counter() - t0
    print(f"model: {detector}  (loaded in {load_s:.1f} s)")

    per_class: Counter[str] = Counter()
    found = labelled = detected = 0
    times: list[float] = []
    for info, dets in _timed(detector.detect_stream(images), times):
        if info.path is None or info.image_size_wh is None:  # pragma: no cover - files always have both
            continue
        per_class.update(dets.labels)
        hit, n, m = match(dets, SAMPLES.parents[1] / "labels" / "val" / f"{info.path.stem}.txt", info.image_size_wh)
        found, labelled, detected = found + hit, labelled + n, detected + m
        save(annotate(load_image(info.path), dets), args.out / f"{info.path.stem}.jpg")
        _write_json(args.out / f"{info.path.stem}.json", {"image": info.path.name, **dets.to_dict()})
        print(
            f"  {info.path.name}: {len(dets):2d} objects  " + ", ".join(f"{b.label} {b.confidence:.2f}" for b in dets)
        )

    ms = 1000 * float(np.median(times)) if times else 0.0
    summary = {
        "images": len(images),
        "detections": sum(per_class.values()),
        "per_class": dict(per_class.most_common()),
        "labelled_objects_found": f"{found}/{labelled}",
        "detections_correct": f"{found}/{detected}",
        "recall": round(found / labelled, 4) if labelled else None,
        "precision": round(found / detected, 4) if detected else None,
        "median_ms_per_image": round(ms, 1),
        "backend": detector.backend,
        "out": str(args.out),
    }
    _write_json(args.out / "summary.json", summary)
    print(
        f"{summary['images']} images, {summary['detections']} objects "
        f"({', '.join(f'{k} {v}' for k, v in per_class.most_common())}); "
        f"labelled objects found (recall): {found}/{labelled}; detections correct (precision): {found}/{detected} "
        f"(IoU >= 0.5, right class); {ms:.1f} ms/image median ({detector.backend}); "
        f"results in {args.out}"
    )

    # Whole-image recognition on a real photo: ImageNet top-5 + CAM box and heatmap (out/classify/).
    from classify_and_localize import run as classify_and_localize  # examples/ is the script's folder

    classify_and_localize(args.out.parent / "classify")
    return 0


def _timed(it: Any, times: list[float]) -> Any:
    """Yield from ``it``, recording the time each item took to produce."""
    while True:
        start = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        times.append(time.perf_counter() - start)
        yield item


if __name__ == "__main__":
    raise SystemExit(main())
