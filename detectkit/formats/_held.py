"""What each target format can hold of the per-object columns and per-image keys a reader carried.

``convert`` counts the values a target cannot hold (``ConvertSummary.lost``), so flags and
attributes are never dropped without a word: VOC ``difficult``/``truncated``/``pose``/``parts``/
``actions``, CVAT ``attributes``/``occluded``/track ids, LabelMe image ``flags``, COCO image keys.

>>> import numpy as np
>>> from detectkit import Detections
>>> from detectkit.dataset import Category, Dataset, ImageRecord
>>> ds = Dataset(categories=[Category(0, "dog")], images=[ImageRecord(1, "a.jpg", 64, 48)],
...              annotations={1: Detections(xyxy=[[1, 2, 30, 40]], data={"difficult": [1]})})
>>> unheld(ds, "yolo"), unheld(ds, "voc")
({'difficult': 1}, {})
"""

from __future__ import annotations

from typing import Any

from detectkit.dataset import Dataset

__all__ = ["unheld"]

#: Per-object data columns each target writes (with the values it can hold).
OBJECT_COLUMNS: dict[str, frozenset[str]] = {
    "coco": frozenset({"difficult", "truncated", "occluded", "pose", "attributes"}),
    "voc": frozenset({"difficult", "truncated", "occluded", "pose", "parts", "actions"}),
    "cvat": frozenset({"attributes", "occluded", "tracker_id", "difficult", "truncated", "pose"}),
    "labelme": frozenset({"difficult", "truncated", "occluded"}),
    "yolo": frozenset(),
}
#: Columns the writers handle (and report) themselves.
_HANDLED = frozenset({"annotation_id", "area", "iscrowd", "segmentation"})
#: Per-image ``extra`` keys each target writes (None: every key).
IMAGE_KEYS: dict[str, frozenset[str] | None] = {
    "coco": None,
    "voc": frozenset({"imageData"}),  # embedded images are written out as files
    "cvat": frozenset({"subset", "cvat_id", "imageData"}),
    "labelme": frozenset({"flags", "imageData"}),
    "yolo": frozenset({"imageData"}),
}
#: Reader bookkeeping keys that carry no information of their own.
_IMAGE_INTERNAL = frozenset({"cvat_id", "subset"})
#: Targets that keep only some keys of an ``attributes`` dict.
_ATTRIBUTE_KEYS = {
    "labelme": frozenset({"flags", "description"}),
    "voc": frozenset({"difficult", "truncated", "occluded", "pose"}),  # CVAT attributes named like VOC fields
}


def _has_value(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    try:
        return bool(v == v) and v != 0  # NaN and 0 (flag off) hold nothing
    except (TypeError, ValueError):
        return True


def unheld(ds: Dataset, target: str) -> dict[str, int]:
    """``{what: count}`` of the values ``target`` cannot hold: objects per column, images per key.

    Image keys are counted as ``"image <key>"`` (``"image flags"``).
    """
    held = OBJECT_COLUMNS.get(target)
    out: dict[str, int] = {}
    if held is None:
        return out
    t = ds.table
    for name in t.data:
        if name in _HANDLED or name.startswith("_"):
            continue
        values = t.data[name].tolist()
        if name == "attributes" and target in _ATTRIBUTE_KEYS:
            keep = _ATTRIBUTE_KEYS[target]
            n = sum(1 for v in values if isinstance(v, dict) and any(_has_value(v[k]) for k in set(v) - keep))
        elif name in held:
            continue
        elif name == "tracker_id":  # 0 is a track id; -1 is none
            n = sum(1 for v in values if v is not None and v >= 0)
        else:
            n = sum(1 for v in values if _has_value(v))
        if n:
            out[name] = n
    keys = IMAGE_KEYS.get(target, frozenset())
    if keys is not None:
        counts: dict[str, int] = {}
        for rec in ds.images:
            for k, v in rec.extra.items():
                if k not in keys and k not in _IMAGE_INTERNAL and _has_value(v):
                    counts[k] = counts.get(k, 0) + 1
        out.update({f"image {k}": n for k, n in counts.items()})
    return out
