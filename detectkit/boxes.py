"""Box geometry: format conversion and simple helpers on ``(N, 4)`` numpy arrays.

detectkit holds boxes in exactly one internal format, absolute-pixel ``xyxy``.
Other formats appear only at the edges (file formats, model outputs) and are
converted through :func:`convert`, the single conversion function.

Formats (``n`` suffix = normalised by the image size, so ``image_size_wh`` is needed):

============  ==========================================  ==============
name          columns                                     used by
============  ==========================================  ==============
``xyxy``      x1, y1, x2, y2                               detectkit, VOC
``xywh``      x1, y1, width, height                        COCO
``cxcywh``    centre x, centre y, width, height            YOLO (``n``)
============  ==========================================  ==============
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from detectkit._checks import as_boxes, check_choice, check_image_size_wh
from detectkit.errors import InvalidInputError

__all__ = ["BoxFormat", "area", "clip", "convert"]

BoxFormat = Literal["xyxy", "xywh", "cxcywh", "xyxyn", "xywhn", "cxcywhn"]
_FORMATS: tuple[str, ...] = get_args(BoxFormat)


def _to_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, :2] + b[:, 2:]
    else:  # cxcywh
        half = b[:, 2:] / 2
        out[:, :2] = b[:, :2] - half
        out[:, 2:] = b[:, :2] + half
    return out


def _from_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    wh = b[:, 2:] - b[:, :2]
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
    else:  # cxcywh
        out[:, :2] = b[:, :2] + wh / 2
    out[:, 2:] = wh
    return out


def convert(
    boxes: Any,
    src: BoxFormat | str,
    dst: BoxFormat | str,
    *,
    image_size_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Convert boxes between formats; returns a new float64 ``(N, 4)`` array.

    Args:
        boxes: ``(N, 4)`` array-like in format ``src``.
        src: one of ``xyxy``, ``xywh``, ``cxcywh``, ``xyxyn``, ``xywhn``, ``cxcywhn``.
        dst: the target format, same choices.
        image_size_wh: ``(width, height)`` in pixels; required when exactly one side is
            normalised.

    Raises:
        InvalidInputError: unknown format name, wrong shape, non-finite values, negative
            width/height, or a missing ``image_size_wh``.

    >>> convert([[10, 20, 30, 60]], "xyxy", "xywh").tolist()
    [[10.0, 20.0, 20.0, 40.0]]
    >>> convert([[0.5, 0.5, 0.5, 0.25]], "cxcywhn", "xyxy", image_size_wh=(200, 100)).tolist()
    [[50.0, 37.5, 150.0, 62.5]]
    """
    check_choice(src, "src", _FORMATS)
    check_choice(dst, "dst", _FORMATS)
    src_norm, dst_norm = src.endswith("n"), dst.endswith("n")
    src_base, dst_base = src.removesuffix("n"), dst.removesuffix("n")
    arr = as_boxes(boxes, "boxes", check_order=(src_base == "xyxy"))
    if src_base != "xyxy" and arr.size and (arr[:, 2:] < 0).any():
        bad = int(np.flatnonzero((arr[:, 2:] < 0).any(axis=1))[0])
        raise InvalidInputError(
            f"boxes in {src} must have non-negative width and height, got {arr[bad].tolist()} at row {bad}"
        )
    scale: np.ndarray | None = None
    if src_norm != dst_norm:
        if image_size_wh is None:
            raise InvalidInputError(f"image_size_wh is required to convert {src} -> {dst}, got None")
        w, h = check_image_size_wh(image_size_wh)
        scale = np.array([w, h, w, h], dtype=np.float64)
    out = arr
    if src_norm and scale is not None:
        out = out * scale
    if src_base != dst_base:
        out = _from_xyxy(_to_xyxy(out, src_base), dst_base)
    if dst_norm and scale is not None:
        out = out / scale
    return out if out is not arr else arr.copy()


def area(boxes: Any) -> np.ndarray:
    """Area of xyxy boxes, shape ``(N,)`` float64.

    >>> area([[0, 0, 2, 3], [1, 1, 1, 5]]).tolist()
    [6.0, 0.0]
    """
    b = as_boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def clip(boxes: Any, image_size_wh: tuple[int, int]) -> np.ndarray:
    """Clip xyxy boxes to the image ``[0, width] x [0, height]``; returns a new array.

    >>> clip([[-5, 10, 120, 40]], (100, 30)).tolist()
    [[0.0, 10.0, 100.0, 30.0]]
    """
    b = as_boxes(boxes, "boxes")
    w, h = check_image_size_wh(image_size_wh)
    np.clip(b[:, 0::2], 0, w, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, h, out=b[:, 1::2])
    return b
