"""Evaluation: COCO-exact mAP/AR, per-class tables, PR curves, confusion matrix, F1 threshold, plots.

:func:`evaluate` compares predictions with ground truth and returns :class:`Metrics`. The 12
COCO numbers equal pycocotools' ``COCOeval`` (bbox and segm) — the engine is a vectorised
re-implementation of its matching and accumulation on flat numpy arrays, several times faster
than pycocotools and faster-coco-eval end to end from files (see ``benchmarks/bench_eval.py``).

>>> gt = {
...     "images": [{"id": 1, "width": 100, "height": 100}],
...     "categories": [{"id": 1, "name": "cat"}],
...     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500}],
... }
>>> preds = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 50, 50], "score": 0.9}]
>>> m = evaluate(gt, preds)
>>> round(m.map50, 3), round(m.map, 3)
(1.0, 0.9)
>>> m.per_class()[0]["name"]
'cat'
"""

from __future__ import annotations

from detectkit.metrics._engine import AREA_RANGES, IOU_THRESHOLDS, RECALL_THRESHOLDS
from detectkit.metrics.evaluation import evaluate, evaluate_detector
from detectkit.metrics.mot import MotMetrics, MotSequence, evaluate_mot, load_mot, save_mot
from detectkit.metrics.result import STAT_NAMES, ConfusionMatrix, Metrics

__all__ = [
    "AREA_RANGES",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "STAT_NAMES",
    "ConfusionMatrix",
    "Metrics",
    "MotMetrics",
    "MotSequence",
    "evaluate",
    "evaluate_detector",
    "evaluate_mot",
    "load_mot",
    "save_mot",
]
