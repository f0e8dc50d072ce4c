"""YOLO (Ultralytics) datasets: ``data.yaml`` + ``images/`` + ``labels/``, detect / segment / OBB.

A label file ``labels/<stem>.txt`` holds one object per line in normalised coordinates:
``class cx cy w h`` (detect, optionally a 6th ``confidence`` column for predictions),
``class x1 y1 x2 y2 ... xn yn`` (segment polygon) or ``class x1 y1 ... x4 y4`` (OBB).
Class indices are contiguous from 0; a dataset with other category ids (e.g. COCO's
1..90) is mapped in id order and the original ids are recorded in ``detectkit.json``
beside ``data.yaml`` together with the image list and sizes, so YOLO -> COCO gives back
the same ids, image ids, sizes and empty images even when no image files were copied.

Every image gets a label file (an empty one when it has no objects), so empty images
are never lost. Splits (``ImageRecord.split``) become ``images/<split>/`` folders.
"""

from __future__ import annotations

from detectkit.formats.yolo._fast_write import render_rows
from detectkit.formats.yolo.layout import META_FILE, YOLOTask, find_yaml, join_parts, split_parts
from detectkit.formats.yolo.read import labels_table, read
from detectkit.formats.yolo.write import write

__all__ = [
    "META_FILE",
    "YOLOTask",
    "find_yaml",
    "join_parts",
    "labels_table",
    "read",
    "render_rows",
    "split_parts",
    "write",
]
