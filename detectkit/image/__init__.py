"""Image input and pre-processing: loading, lazy sources, letterbox, normalisation, contrast.

Everything here works on numpy arrays in OpenCV's convention: ``(H, W, 3)`` ``uint8`` **BGR**.

* :func:`load_image` turns a path, bytes, a numpy array or a PIL image into that array; EXIF
  orientation is honoured; grayscale, alpha and 16-bit inputs become 8-bit BGR; a missing,
  empty, corrupt or non-image file raises :class:`~detectkit.errors.InvalidInputError` naming it.
* :func:`image_size_wh` reads ``(width, height)`` from the file header only (orientation applied).
* :func:`iter_images` walks a source lazily — one image, a list, a folder (sorted, optional
  recursion), a video file (frame index and timestamp) or a camera index — and yields one
  :class:`Frame` per image. A bad item yields a ``Frame`` carrying the error instead of stopping
  the walk, so a folder with a corrupt file is processed to the end.
* Pre-processing as small pure functions: :func:`letterbox` (Ultralytics-compatible),
  :func:`resize`, :func:`normalize`, :func:`clahe`, :func:`adjust_brightness_contrast` and
  :func:`standardize_intensity`. None of them changes its input.

>>> import numpy as np
>>> from detectkit.image import letterbox, load_image
>>> image = load_image(np.zeros((48, 64), dtype=np.uint8))   # grayscale -> BGR
>>> image.shape, image.dtype
((48, 64, 3), dtype('uint8'))
>>> boxed = letterbox(image, 32)
>>> boxed.image.shape, boxed.ratio_wh, boxed.pad_wh
((32, 32, 3), (0.5, 0.5), (0, 4))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectkit.image.decode import ImageSource, image_size_wh, load_image
    from detectkit.image.extensions import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
    from detectkit.image.preprocess import (
        Letterboxed,
        adjust_brightness_contrast,
        clahe,
        letterbox,
        normalize,
        resize,
        scale_boxes_from_letterbox,
        standardize_intensity,
    )
    from detectkit.image.sources import Frame, FrameInfo, count_images, is_video_path, iter_images, list_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "FrameInfo",
    "ImageSource",
    "Letterboxed",
    "adjust_brightness_contrast",
    "clahe",
    "count_images",
    "image_size_wh",
    "is_video_path",
    "iter_images",
    "letterbox",
    "list_images",
    "load_image",
    "normalize",
    "resize",
    "scale_boxes_from_letterbox",
    "standardize_intensity",
]

#: public name -> the module of this package that defines it
_WHERE: dict[str, str] = {
    "Frame": "sources",
    "FrameInfo": "sources",
    "IMAGE_EXTENSIONS": "extensions",
    "ImageSource": "decode",
    "Letterboxed": "preprocess",
    "VIDEO_EXTENSIONS": "extensions",
    "adjust_brightness_contrast": "preprocess",
    "clahe": "preprocess",
    "count_images": "sources",
    "image_size_wh": "decode",
    "is_video_path": "sources",
    "iter_images": "sources",
    "letterbox": "preprocess",
    "list_images": "sources",
    "load_image": "decode",
    "normalize": "preprocess",
    "resize": "preprocess",
    "scale_boxes_from_letterbox": "preprocess",
    "standardize_intensity": "preprocess",
}


def __getattr__(name: str) -> Any:
    """Re-export on first use: ``from detectkit.image import IMAGE_EXTENSIONS`` loads only the
    constants, not the decoders and pre-processing (the dataset commands need the list only)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'detectkit.image' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"detectkit.image.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
