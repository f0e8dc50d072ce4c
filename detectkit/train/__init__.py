"""Training, fine-tuning, augmentation, export and quantisation.

* :func:`export_model` — ONNX / OpenVINO, FP32 or INT8 with an accuracy guard
  (:mod:`detectkit.train.export`).
* :func:`train_classifier` — transfer learning from the shipped ImageNet weights
  (:mod:`detectkit.train.classifier`).
* :func:`train_detector` — Ultralytics training from any dataset ``Dataset.read`` reads,
  evaluated with detectkit's COCO metrics (:mod:`detectkit.train.detector`).

Heavy libraries (torch, ultralytics, openvino, nncf) are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_model", "train_classifier", "train_detector"]


def export_model(*args: Any, **kwargs: Any) -> Any:
    """See :func:`detectkit.train.export.export_model`."""
    from detectkit.train.export import export_model as run

    return run(*args, **kwargs)


def train_classifier(*args: Any, **kwargs: Any) -> Any:
    """See :func:`detectkit.train.classifier.train_classifier`."""
    from detectkit.train.classifier import train_classifier as run

    return run(*args, **kwargs)


def train_detector(*args: Any, **kwargs: Any) -> Any:
    """See :func:`detectkit.train.detector.train_detector`."""
    from detectkit.train.detector import train_detector as run

    return run(*args, **kwargs)
