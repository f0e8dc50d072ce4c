"""Seeded generator of large "shapes" images with many small objects (for sliced inference).

Each large image (default 3000 x 2000 px) is a sparse mosaic of images from
``datasets/generate.py`` (its ``val`` random streams from index 10000 on, so none was seen in
training of the demo detector), each shrunk by ``scale`` (default 0.36: the generator's
objects, 20-112 px across, become about 7-40 px) and placed on a blurred-noise background.
Only cells that fit entirely are placed, so every visible shape is labelled. The boxes are the
shrunk amodal boxes of the generator.

Whole-image detection shrinks such an image about 7x to the network input, so the shapes
vanish; sliced inference (``Detector.detect(image, slicing=...)``) sees them at full size.

Output (``--out DIR``)::

    DIR/images/large_NNNNN.jpg
    DIR/annotations/instances_large.json   COCO, category ids 1..5 (circle ... cross)
    DIR/meta.json                          generator, seed, sizes, counts (to regenerate)

Usage::

    python datasets/generate_large.py --out .cache/shapes-large --count 4
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate

from detectkit.errors import InvalidInputError

__all__ = ["LARGE_VERSION", "generate_large_dataset", "generate_large_image", "main"]

LARGE_VERSION = 1
_FIRST_CELL = 10_000  # cells come from the val streams from this index on (unseen in training)
_CELLS_PER_IMAGE = 100_000  # index stride between large images


def generate_large_image(
    seed: int,
    index: int,
    *,
    size_wh: tuple[int, int] = (3000, 2000),
    scale: float = 0.36,
    fill: float = 0.35,
) -> tuple[np.ndarray, list[tuple[int, tuple[float, float, float, float]]]]:
    """Draw large image ``index`` for ``seed``; deterministic.

    Args:
        seed: non-negative seed.
        index: non-negative image index.
        size_wh: ``(width, height)`` of the image.
        scale: shrink factor applied to the generator's images (object size).
        fill: share of the mosaic slots that receive a cell (object density).

    Returns:
        ``(image, objects)``: a ``(H, W, 3)`` uint8 BGR array and ``(class_id, xyxy)`` per object.

    Raises:
        InvalidInputError: a bad argument.

    >>> img, objs = generate_large_image(0, 0, size_wh=(400, 300), fill=1.0)
    >>> img.shape, len(objs) > 0, all(0 <= b[0] < b[2] <= 400 and 0 <= b[1] < b[3] <= 300 for _, b in objs)
    ((300, 400, 3), True, True)
    """
    for name, value in (("seed", seed), ("index", index)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
    w, h = (int(v) for v in size_wh)
    if w < 64 or h < 64:
        raise InvalidInputError(f"size_wh must be at least (64, 64), got {size_wh!r}")
    if not (0.05 <= float(scale) <= 1.0):
        raise InvalidInputError(f"scale must be in [0.05, 1], got {scale!r}")
    if not (0.0 <= float(fill) <= 1.0):
        raise InvalidInputError(f"fill must be in [0, 1], got {fill!r}")
    rng = np.random.default_rng([LARGE_VERSION, seed, index])
    noise = rng.normal(0.0, 1.0, size=(max(h // 16, 1), max(w // 16, 1), 3))
    base = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    tint = rng.uniform(70, 170, size=3)
    img = np.clip(tint + 25.0 * base, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    slot = round(416 * scale) + 8
    objects: list[tuple[int, tuple[float, float, float, float]]] = []
    cell = _FIRST_CELL + index * _CELLS_PER_IMAGE
    for y in range(0, h - slot + 1, slot):
        for x in range(0, w - slot + 1, slot):
            if rng.random() >= fill:
                continue
            src, objs = generate.generate_image(seed, "val", cell)
            cell += 1
            sh, sw = src.shape[:2]
            nw, nh = max(round(sw * scale), 1), max(round(sh * scale), 1)
            small = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
            ox = x + int(rng.integers(0, slot - nw + 1))
            oy = y + int(rng.integers(0, slot - nh + 1))
            img[oy : oy + nh, ox : ox + nw] = small
            fx, fy = nw / sw, nh / sh
            for o in objs:
                x1, y1, x2, y2 = o.xyxy
                box = (ox + x1 * fx, oy + y1 * fy, ox + x2 * fx, oy + y2 * fy)
                objects.append((o.class_id, tuple(round(v, 3) for v in box)))  # type: ignore[misc]
    return img, objects


def generate_large_dataset(
    out_dir: str | Path,
    *,
    seed: int = 0,
    count: int = 4,
    size_wh: tuple[int, int] = (3000, 2000),
    scale: float = 0.36,
    fill: float = 0.35,
) -> dict[str, Any]:
    """Write ``count`` large images and their COCO annotations under ``out_dir``; returns the metadata.

    Raises:
        InvalidInputError: a bad argument.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidInputError(f"count must be a positive int, got {count!r}")
    out = Path(out_dir)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(count):
        img, objects = generate_large_image(seed, index, size_wh=size_wh, scale=scale, fill=fill)
        name = f"large_{index:05d}.jpg"
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {name}")
        generate.write_atomic(out / "images" / name, buf.tobytes())
        images.append({"id": index + 1, "file_name": name, "width": img.shape[1], "height": img.shape[0]})
        for class_id, (x1, y1, x2, y2) in objects:
            bw, bh = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": class_id + 1,
                    "bbox": [round(x1, 3), round(y1, 3), round(bw, 3), round(bh, 3)],
                    "area": round(bw * bh, 3),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(generate.CLASSES)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    generate.write_atomic(out / "annotations" / "instances_large.json", json.dumps(coco).encode())
    meta = {
        "generator": "datasets/generate_large.py",
        "version": LARGE_VERSION,
        "seed": seed,
        "count": count,
        "size_wh": list(size_wh),
        "scale": scale,
        "fill": fill,
        "objects": len(annotations),
    }
    generate.write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """``python datasets/generate_large.py --out DIR [--seed S] [--count N] [--size WxH] [--scale F]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--size", default="3000x2000", help="WIDTHxHEIGHT (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=0.36)
    parser.add_argument("--fill", type=float, default=0.35)
    args = parser.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, got {args.size!r}")
    meta = generate_large_dataset(
        args.out, seed=args.seed, count=args.count, size_wh=(w, h), scale=args.scale, fill=args.fill
    )
    print(f"{meta['count']} images, {meta['objects']} objects -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
