"""Shared helpers of the drawing functions: input images, detections, drawing style, text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, cast

import cv2
import numpy as np

from detectkit._checks import check_choice
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError

FONT = cv2.FONT_HERSHEY_SIMPLEX
CHANNELS = ("bgr", "rgb")
Channels = Literal["bgr", "rgb"]


def canvas(image: Any, name: str = "image", *, channels: str = "bgr") -> tuple[np.ndarray, Channels]:
    """A fresh uint8 drawing surface for ``image`` and the channel order to draw in.

    ``(H, W)`` / ``(H, W, 1)`` grayscale becomes 3-channel (colours need it); ``(H, W, 3)``
    and ``(H, W, 4)`` (alpha kept, drawn pixels become opaque) are copied once. A PIL image
    is converted to an RGB array (and ``channels`` becomes ``"rgb"``). The caller's image is
    never written to.
    """
    check_choice(channels, "channels", CHANNELS)
    if not isinstance(image, np.ndarray) and hasattr(image, "convert") and hasattr(image, "mode"):
        rgb = np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"))
        return np.array(rgb, copy=True), "rgb"
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array (H, W[, C]) or a PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidInputError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.size == 0:
            raise InvalidInputError(f"{name} must not be empty, got shape {image.shape}")
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR), cast(Channels, channels)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
    return np.array(image, copy=True, order="C"), cast(Channels, channels)


def as_detections(detections: Any, name: str = "detections") -> Detections:
    """Accept detectkit ``Detections`` or ``supervision.Detections``."""
    if isinstance(detections, Detections):
        return detections
    if type(detections).__module__.startswith("supervision") and hasattr(detections, "xyxy"):
        return Detections.from_supervision(detections)
    raise InvalidInputError(f"{name} must be detectkit.Detections, got {type(detections).__name__}")


def ink(color: tuple[int, int, int], n_channels: int) -> tuple[int, ...]:
    """A colour tuple for an image with ``n_channels`` (opaque alpha on 4-channel images)."""
    return (*color, 255) if n_channels == 4 else color


@dataclass(frozen=True)
class Style:
    """Line thickness and text geometry for one image size."""

    thickness: int
    text_scale: float
    text_thickness: int
    pad: int


def style_for(
    image_size_wh: tuple[int, int], *, thickness: int | None = None, text_scale: float | None = None
) -> Style:
    """Thickness and text size scaled with the image resolution (2 px and 0.65 at 1080p).

    >>> style_for((1920, 1080))
    Style(thickness=2, text_scale=0.65, text_thickness=1, pad=4)
    >>> style_for((640, 480)).thickness, style_for((3840, 2160)).thickness
    (1, 4)
    """
    w, h = image_size_wh
    s = math.sqrt(float(w) * float(h))
    if thickness is None:
        thickness = max(1, math.ceil(s / 900))
    elif isinstance(thickness, bool) or not isinstance(thickness, (int, np.integer)) or thickness < 1:
        raise InvalidInputError(f"thickness must be a positive integer or None, got {thickness!r}")
    if text_scale is None:
        text_scale = max(0.4, round(s / 2200, 2))
    else:
        try:
            text_scale = float(text_scale)
        except (TypeError, ValueError):
            raise InvalidInputError(f"text_scale must be a positive number or None, got {text_scale!r}") from None
        if not (text_scale > 0 and math.isfinite(text_scale)):
            raise InvalidInputError(f"text_scale must be a positive number or None, got {text_scale!r}")
    text_thickness = max(1, int(text_scale * 1.6 + 0.5))
    pad = max(2, int(text_scale * 6 + 0.5))
    return Style(int(thickness), float(text_scale), text_thickness, pad)


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: other characters become ``?``."""
    return text if text.isascii() else "".join(c if c.isascii() else "?" for c in text)


@lru_cache(maxsize=4096)
def text_box(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    """``(width, height, baseline)`` of ``text`` in pixels."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, thickness)
    return int(w), int(h), int(base)
