"""detectkit: image recognition and object detection in one SDK.

>>> import detectkit
>>> detectkit.Detections(xyxy=[[0, 0, 10, 10]], confidence=[0.9])
Detections(1 boxes, predictions, classes=[0])

Everything loads lazily on first use (numpy with the first array type; models, torch and
ultralytics with the first model), so ``import detectkit`` stays fast and side-effect free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from detectkit.errors import (
    AnnotationParseError,
    DetectkitError,
    InvalidInputError,
    MissingDependencyError,
    ModelLoadError,
)

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means the module itself.
# Imported on first attribute access so heavy dependencies load only when used.
_LAZY: dict[str, tuple[str, str | None]] = {
    "Detections": ("detectkit.detections", "Detections"),
    "Classification": ("detectkit.detections", "Classification"),
    "boxes": ("detectkit.boxes", None),
    "nms": ("detectkit.nms", None),
    "box_iou": ("detectkit.boxes", "box_iou"),
    "batched_nms": ("detectkit.nms", "batched_nms"),
    "soft_nms": ("detectkit.nms", "soft_nms"),
    "weighted_boxes_fusion": ("detectkit.nms", "weighted_boxes_fusion"),
    "non_max_merge": ("detectkit.nms", "non_max_merge"),
    "viz": ("detectkit.viz", None),
    "annotate": ("detectkit.viz", "annotate"),
    "Dataset": ("detectkit.dataset", "Dataset"),
    "convert": ("detectkit.formats", "convert"),
    "Classifier": ("detectkit.models.classifier", "Classifier"),
    "Detector": ("detectkit.models.detector", "Detector"),
    "Pipeline": ("detectkit.models.pipeline", "Pipeline"),
    "metrics": ("detectkit.metrics", None),
    "evaluate": ("detectkit.metrics", "evaluate"),
    "Metrics": ("detectkit.metrics", "Metrics"),
    "SliceConfig": ("detectkit.slicing", "SliceConfig"),
    "video": ("detectkit.video", None),
    "Tracker": ("detectkit.video.tracker", "Tracker"),
    "train_detector": ("detectkit.train.detector", "train_detector"),
    "train_classifier": ("detectkit.train.classifier", "train_classifier"),
    "export_model": ("detectkit.train.export", "export_model"),
}

if TYPE_CHECKING:  # pragma: no cover
    from detectkit import boxes, nms, video, viz
    from detectkit.boxes import box_iou
    from detectkit.dataset import Dataset
    from detectkit.detections import Classification, Detections
    from detectkit.formats import convert
    from detectkit.metrics import Metrics, evaluate
    from detectkit.models.classifier import Classifier
    from detectkit.models.detector import Detector
    from detectkit.models.pipeline import Pipeline
    from detectkit.nms import batched_nms, non_max_merge, soft_nms, weighted_boxes_fusion
    from detectkit.slicing import SliceConfig
    from detectkit.video.tracker import Tracker
    from detectkit.train.classifier import train_classifier
    from detectkit.train.detector import train_detector
    from detectkit.train.export import export_model
    from detectkit.viz import annotate

__all__ = [
    "AnnotationParseError",
    "Classification",
    "Classifier",
    "Dataset",
    "Detections",
    "DetectkitError",
    "Detector",
    "InvalidInputError",
    "Metrics",
    "MissingDependencyError",
    "ModelLoadError",
    "Pipeline",
    "SliceConfig",
    "Tracker",
    "__version__",
    "annotate",
    "batched_nms",
    "box_iou",
    "boxes",
    "convert",
    "evaluate",
    "export_model",
    "metrics",
    "nms",
    "non_max_merge",
    "soft_nms",
    "train_classifier",
    "train_detector",
    "video",
    "viz",
    "weighted_boxes_fusion",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'detectkit' has no attribute {name!r}")
    module, attribute = target
    mod = importlib.import_module(module)
    value = mod if attribute is None else getattr(mod, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
