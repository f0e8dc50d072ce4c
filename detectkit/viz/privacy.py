"""Privacy: blur or pixelate detected regions (faces, plates, people) on a copy of the image.

With instance masks only the object's pixels change; otherwise the whole (optionally padded)
box. Strength scales with each region's size unless given, so small faces and large people are
both unrecognisable.

>>> import numpy as np
>>> from detectkit import Detections
>>> img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
>>> out = pixelate(img, Detections(xyxy=[[10, 10, 50, 50]]))
>>> bool((out[:10] == img[:10]).all()), bool((out[10:50, 10:50] == img[10:50, 10:50]).all())
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import cv2
import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.viz._common import as_detections, canvas

__all__ = ["blur", "pixelate"]


def _regions(
    image: Any,
    detections: Detections,
    op: Callable[[np.ndarray], np.ndarray],
    *,
    classes: Iterable[int | str] | None,
    padding: float,
    masks: bool,
    channels: str,
) -> np.ndarray:
    out, _ = canvas(image, channels=channels)
    dets = as_detections(detections)
    if classes is not None:
        dets = dets.filter(classes=classes)
    if not (isinstance(padding, (int, float)) and 0.0 <= float(padding) <= 10.0):
        raise InvalidInputError(f"padding must be a fraction of the box size in [0, 10], got {padding!r}")
    h_img, w_img = out.shape[:2]
    use_mask = masks and dets.mask is not None
    if use_mask and dets.mask is not None and dets.mask.shape[1:] != (h_img, w_img):
        raise InvalidInputError(
            f"detections.mask must match the image size (N, {h_img}, {w_img}), got {tuple(dets.mask.shape)}"
        )
    for i, (x1, y1, x2, y2) in enumerate(dets.xyxy.tolist()):
        px, py = (x2 - x1) * padding, (y2 - y1) * padding
        a, b = max(0, math.floor(x1 - px)), max(0, math.floor(y1 - py))
        c, d = min(w_img, math.ceil(x2 + px)), min(h_img, math.ceil(y2 + py))
        if c <= a or d <= b:
            continue
        roi = out[b:d, a:c]
        changed = op(roi)
        if use_mask and dets.mask is not None:
            np.copyto(roi, changed, where=dets.mask[i, b:d, a:c][:, :, None])
        else:
            roi[...] = changed
    return out


def blur(
    image: Any,
    detections: Detections,
    *,
    kernel_size: int | None = None,
    classes: Iterable[int | str] | None = None,
    padding: float = 0.0,
    masks: bool = True,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Blur every detected region on a copy of ``image``.

    Args:
        image: uint8 image (see :func:`detectkit.viz.annotate` for accepted layouts).
        detections: regions to hide.
        kernel_size: box-filter size in pixels (applied twice); default a third of each
            region's shorter side (at least 3).
        classes: only these class ids or names (default all).
        padding: grow each box by this fraction of its size on every side.
        masks: with instance masks, change only the masked pixels.
        channels: channel order of ``image``.

    >>> img = np.zeros((40, 40, 3), np.uint8); img[20:, :] = 255
    >>> out = blur(img, Detections(xyxy=[[0, 10, 40, 30]]))
    >>> 0 < int(out[20, 20, 0]) < 255, int(img[20, 20, 0])
    (True, 255)
    """
    bad = kernel_size is not None and (
        isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1
    )
    if bad:
        raise InvalidInputError(f"kernel_size must be a positive integer or None, got {kernel_size!r}")

    def op(roi: np.ndarray) -> np.ndarray:
        k = kernel_size or max(3, min(roi.shape[:2]) // 3)
        once = cv2.blur(roi, (k, k), borderType=cv2.BORDER_REFLECT)
        return cv2.blur(once, (k, k), borderType=cv2.BORDER_REFLECT)

    return _regions(image, detections, op, classes=classes, padding=padding, masks=masks, channels=channels)


def pixelate(
    image: Any,
    detections: Detections,
    *,
    pixel_size: int | None = None,
    classes: Iterable[int | str] | None = None,
    padding: float = 0.0,
    masks: bool = True,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Pixelate every detected region on a copy of ``image``.

    Args:
        image: uint8 image.
        detections: regions to hide.
        pixel_size: block size in pixels; default an eighth of each region's shorter side
            (at least 4).
        classes: only these class ids or names (default all).
        padding: grow each box by this fraction of its size on every side.
        masks: with instance masks, change only the masked pixels.
        channels: channel order of ``image``.
    """
    if pixel_size is not None and (isinstance(pixel_size, bool) or not isinstance(pixel_size, int) or pixel_size < 1):
        raise InvalidInputError(f"pixel_size must be a positive integer or None, got {pixel_size!r}")

    def op(roi: np.ndarray) -> np.ndarray:
        h, w = roi.shape[:2]
        block = pixel_size or max(4, min(h, w) // 8)
        small = cv2.resize(roi, (max(1, round(w / block)), max(1, round(h / block))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)

    return _regions(image, detections, op, classes=classes, padding=padding, masks=masks, channels=channels)
