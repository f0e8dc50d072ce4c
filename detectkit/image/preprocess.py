"""Pre-processing as small pure functions: letterbox, resize, normalise, contrast."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from detectkit._checks import check_image_size_wh
from detectkit.boxes import letterbox_canvas_wh, letterbox_params
from detectkit.errors import InvalidInputError

if TYPE_CHECKING:
    pass

__all__ = [
    "Letterboxed",
    "adjust_brightness_contrast",
    "clahe",
    "letterbox",
    "normalize",
    "resize",
    "scale_boxes_from_letterbox",
    "standardize_intensity",
]


# --------------------------------------------------------------------------------------------
# pre-processing
# --------------------------------------------------------------------------------------------
class Letterboxed(NamedTuple):
    """Result of :func:`letterbox`.

    Attributes:
        image: the resized and padded ``(H', W', C)`` image (a new array).
        ratio_wh: scale factors ``(new_w / w, new_h / h)`` of the resized content.
        pad_wh: pixels added on the left and on the top ``(left, top)``.
    """

    image: np.ndarray
    ratio_wh: tuple[float, float]
    pad_wh: tuple[int, int]


def _size_hw(new_shape: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(new_shape, (int, np.integer)) and not isinstance(new_shape, bool):
        if new_shape <= 0:
            raise InvalidInputError(f"{name} must be positive, got {new_shape}")
        return int(new_shape), int(new_shape)
    try:
        h, w = new_shape  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be an int or an (height, width) pair, got {new_shape!r}") from None
    w_, h_ = check_image_size_wh((w, h), name)
    return h_, w_


def _check_image(image: Any, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array (H, W[, C]), got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name} must have shape (H, W) or (H, W, C) with H, W > 0, got {image.shape}")
    return image


def letterbox(
    image: np.ndarray,
    new_shape: int | tuple[int, int] = 640,
    *,
    auto: bool = False,
    stride: int = 32,
    scale_up: bool = True,
    center: bool = True,
    color: int = 114,
    scaleup: bool | None = None,
) -> Letterboxed:
    """Resize keeping the aspect ratio, then pad — exactly like Ultralytics' ``LetterBox``.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array (not modified).
        new_shape: target size, an int (square) or ``(height, width)``.
        auto: pad only up to the next multiple of ``stride`` (the "minimum rectangle" that
            Ultralytics' PyTorch predict uses) instead of up to ``new_shape``.
        stride: the model stride, used with ``auto``.
        scale_up: allow enlarging small images (False only shrinks).
        center: split the padding on both sides (False pads right/bottom only).
        color: the padding value.
        scaleup: the former name of ``scale_up`` (Ultralytics' spelling), still accepted.

    Returns:
        :class:`Letterboxed` ``(image, ratio_wh, pad_wh)``; map boxes back with
        :func:`scale_boxes_from_letterbox`.

    >>> import numpy as np
    >>> out = letterbox(np.zeros((1080, 810, 3), np.uint8), 640, auto=True)
    >>> out.image.shape, out.pad_wh
    ((640, 480, 3), (0, 0))
    """
    import cv2

    img = _check_image(image)
    new_h, new_w = _size_hw(new_shape, "new_shape")
    h, w = img.shape[:2]
    # the arithmetic is the box function's: detectkit.boxes.letterbox_params
    p = letterbox_params(
        (w, h),
        (new_w, new_h),
        scale_up=scale_up if scaleup is None else scaleup,
        center=center,
        auto=auto,
        stride=stride,
    )
    unpad_w, unpad_h = p.new_unpad_wh
    canvas_w, canvas_h = letterbox_canvas_wh(p.new_unpad_wh, (new_w, new_h), auto=auto, stride=stride)
    left, top = int(p.pad_wh[0]), int(p.pad_wh[1])
    right, bottom = canvas_w - unpad_w - left, canvas_h - unpad_h - top
    out = img
    if (w, h) != (unpad_w, unpad_h):
        out = cv2.resize(img, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2:
        out = out[:, :, None]
    channels = out.shape[2]
    if channels in (1, 3, 4) and out.dtype == np.uint8:
        padded = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 4)
        if padded.ndim == 2:
            padded = padded[:, :, None]
    else:
        padded = np.full((unpad_h + top + bottom, unpad_w + left + right, channels), color, dtype=out.dtype)
        padded[top : top + unpad_h, left : left + unpad_w] = out
    if image.ndim == 2:
        padded = padded[:, :, 0]
    if padded is image:
        padded = padded.copy()
    return Letterboxed(padded, p.ratio, (left, top))


def scale_boxes_from_letterbox(
    xyxy: np.ndarray,
    ratio_wh: tuple[float, float],
    pad_wh: tuple[int, int],
    image_size_wh: tuple[int, int],
) -> np.ndarray:
    """Map ``(N, 4)`` xyxy boxes from letterboxed coordinates back to the original image, clipped.

    >>> import numpy as np
    >>> scale_boxes_from_letterbox(np.array([[10.0, 14.0, 20.0, 24.0]]), (0.5, 0.5), (0, 4), (64, 48)).tolist()
    [[20.0, 20.0, 40.0, 40.0]]
    """
    boxes = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 4)
    w, h = image_size_wh
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_wh[0]) / ratio_wh[0]
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_wh[1]) / ratio_wh[1]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes


_INTERPOLATIONS = ("nearest", "linear", "area", "cubic", "lanczos")


def resize(
    image: np.ndarray,
    size_wh: tuple[int, int],
    *,
    keep_aspect: bool = False,
    interpolation: str = "linear",
) -> np.ndarray:
    """Resize to ``size_wh = (width, height)``; with ``keep_aspect`` fit inside it instead.

    >>> import numpy as np
    >>> resize(np.zeros((100, 200, 3), np.uint8), (50, 50)).shape
    (50, 50, 3)
    >>> resize(np.zeros((100, 200, 3), np.uint8), (50, 50), keep_aspect=True).shape
    (25, 50, 3)
    """
    import cv2

    from detectkit._checks import check_choice

    img = _check_image(image)
    w, h = check_image_size_wh(size_wh, "size_wh")
    check_choice(interpolation, "interpolation", _INTERPOLATIONS)
    flag = {
        "nearest": cv2.INTER_NEAREST,
        "linear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "cubic": cv2.INTER_CUBIC,
        "lanczos": cv2.INTER_LANCZOS4,
    }[interpolation]
    if keep_aspect:
        r = min(w / img.shape[1], h / img.shape[0])
        w, h = max(round(img.shape[1] * r), 1), max(round(img.shape[0] * r), 1)
    if (w, h) == (img.shape[1], img.shape[0]):
        return img.copy()
    out: np.ndarray = cv2.resize(img, (w, h), interpolation=flag)
    return out


def normalize(
    image: np.ndarray,
    *,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    scale: float = 1.0 / 255.0,
    to_rgb: bool = True,
    layout: str = "chw",
) -> np.ndarray:
    """Turn a uint8 BGR image into a float32 model input: ``(x * scale - mean) / std``.

    Args:
        image: ``(H, W, 3)`` array (BGR).
        mean, std: per-channel statistics, in the output channel order (RGB when ``to_rgb``).
        scale: applied first (1/255 maps uint8 to [0, 1]).
        to_rgb: reorder BGR -> RGB.
        layout: ``"chw"`` (PyTorch/ONNX) or ``"hwc"``.

    Returns:
        A new contiguous float32 array, ``(3, H, W)`` or ``(H, W, 3)``.

    >>> import numpy as np
    >>> x = normalize(np.full((2, 2, 3), 255, np.uint8), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> x.shape, float(x.max())
    ((3, 2, 2), 1.0)
    """
    from detectkit._checks import as_vector, check_choice

    img = _check_image(image)
    check_choice(layout, "layout", ("chw", "hwc"))
    if img.ndim != 3 or img.shape[2] != 3:
        raise InvalidInputError(f"image must have shape (H, W, 3), got {img.shape}")
    m = as_vector(mean, "mean", length=3).astype(np.float32)
    s = as_vector(std, "std", length=3).astype(np.float32)
    if (s == 0).any():
        raise InvalidInputError(f"std must be non-zero, got {s.tolist()}")
    x = img[:, :, ::-1] if to_rgb else img
    if layout == "chw":  # reorder the (small) uint8 data first, then convert in place
        out = np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)
        m, s = m[:, None, None], s[:, None, None]
    else:
        out = np.ascontiguousarray(x).astype(np.float32)
    if scale == 1.0 / 255.0:
        out /= np.float32(255.0)  # bit-identical to Ultralytics' ``im / 255``
    elif scale != 1.0:
        out *= np.float32(scale)
    if m.any():
        out -= m
    if (s != 1).any():
        out /= s
    return out


def clahe(
    image: np.ndarray,
    *,
    clip_limit: float = 2.0,
    tile_grid_size: tuple[int, int] = (8, 8),
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation on the lightness channel (LAB).

    Standardises local contrast without shifting colours. ``image`` is uint8 ``(H, W)`` or
    ``(H, W, 3)`` BGR; returns a new array of the same shape.

    >>> import numpy as np
    >>> clahe(np.zeros((16, 16, 3), np.uint8)).shape
    (16, 16, 3)
    """
    import cv2

    img = _check_image(image)
    if img.dtype != np.uint8:
        raise InvalidInputError(f"image must be uint8, got {img.dtype}")
    if clip_limit <= 0:
        raise InvalidInputError(f"clip_limit must be > 0, got {clip_limit}")
    tiles = check_image_size_wh(tile_grid_size, "tile_grid_size")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tiles)
    if img.ndim == 2:
        out: np.ndarray = op.apply(img)
        return out
    if img.shape[2] != 3:
        raise InvalidInputError(f"image must have shape (H, W) or (H, W, 3), got {img.shape}")
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = op.apply(np.ascontiguousarray(lab[:, :, 0]))
    result: np.ndarray = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return result


def adjust_brightness_contrast(image: np.ndarray, *, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """``clip(image * contrast + brightness, 0, 255)`` as a new uint8 array.

    >>> import numpy as np
    >>> adjust_brightness_contrast(np.full((1, 1, 3), 100, np.uint8), brightness=10, contrast=2)[0, 0].tolist()
    [210, 210, 210]
    """
    img = _check_image(image)
    if contrast < 0:
        raise InvalidInputError(f"contrast must be >= 0, got {contrast}")
    out: np.ndarray = np.clip(img.astype(np.float32) * np.float32(contrast) + np.float32(brightness), 0, 255)
    return out.round().astype(np.uint8)


def standardize_intensity(image: np.ndarray, *, target_mean: float = 127.5, target_std: float = 50.0) -> np.ndarray:
    """Global brightness/contrast standardisation: shift and scale so the grey level has the target mean and std.

    The same gain and offset apply to every channel, so colours keep their balance. A flat
    image (std 0) is only shifted.

    >>> import numpy as np
    >>> out = standardize_intensity(np.array([[[0, 0, 0], [100, 100, 100]]], np.uint8), target_std=25)
    >>> out[:, :, 0].tolist()
    [[102, 152]]
    """
    img = _check_image(image)
    if target_std < 0:
        raise InvalidInputError(f"target_std must be >= 0, got {target_std}")
    data = img.astype(np.float32)
    grey = data.mean(axis=2) if data.ndim == 3 else data
    mean, std = float(grey.mean()), float(grey.std())
    gain = target_std / std if std > 1e-6 else 1.0
    return adjust_brightness_contrast(img, brightness=target_mean - mean * gain, contrast=gain)
