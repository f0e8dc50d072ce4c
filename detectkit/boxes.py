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

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, get_args

import numpy as np

from detectkit._checks import as_boxes, check_choice, check_image_size_wh
from detectkit.errors import InvalidInputError

__all__ = [
    "BoxFormat",
    "LetterboxParams",
    "area",
    "box_ciou",
    "box_diou",
    "box_giou",
    "box_ioa",
    "box_iou",
    "clip",
    "convert",
    "crop",
    "crop_image",
    "letterbox",
    "letterbox_canvas_wh",
    "letterbox_params",
    "mask_to_polygons",
    "masks_to_xyxy",
    "obb_iou",
    "obb_to_polygon",
    "pad",
    "polygon_iou",
    "polygon_to_xyxy",
    "polygons_to_mask",
    "scale",
    "translate",
    "unletterbox",
]

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
    out: np.ndarray = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return out


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


# ---------------------------------------------------------------------------- simple transforms
def translate(boxes: Any, offset_xy: tuple[float, float]) -> np.ndarray:
    """Shift xyxy boxes by ``(dx, dy)`` pixels (e.g. from a tile back to the full image).

    >>> translate([[0, 0, 10, 10]], (100, 50)).tolist()
    [[100.0, 50.0, 110.0, 60.0]]
    """
    b = as_boxes(boxes, "boxes")
    dx, dy = _pair(offset_xy, "offset_xy")
    b += np.array([dx, dy, dx, dy])
    return b


def scale(boxes: Any, factor_wh: float | tuple[float, float]) -> np.ndarray:
    """Multiply x coordinates by ``fx`` and y coordinates by ``fy`` (e.g. after resizing an image).

    >>> scale([[10, 10, 20, 30]], (0.5, 2)).tolist()
    [[5.0, 20.0, 10.0, 60.0]]
    """
    b = as_boxes(boxes, "boxes")
    fx, fy = _pair(factor_wh, "factor_wh", positive=True)
    b *= np.array([fx, fy, fx, fy])
    return b


def pad(
    boxes: Any,
    *,
    pixels: float | tuple[float, float] = 0.0,
    fraction: float | tuple[float, float] = 0.0,
    image_size_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Grow each box on every side by ``pixels`` plus ``fraction`` of its width/height.

    Negative values shrink (never below a zero-size box at the centre). With
    ``image_size_wh`` the result is clipped to the image.

    >>> pad([[10, 10, 20, 30]], pixels=1, fraction=0.5).tolist()
    [[4.0, -1.0, 26.0, 41.0]]
    """
    b = as_boxes(boxes, "boxes")
    px, py = _pair(pixels, "pixels")
    fx, fy = _pair(fraction, "fraction")
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    dx = px + fx * w
    dy = py + fy * h
    dx = np.maximum(dx, -w / 2)
    dy = np.maximum(dy, -h / 2)
    out = np.stack([b[:, 0] - dx, b[:, 1] - dy, b[:, 2] + dx, b[:, 3] + dy], axis=1)
    return clip(out, image_size_wh) if image_size_wh is not None else out


def crop(boxes: Any, crop_xyxy: Any) -> np.ndarray:
    """Express boxes in the frame of a crop ``(x1, y1, x2, y2)`` and clip them to it.

    Boxes outside the crop become zero-area; keep ``area(result) > 0`` to drop them.

    >>> crop([[10, 10, 30, 30], [90, 90, 95, 95]], (20, 0, 60, 40)).tolist()
    [[0.0, 10.0, 10.0, 30.0], [40.0, 40.0, 40.0, 40.0]]
    """
    b = as_boxes(boxes, "boxes")
    c = as_boxes([crop_xyxy] if np.ndim(crop_xyxy) == 1 else crop_xyxy, "crop_xyxy")
    if len(c) != 1:
        raise InvalidInputError(f"crop_xyxy must be one box (x1, y1, x2, y2), got {len(c)} boxes")
    x1, y1, x2, y2 = c[0]
    b[:, 0::2] = np.clip(b[:, 0::2], x1, x2) - x1
    b[:, 1::2] = np.clip(b[:, 1::2], y1, y2) - y1
    return b


def crop_image(image: Any, box: Any, *, margin: float = 0.0) -> np.ndarray:
    """A copy of the image region under ``box`` (xyxy, grown by ``margin`` pixels), clipped to the image.

    Pixel edges: the crop spans columns ``floor(x1)`` to ``ceil(x2)`` (exclusive).

    >>> crop_image(np.arange(20).reshape(4, 5), [1, 1, 3, 2]).tolist()
    [[6, 7]]
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise InvalidInputError(f"image must have shape (H, W) or (H, W, C), got {img.shape}")
    b = pad(as_boxes([box] if np.ndim(box) == 1 else box, "box"), pixels=margin)
    if len(b) != 1:
        raise InvalidInputError(f"box must be one box (x1, y1, x2, y2), got {len(b)} boxes")
    h, w = img.shape[:2]
    x1 = int(np.clip(np.floor(b[0, 0]), 0, w))
    y1 = int(np.clip(np.floor(b[0, 1]), 0, h))
    x2 = int(np.clip(np.ceil(b[0, 2]), 0, w))
    y2 = int(np.clip(np.ceil(b[0, 3]), 0, h))
    return img[y1:y2, x1:x2].copy()


class LetterboxParams(NamedTuple):
    """How an image was letterboxed: ``new = old * ratio + pad`` per axis."""

    ratio: tuple[float, float]
    pad_wh: tuple[float, float]
    new_unpad_wh: tuple[int, int]


def letterbox_params(
    src_size_wh: tuple[int, int],
    dst_size_wh: tuple[int, int],
    *,
    scale_up: bool = True,
    center: bool = True,
    auto: bool = False,
    stride: int = 32,
) -> LetterboxParams:
    """Ratio and padding of an Ultralytics-style letterbox from ``src_size_wh`` to ``dst_size_wh``.

    The image is scaled by ``r = min(dst_w / src_w, dst_h / src_h)`` (capped at 1 unless
    ``scale_up``) and resized to ``new = max(round(src * r), 1)`` per side, so the exact
    per-axis ratio is ``new / src``; the canvas is ``dst`` (with ``auto``: ``new`` padded up
    to the next multiple of ``stride``, see :func:`letterbox_canvas_wh`); with ``center`` the
    left/top padding is ``round((canvas - new) / 2 - 0.1)`` as Ultralytics does, else 0.
    This is the one letterbox arithmetic: :func:`detectkit.image.letterbox` resizes and pads
    images with it.

    >>> letterbox_params((1280, 720), (640, 640))
    LetterboxParams(ratio=(0.5, 0.5), pad_wh=(0.0, 140.0), new_unpad_wh=(640, 360))
    >>> letterbox_params((1280, 720), (640, 640), auto=True).pad_wh
    (0.0, 12.0)
    """
    sw, sh = check_image_size_wh(src_size_wh, "src_size_wh")
    dw, dh = check_image_size_wh(dst_size_wh, "dst_size_wh")
    r = min(dw / sw, dh / sh)
    if not scale_up:
        r = min(r, 1.0)
    new_w, new_h = max(round(sw * r), 1), max(round(sh * r), 1)
    if center:
        cw, ch = letterbox_canvas_wh((new_w, new_h), (dw, dh), auto=auto, stride=stride)
        left, top = float(round((cw - new_w) / 2 - 0.1)), float(round((ch - new_h) / 2 - 0.1))
    else:
        left, top = 0.0, 0.0
    return LetterboxParams((new_w / sw, new_h / sh), (left, top), (new_w, new_h))


def letterbox_canvas_wh(
    new_unpad_wh: tuple[int, int], dst_size_wh: tuple[int, int], *, auto: bool = False, stride: int = 32
) -> tuple[int, int]:
    """Size of the padded letterbox image: ``dst_size_wh``, or with ``auto`` the resized
    content ``new_unpad_wh`` padded only up to the next multiple of ``stride`` per side (the
    minimum rectangle of Ultralytics' PyTorch predict).

    >>> letterbox_canvas_wh((640, 360), (640, 640)), letterbox_canvas_wh((640, 360), (640, 640), auto=True)
    ((640, 640), (640, 384))
    """
    (nw, nh), (dw, dh) = new_unpad_wh, dst_size_wh
    if not auto:
        return int(dw), int(dh)
    return int(nw + (dw - nw) % stride), int(nh + (dh - nh) % stride)


def letterbox(boxes: Any, *, ratio: float | tuple[float, float], pad_wh: tuple[float, float]) -> np.ndarray:
    """Map xyxy boxes from the original image into letterboxed coordinates (``box * ratio + pad``).

    ``ratio`` is one number or a per-axis ``(rx, ry)`` pair (as :func:`letterbox_params` gives).

    >>> p = letterbox_params((1280, 720), (640, 640))
    >>> letterbox([[100, 100, 200, 300]], ratio=p.ratio, pad_wh=p.pad_wh).tolist()
    [[50.0, 190.0, 100.0, 290.0]]
    """
    b = as_boxes(boxes, "boxes")
    rx, ry = _pair(ratio, "ratio", positive=True)
    px, py = _pair(pad_wh, "pad_wh")
    out: np.ndarray = b * np.array([rx, ry, rx, ry]) + np.array([px, py, px, py])
    return out


def unletterbox(
    boxes: Any,
    *,
    ratio: float | tuple[float, float],
    pad_wh: tuple[float, float],
    image_size_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Undo :func:`letterbox`: ``(box - pad) / ratio``, clipped to ``image_size_wh`` when given.

    Equal to Ultralytics' ``scale_boxes`` for the parameters of :func:`letterbox_params`.

    >>> p = letterbox_params((1280, 720), (640, 640))
    >>> unletterbox([[50, 190, 100, 290]], ratio=p.ratio, pad_wh=p.pad_wh, image_size_wh=(1280, 720)).tolist()
    [[100.0, 100.0, 200.0, 300.0]]
    """
    b = as_boxes(boxes, "boxes")
    rx, ry = _pair(ratio, "ratio", positive=True)
    px, py = _pair(pad_wh, "pad_wh")
    out = (b - np.array([px, py, px, py])) / np.array([rx, ry, rx, ry])
    return clip(out, image_size_wh) if image_size_wh is not None else out


def _pair(value: Any, name: str, *, positive: bool = False) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        pair = (float(value), float(value))
    else:
        try:
            a, b = value
            pair = (float(a), float(b))
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} must be a number or an (x, y) pair, got {value!r}") from None
    if not all(np.isfinite(pair)):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    if positive and min(pair) <= 0:
        raise InvalidInputError(f"{name} must be positive, got {value!r}")
    return pair


# ---------------------------------------------------------------------------- pairwise IoU family
_CHUNK_ELEMENTS = 1 << 21  # pairwise matrices are computed in row chunks of about this many cells


def _pairwise(a: Any, b: Any, kernel: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Run ``kernel(rows, b)`` over row chunks of ``a``; float32 ``(N, M)`` result, float64 maths."""
    x = as_boxes(a, "boxes1")
    y = as_boxes(b, "boxes2")
    out = np.empty((len(x), len(y)), dtype=np.float32)
    if out.size == 0:
        return out
    rows = max(1, _CHUNK_ELEMENTS // len(y))
    for r0 in range(0, len(x), rows):
        out[r0 : r0 + rows] = kernel(x[r0 : r0 + rows], y)
    return out


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=den > 0)
    return out


def _inter_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a[:, None] + area_b[None, :] - inter


def _iou_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter, union = _inter_union(a, b)
    return _safe_div(inter, union)


def _giou_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter, union = _inter_union(a, b)
    iou = _safe_div(inter, union)
    cw = np.maximum(a[:, None, 2], b[None, :, 2]) - np.minimum(a[:, None, 0], b[None, :, 0])
    ch = np.maximum(a[:, None, 3], b[None, :, 3]) - np.minimum(a[:, None, 1], b[None, :, 1])
    enclosing = cw * ch
    out: np.ndarray = iou - _safe_div(enclosing - union, enclosing)
    return out


_EPS = 1e-7  # torchvision's eps for DIoU/CIoU


def _diou_parts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inter, union = _inter_union(a, b)
    iou = _safe_div(inter, union)
    cw = np.maximum(a[:, None, 2], b[None, :, 2]) - np.minimum(a[:, None, 0], b[None, :, 0])
    ch = np.maximum(a[:, None, 3], b[None, :, 3]) - np.minimum(a[:, None, 1], b[None, :, 1])
    diag = cw * cw + ch * ch + _EPS
    dx = (a[:, None, 0] + a[:, None, 2] - b[None, :, 0] - b[None, :, 2]) / 2
    dy = (a[:, None, 1] + a[:, None, 3] - b[None, :, 1] - b[None, :, 3]) / 2
    return iou - (dx * dx + dy * dy) / diag, iou


def _diou_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _diou_parts(a, b)[0]


def _aspect_angle(boxes: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    # atan(w / h) with h = 0 -> pi/2 (as torch gives for w > 0); a point box -> 0
    return np.where((w == 0) & (h == 0), 0.0, np.arctan2(w, h))


def _ciou_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diou, iou = _diou_parts(a, b)
    v = (4 / np.pi**2) * (_aspect_angle(a)[:, None] - _aspect_angle(b)[None, :]) ** 2
    alpha = v / (1 - iou + v + _EPS)
    out: np.ndarray = diou - alpha * v
    return out


def _ioa_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter, _ = _inter_union(a, b)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return _safe_div(inter, np.broadcast_to(area_b[None, :], inter.shape))


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Pairwise intersection over union of xyxy boxes: float32 ``(N, M)``, like ``torchvision.ops.box_iou``.

    Pairs with zero union (two zero-area boxes) give 0, never NaN (torchvision: NaN). Computed in float64 in
    row chunks, so big ``N x M`` matrices need no float64 ``N x M`` temporaries.

    >>> box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 20, 20]]).astype(float).round(4).tolist()
    [[1.0, 0.3333, 0.0]]
    """
    return _pairwise(boxes1, boxes2, _iou_kernel)


def box_giou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Pairwise generalised IoU, in ``[-1, 1]``, like ``torchvision.ops.generalized_box_iou``.

    Where torchvision divides 0 by 0 (NaN), the term is 0 here: two zero-area boxes
    have IoU 0, so their GIoU is ``-(enclosing - 0) / enclosing = -1`` (or 0 for two equal
    points). The same holds for :func:`box_diou` and :func:`box_ciou`: always finite.

    >>> box_giou([[0, 0, 10, 10]], [[20, 0, 30, 10]]).astype(float).round(4).tolist()
    [[-0.3333]]
    """
    return _pairwise(boxes1, boxes2, _giou_kernel)


def box_diou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Pairwise distance IoU, like ``torchvision.ops.distance_box_iou`` (same ``eps=1e-7``).

    >>> box_diou([[0, 0, 10, 10]], [[20, 0, 30, 10]]).astype(float).round(4).tolist()
    [[-0.4]]
    """
    return _pairwise(boxes1, boxes2, _diou_kernel)


def box_ciou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Pairwise complete IoU, like ``torchvision.ops.complete_box_iou`` (same ``eps=1e-7``).

    Zero-height boxes use ``atan(w / 0) = pi / 2`` as torch does; a point box uses 0.

    >>> box_ciou([[0, 0, 10, 10]], [[0, 0, 10, 20]]).astype(float).round(4).tolist()
    [[0.4468]]
    """
    return _pairwise(boxes1, boxes2, _ciou_kernel)


def box_ioa(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Pairwise intersection over the area of the *second* box: float32 ``(N, M)``.

    ``ioa[i, j]`` is the fraction of ``boxes2[j]`` covered by ``boxes1[i]`` (0 when
    ``boxes2[j]`` has zero area).

    >>> box_ioa([[0, 0, 10, 10]], [[5, 5, 15, 15], [2, 2, 4, 4]]).tolist()
    [[0.25, 1.0]]
    """
    return _pairwise(boxes1, boxes2, _ioa_kernel)


# ---------------------------------------------------------------------------- polygons, OBB, masks
def _as_obb(value: Any, name: str) -> np.ndarray:
    arr = as_boxes(value, name, check_order=False, columns=5)
    if (arr[:, 2:4] < 0).any():
        bad = int(np.flatnonzero((arr[:, 2:4] < 0).any(axis=1))[0])
        raise InvalidInputError(f"{name} must have non-negative width and height, got {arr[bad].tolist()} at row {bad}")
    return arr


def obb_to_polygon(obb: Any) -> np.ndarray:
    """Corners of oriented boxes ``(cx, cy, w, h, angle)``: float64 ``(N, 4, 2)``.

    ``angle`` is in radians, Ultralytics' ``xywhr`` convention (the ``w`` side points along
    ``(cos a, sin a)`` in image coordinates); corners in the order Ultralytics'
    ``xywhr2xyxyxyxy`` returns them.

    >>> obb_to_polygon([[5, 5, 4, 2, 0]]).tolist()
    [[[7.0, 6.0], [7.0, 4.0], [3.0, 4.0], [3.0, 6.0]]]
    """
    o = _as_obb(obb, "obb")
    c, s = np.cos(o[:, 4]), np.sin(o[:, 4])
    v1 = np.stack([o[:, 2] / 2 * c, o[:, 2] / 2 * s], axis=1)
    v2 = np.stack([-o[:, 3] / 2 * s, o[:, 3] / 2 * c], axis=1)
    ctr = o[:, :2]
    return np.stack([ctr + v1 + v2, ctr + v1 - v2, ctr - v1 - v2, ctr - v1 + v2], axis=1)


def _as_polygons(polygons: Any, name: str) -> list[np.ndarray]:
    """A list of float64 ``(K, 2)`` vertex arrays from an ``(N, K, 2)`` array or a list of ``(K_i, 2)``/flat lists."""
    if isinstance(polygons, np.ndarray) and polygons.dtype != object:
        if polygons.ndim != 3 or polygons.shape[-1] != 2:
            if polygons.size == 0:
                return []
            raise InvalidInputError(
                f"{name} must have shape (N, K, 2) or be a list of (K, 2) arrays, got {polygons.shape}"
            )
        items: list[Any] = list(polygons)
    elif isinstance(polygons, (list, tuple)) or (isinstance(polygons, np.ndarray) and polygons.ndim == 1):
        items = list(polygons)
    else:
        raise InvalidInputError(
            f"{name} must be an (N, K, 2) array or a list of polygons, got {type(polygons).__name__}"
        )
    out = []
    for i, item in enumerate(items):
        try:
            p = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name}[{i}] must be numeric (K, 2) vertices, got {type(item).__name__}") from None
        if p.ndim == 1 and p.size % 2 == 0:
            p = p.reshape(-1, 2)  # COCO flat [x1, y1, x2, y2, ...]
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
            raise InvalidInputError(f"{name}[{i}] must have shape (K, 2) with K >= 3, got {p.shape}")
        if not np.isfinite(p).all():
            raise InvalidInputError(f"{name}[{i}] must be finite, got non-finite vertices")
        out.append(p)
    return out


def polygon_to_xyxy(polygons: Any) -> np.ndarray:
    """Axis-aligned bounding boxes of polygons: float64 ``(N, 4)``.

    Takes an ``(N, K, 2)`` array (e.g. from :func:`obb_to_polygon`) or a list of ``(K_i, 2)``
    arrays or flat COCO ``[x1, y1, x2, y2, ...]`` lists.

    >>> polygon_to_xyxy([[[0, 0], [4, 1], [2, 5]], [1, 1, 3, 1, 3, 2]]).tolist()
    [[0.0, 0.0, 4.0, 5.0], [1.0, 1.0, 3.0, 2.0]]
    """
    polys = _as_polygons(polygons, "polygons")
    if not polys:
        return np.zeros((0, 4))
    return np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in polys])


def _shapely_polygons(polys: list[np.ndarray]) -> np.ndarray:
    import shapely

    geoms = np.array([shapely.Polygon(p) for p in polys], dtype=object)
    if len(geoms):
        bad = ~shapely.is_valid(geoms)
        if bad.any():  # self-intersecting outlines: repair (area-preserving where possible)
            geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def _geometry_iou(ga: np.ndarray, gb: np.ndarray, bbox_a: np.ndarray, bbox_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of shapely geometries; only pairs whose bounding boxes meet are intersected."""
    import shapely

    out = np.zeros((len(ga), len(gb)), dtype=np.float32)
    if out.size == 0:
        return out
    ii, jj = np.nonzero(_pairwise(bbox_a, bbox_b, _ioa_kernel_any))
    if len(ii) == 0:
        return out
    area_a = shapely.area(ga)
    area_b = shapely.area(gb)
    inter = shapely.area(shapely.intersection(ga[ii], gb[jj]))
    union = area_a[ii] + area_b[jj] - inter
    out[ii, jj] = _safe_div(inter, union)
    return out


def _ioa_kernel_any(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where two boxes touch or overlap (closed intervals), else 0."""
    ox = np.minimum(a[:, None, 2], b[None, :, 2]) >= np.maximum(a[:, None, 0], b[None, :, 0])
    oy = np.minimum(a[:, None, 3], b[None, :, 3]) >= np.maximum(a[:, None, 1], b[None, :, 1])
    out: np.ndarray = (ox & oy).astype(np.float64)
    return out


def polygon_iou(polygons1: Any, polygons2: Any) -> np.ndarray:
    """Pairwise IoU of polygons (shapely 2, vectorised): float32 ``(N, M)``.

    Polygons as in :func:`polygon_to_xyxy`. Self-intersecting outlines are repaired with
    ``shapely.make_valid``; zero-area polygons give 0.

    >>> square, shifted = [[0, 0], [2, 0], [2, 2], [0, 2]], [[1, 0], [3, 0], [3, 2], [1, 2]]
    >>> polygon_iou([square], [shifted]).astype(float).round(4).tolist()
    [[0.3333]]
    """
    pa = _as_polygons(polygons1, "polygons1")
    pb = _as_polygons(polygons2, "polygons2")
    return _geometry_iou(_shapely_polygons(pa), _shapely_polygons(pb), polygon_to_xyxy(pa), polygon_to_xyxy(pb))


def obb_iou(obb1: Any, obb2: Any) -> np.ndarray:
    """Pairwise IoU of oriented boxes ``(cx, cy, w, h, angle_radians)``: float32 ``(N, M)``.

    Exact polygon intersection through shapely 2 (not Ultralytics' probabilistic
    ``probiou``); equal to ``torchvision.ops.box_iou(..., fmt="cxcywhr")`` with the angle
    in degrees and negated (torchvision turns counter-clockwise in a y-up frame).

    >>> obb_iou([[0, 0, 2, 2, 0]], [[0, 0, 2, 2, np.pi / 4]]).astype(float).round(4).tolist()
    [[0.7071]]
    """
    pa = obb_to_polygon(_as_obb(obb1, "obb1"))
    pb = obb_to_polygon(_as_obb(obb2, "obb2"))
    import shapely

    ga = shapely.polygons(pa)
    gb = shapely.polygons(pb)
    return _geometry_iou(ga, gb, _poly_bounds(pa), _poly_bounds(pb))


def _poly_bounds(p: np.ndarray) -> np.ndarray:
    if len(p) == 0:
        return np.zeros((0, 4))
    return np.concatenate([p.min(axis=1), p.max(axis=1)], axis=1)


def mask_to_polygons(mask: Any, *, min_area: float = 0.0) -> list[np.ndarray]:
    """Outer contours of a 2-D boolean mask as float64 ``(K, 2)`` vertex arrays (OpenCV).

    One polygon per connected region (holes are not returned), vertices on pixel
    centres, ``CHAIN_APPROX_SIMPLE``; regions with fewer than 3 vertices or a contour
    area below ``min_area`` are dropped.

    >>> m = np.zeros((6, 6), bool); m[1:4, 2:5] = True
    >>> [p.tolist() for p in mask_to_polygons(m)]
    [[[2.0, 1.0], [2.0, 3.0], [4.0, 3.0], [4.0, 1.0]]]
    """
    import cv2

    m = np.asarray(mask)
    if m.ndim != 2:
        raise InvalidInputError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if m.dtype != bool and (m.dtype.kind not in "biu" or not np.isin(m, (0, 1)).all()):
        raise InvalidInputError(f"mask must be boolean (or 0/1), got dtype {m.dtype}")
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for cnt in contours:
        pts = cnt.reshape(-1, 2).astype(np.float64)
        if len(pts) >= 3 and cv2.contourArea(cnt) >= min_area:
            out.append(pts)
    return out


def polygons_to_mask(polygons: Any, image_size_wh: tuple[int, int]) -> np.ndarray:
    """Rasterise polygons (filled, OpenCV ``fillPoly``) into one boolean ``(H, W)`` mask.

    >>> polygons_to_mask([[[1, 1], [3, 1], [3, 2], [1, 2]]], (5, 4)).astype(int).tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
    """
    import cv2

    w, h = check_image_size_wh(image_size_wh)
    polys = _as_polygons(polygons, "polygons")
    canvas = np.zeros((h, w), np.uint8)
    if polys:
        cv2.fillPoly(canvas, [np.round(p).astype(np.int32) for p in polys], 1)
    return canvas.astype(bool)


def masks_to_xyxy(masks: Any) -> np.ndarray:
    """Tight xyxy boxes of boolean masks ``(N, H, W)``: float64 ``(N, 4)``, pixel-edge convention.

    A mask whose pixels span columns ``c0..c1`` gives ``x1 = c0``, ``x2 = c1 + 1`` (as COCO's
    ``bbox`` from a segmentation); an empty mask gives ``[0, 0, 0, 0]``.

    >>> m = np.zeros((1, 5, 6), bool); m[0, 1:3, 2:5] = True
    >>> masks_to_xyxy(m).tolist()
    [[2.0, 1.0, 5.0, 3.0]]
    """
    m = np.asarray(masks)
    if m.ndim != 3:
        raise InvalidInputError(f"masks must have shape (N, H, W), got {m.shape}")
    if m.dtype != bool:
        if m.dtype.kind not in "biu" or not np.isin(m, (0, 1)).all():
            raise InvalidInputError(f"masks must be boolean (or 0/1), got dtype {m.dtype}")
        m = m.astype(bool)
    out = np.zeros((len(m), 4))
    if len(m) == 0:
        return out
    cols: np.ndarray = np.any(m, axis=1)  # (N, W)
    rows: np.ndarray = np.any(m, axis=2)  # (N, H)
    has = cols.any(axis=1)
    w, h = m.shape[2], m.shape[1]
    out[:, 0] = np.argmax(cols, axis=1)
    out[:, 2] = w - np.argmax(cols[:, ::-1], axis=1)
    out[:, 1] = np.argmax(rows, axis=1)
    out[:, 3] = h - np.argmax(rows[:, ::-1], axis=1)
    out[~has] = 0
    return out
