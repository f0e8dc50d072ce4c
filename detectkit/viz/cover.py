"""Covering regions completely: a solid rectangle, or a solid fill of the object's own shape.

:func:`blur` and :func:`pixelate` (:mod:`detectkit.viz.privacy`) keep some of the picture;
these two keep none of it. :func:`solid` paints each (padded) box; :func:`mask` paints each
instance mask when the detections carry masks, else the ellipse inscribed in the (padded)
box — the shape of a face, which covers it with less of the background than a rectangle.

>>> import numpy as np
>>> from detectkit import Detections
>>> img = np.full((40, 40, 3), 200, np.uint8)
>>> out = solid(img, Detections(xyxy=[[10, 10, 30, 30]]))
>>> int(out[20, 20, 0]), int(out[5, 5, 0]), int(img[20, 20, 0])
(0, 200, 200)
>>> out = mask(img, Detections(xyxy=[[10, 10, 30, 30]]))
>>> int(out[20, 20, 0]), int(out[10, 10, 0])
(0, 200)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import cv2
import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.viz._common import as_detections, canvas, ink

__all__ = ["mask", "padded_boxes", "solid"]


def padded_boxes(xyxy: np.ndarray, padding: float, image_size_wh: tuple[int, int] | None) -> np.ndarray:
    """Grow boxes by ``padding`` of their size on every side, round outwards and clip to the image.

    Args:
        xyxy: (N, 4) boxes in absolute pixels.
        padding: fraction of each box's width (height) added left and right (top and bottom).
        image_size_wh: the image size the result is clipped to (None: not clipped).

    Returns:
        (N, 4) int64 ``x1, y1, x2, y2`` pixel bounds (``x2``/``y2`` exclusive).

    >>> padded_boxes(np.array([[10.0, 10, 20, 30]]), 0.1, (25, 100)).tolist()
    [[9, 8, 21, 32]]
    >>> padded_boxes(np.array([[10.0, 10, 20, 30]]), 0.5, (22, 100)).tolist()
    [[5, 0, 22, 40]]
    """
    if isinstance(padding, bool) or not isinstance(padding, (int, float)) or not 0.0 <= float(padding) <= 10.0:
        raise InvalidInputError(f"padding must be a fraction of the box size in [0, 10], got {padding!r}")
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    lo = np.floor(boxes[:, :2] - wh * padding)
    hi = np.ceil(boxes[:, 2:] + wh * padding)
    out = np.concatenate([lo, hi], axis=1)
    if image_size_wh is not None:
        w, h = image_size_wh
        np.clip(out, 0, [w, h, w, h], out=out)
    return out.astype(np.int64)


def _prepare(
    image: Any, detections: Detections, classes: Iterable[int | str] | None, channels: str
) -> tuple[np.ndarray, Detections]:
    out, _ = canvas(image, channels=channels)
    dets = as_detections(detections)
    if classes is not None:
        dets = dets.filter(classes=classes)
    return out, dets


def _check_color(color: Any) -> tuple[int, int, int]:
    ok = isinstance(color, (tuple, list)) and len(color) == 3
    ok = ok and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    if not ok:
        raise InvalidInputError(f"color must be three ints in [0, 255], got {color!r}")
    return (int(color[0]), int(color[1]), int(color[2]))


def solid(
    image: Any,
    detections: Detections,
    *,
    color: tuple[int, int, int] = (0, 0, 0),
    classes: Iterable[int | str] | None = None,
    padding: float = 0.0,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Paint every detected (padded) box with ``color`` on a copy of ``image``.

    Args:
        image: uint8 image (see :func:`detectkit.viz.annotate` for accepted layouts).
        detections: regions to hide.
        color: fill colour in the image's channel order.
        classes: only these class ids or names (default all).
        padding: grow each box by this fraction of its size on every side.
        channels: channel order of ``image``.

    >>> img = np.full((10, 10, 3), 255, np.uint8)
    >>> int((solid(img, Detections(xyxy=[[2, 2, 4, 4]]), padding=0.5) == 0).all(axis=2).sum())
    16
    """
    fill = _check_color(color)
    out, dets = _prepare(image, detections, classes, channels)
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in padded_boxes(dets.xyxy, padding, (w, h)).tolist():
        out[y1:y2, x1:x2] = ink(fill, out.shape[2])
    return out


def mask(
    image: Any,
    detections: Detections,
    *,
    color: tuple[int, int, int] = (0, 0, 0),
    classes: Iterable[int | str] | None = None,
    padding: float = 0.0,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Paint each object's shape: its instance mask if present, else the ellipse in its (padded) box.

    With masks, ``padding`` dilates each mask by that fraction of its box's shorter side, so
    the outline is covered too.

    Args:
        image: uint8 image.
        detections: regions to hide (with or without ``mask``).
        color: fill colour in the image's channel order.
        classes: only these class ids or names (default all).
        padding: grow each region by this fraction of its box size.
        channels: channel order of ``image``.

    >>> img = np.full((20, 20, 3), 255, np.uint8)
    >>> m = np.zeros((1, 20, 20), bool); m[0, 5:8, 5:8] = True
    >>> out = mask(img, Detections(xyxy=[[5, 5, 8, 8]], mask=m))
    >>> int((out == 0).all(axis=2).sum())
    9
    """
    fill = ink(_check_color(color), 3)
    out, dets = _prepare(image, detections, classes, channels)
    h, w = out.shape[:2]
    boxes = padded_boxes(dets.xyxy, padding, None)  # unclipped: the image clips the ellipse itself
    paint = np.zeros((h, w), np.uint8)
    if dets.mask is not None:
        if dets.mask.shape[1:] != (h, w):
            raise InvalidInputError(
                f"detections.mask must match the image size (N, {h}, {w}), got {tuple(dets.mask.shape)}"
            )
        for m, (x1, y1, x2, y2) in zip(dets.mask, dets.xyxy.tolist()):
            grow = math.ceil(min(x2 - x1, y2 - y1) * float(padding))
            one = m.astype(np.uint8)
            if grow > 0:
                one = cv2.dilate(one, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
            paint |= one
    else:
        for x1, y1, x2, y2 in boxes.tolist():
            if x2 <= x1 or y2 <= y1:
                continue
            # Drawn in 1/16 pixel units (shift 4) so small faces keep their shape.
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            axes = (max(1, round((x2 - x1) / 2 * 16)), max(1, round((y2 - y1) / 2 * 16)))
            cv2.ellipse(paint, (round(cx * 16), round(cy * 16)), axes, 0, 0, 360, 1, -1, cv2.LINE_8, 4)
    where = paint.astype(bool)
    out[where, :3] = fill
    if out.shape[2] == 4:
        out[where, 3] = 255
    return out
