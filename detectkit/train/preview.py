"""Picture grids of augmentation presets (``detectkit augment-preview`` and training reports).

Each row is one image: the original, then ``variants`` random augmentations of it. Images with
boxes (a detection dataset) go through the box-aware :func:`~detectkit.train.augment.detection_transform`
and are drawn with their moved boxes; plain images through the classifier preset's ops.

>>> import numpy as np
>>> grid = preview_grid([np.full((60, 80, 3), 128, np.uint8)], "strong", size=64, variants=3)
>>> grid.shape
(64, 256, 3)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._atomic import atomic_path
from detectkit.errors import InvalidInputError
from detectkit.train.augment import detection_transform, preset_ops

__all__ = ["preview_grid", "save_grid"]


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """Letterbox a BGR image into a ``size`` x ``size`` grey tile."""
    from detectkit.image import letterbox

    return letterbox(image, (size, size), auto=False).image


def _classify_variant(image: np.ndarray, preset: str, size: int) -> np.ndarray:
    import torch
    from torchvision.transforms import v2

    ops = v2.Compose(preset_ops(preset, crop_size=size))
    x = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).permute(2, 0, 1)
    return np.ascontiguousarray(ops(x).permute(1, 2, 0).numpy()[:, :, ::-1])


def _detect_variant(image: np.ndarray, boxes: np.ndarray, preset: str, size: int) -> np.ndarray:
    import cv2
    import torch
    from torchvision import tv_tensors

    h, w = image.shape[:2]
    x = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).permute(2, 0, 1))
    b = tv_tensors.BoundingBoxes(torch.as_tensor(boxes, dtype=torch.float32), format="XYXY", canvas_size=(h, w))
    out_img, out_boxes = detection_transform(preset)(x, b)
    bgr = np.ascontiguousarray(out_img.permute(1, 2, 0).numpy()[:, :, ::-1])
    for x0, y0, x1, y1 in out_boxes.tolist():
        cv2.rectangle(bgr, (round(x0), round(y0)), (round(x1), round(y1)), (0, 255, 255), 2)
    return _fit(bgr, size)


def preview_grid(
    images: Sequence[Any],
    preset: str,
    *,
    boxes: Sequence[np.ndarray] | None = None,
    size: int = 192,
    variants: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """A BGR uint8 grid: one row per image, the original then ``variants`` augmentations.

    Args:
        images: image sources (paths, arrays, ...) as :func:`detectkit.image.load_image` takes.
        preset: ``"none" | "light" | "strong"``.
        boxes: per image, float ``(N, 4)`` xyxy pixel boxes: makes the preview box-aware.
        size: tile side in pixels.
        variants: augmented tiles per row.
        seed: torch seed (the same seed gives the same grid).
    """
    import cv2
    import torch

    from detectkit.image import load_image

    if not images:
        raise InvalidInputError("augment-preview needs at least one image")
    if boxes is not None and len(boxes) != len(images):
        raise InvalidInputError(f"boxes must have one array per image ({len(images)}), got {len(boxes)}")
    torch.manual_seed(seed)
    rows = []
    for i, source in enumerate(images):
        img = load_image(source)
        tiles = []
        if boxes is not None:
            orig = img.copy()
            for x0, y0, x1, y1 in np.asarray(boxes[i], np.float64).reshape(-1, 4).tolist():
                cv2.rectangle(orig, (round(x0), round(y0)), (round(x1), round(y1)), (0, 255, 255), 2)
            tiles.append(_fit(orig, size))
            tiles += [_detect_variant(img, np.asarray(boxes[i]).reshape(-1, 4), preset, size) for _ in range(variants)]
        else:
            tiles.append(_fit(img, size))
            tiles += [_fit(_classify_variant(img, preset, size), size) for _ in range(variants)]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def save_grid(grid: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write the grid (JPEG/PNG by suffix) atomically; returns the path."""

    import cv2

    target = Path(path)
    with atomic_path(target, keep_suffix=True) as tmp:  # cv2 picks the encoder from the suffix
        if not cv2.imwrite(str(tmp), grid):
            raise InvalidInputError(f"cannot write {target}: unsupported image suffix {target.suffix!r}")
    return target
