"""Seeded generator of the "shapes" synthetic detection dataset (numpy + OpenCV only).

Five object classes (circle, square, triangle, star, cross), each with its own base colour
plus colour jitter (and some objects in a random colour, so shape matters, not only colour),
drawn at random scales and rotations on varied textured backgrounds (noise, gradients,
stripes, checkerboards, blurred blobs), with partial occlusion (objects overlap each other and
occluding patches lie on top), clutter (lines, rings, elongated ellipses, text, outlines) and
image-level noise / blur / brightness changes. Image sizes vary between 320 and 416 px.

Every image is drawn from its own random stream ``numpy.random.default_rng([seed, split, index])``,
so the same seed gives identical image arrays and byte-identical label files, and any image can be
regenerated on its own.

Output (``--out DIR``)::

    DIR/data.yaml                          Ultralytics dataset file (path, train, val, names)
    DIR/meta.json                          generator version, seed and counts (to regenerate)
    DIR/images/{train,val}/<split>_NNNNN.jpg
    DIR/labels/{train,val}/<split>_NNNNN.txt   YOLO: ``class cx cy w h`` normalised, 6 decimals
    DIR/annotations/instances_{train,val}.json COCO: category ids 1..5, bbox xywh, polygons

Usage::

    python datasets/generate.py --out .cache/shapes --seed 0 --train 600 --val 60
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectkit._checks import check_choice
from detectkit.boxes import convert
from detectkit.errors import InvalidInputError

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "SPLITS",
    "ShapeObject",
    "generate_dataset",
    "generate_image",
    "hsv_to_bgr",
    "main",
    "write_atomic",
]

GENERATOR_VERSION = 1
CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
SPLITS: dict[str, int] = {"train": 0, "val": 1}  # split name -> random stream code
# Base hue of each class in OpenCV HSV (0..180): red, blue, green, yellow, magenta.
_CLASS_HUES: tuple[int, ...] = (0, 115, 60, 28, 150)
_RANDOM_COLOUR_P = 0.2  # share of objects painted in an arbitrary colour
_MIN_VISIBLE = 0.6  # every labelled object keeps at least this share of its pixels visible
_SIZE_RANGE = (320, 416)  # image width and height, each drawn in this range
_RADIUS_RANGE = (10.0, 56.0)  # object radius (half its extent), log-uniform
_OBJECTS_RANGE = (1, 8)
_JPEG_QUALITY = 92


@dataclass(frozen=True)
class ShapeObject:
    """One labelled object of a generated image.

    Attributes:
        class_id: index into :data:`CLASSES`.
        xyxy: tight box of the whole (amodal) shape, absolute pixels, continuous coordinates
            (pixel ``i`` covers ``[i, i + 1)``).
        polygon: ``(K, 2)`` float64 outline of the whole shape, same coordinates.
        visibility: share of the shape's pixels that stay visible in the image (>= 0.6).
    """

    class_id: int
    xyxy: tuple[float, float, float, float]
    polygon: np.ndarray
    visibility: float


# --------------------------------------------------------------------------------------------
# random helpers
# --------------------------------------------------------------------------------------------


def _rand_colour(rng: np.random.Generator, *, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    c = rng.integers(lo, hi, size=3)
    return int(c[0]), int(c[1]), int(c[2])


def hsv_to_bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    """One OpenCV HSV colour (hue 0..180, wrapped; s, v clipped to 0..255) as a BGR tuple.

    >>> hsv_to_bgr(0, 255, 255), hsv_to_bgr(180, 300, 255)
    ((0, 0, 255), (0, 0, 255))
    """
    px = np.array([[[round(h) % 180, int(np.clip(s, 0, 255)), int(np.clip(v, 0, 255))]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _class_colour(rng: np.random.Generator, class_id: int) -> tuple[int, int, int]:
    if rng.random() < _RANDOM_COLOUR_P:
        return hsv_to_bgr(rng.uniform(0, 180), rng.uniform(40, 255), rng.uniform(60, 255))
    hue = _CLASS_HUES[class_id] + rng.uniform(-8, 8)
    return hsv_to_bgr(hue, rng.uniform(140, 255), rng.uniform(130, 255))


# --------------------------------------------------------------------------------------------
# backgrounds
# --------------------------------------------------------------------------------------------


def _coords(h: int, w: int, angle: float) -> np.ndarray:
    """Coordinate along direction ``angle`` for every pixel, shape (h, w) float32."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.asarray(xx * math.cos(angle) + yy * math.sin(angle), dtype=np.float32)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: np.ndarray) -> np.ndarray:
    ca = np.array(a, dtype=np.float32)
    cb = np.array(b, dtype=np.float32)
    return np.asarray(ca + (cb - ca) * t[..., None], dtype=np.float32)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One random texture, (h, w, 3) float32 in 0..255."""
    kind = int(rng.integers(0, 5))
    c1, c2 = _rand_colour(rng), _rand_colour(rng)
    if kind == 0:  # smoothed noise
        base = np.full((h, w, 3), c1, dtype=np.float32)
        noise: np.ndarray = rng.normal(0.0, rng.uniform(10, 45), size=(h, w, 3)).astype(np.float32)
        k = int(rng.choice([1, 3, 5, 9]))
        if k > 1:
            noise = cv2.GaussianBlur(noise, (k, k), 0)
        return np.asarray(base + noise, dtype=np.float32)
    if kind == 1:  # linear gradient
        t = _coords(h, w, rng.uniform(0, 2 * math.pi))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return _mix(c1, c2, t)
    if kind == 2:  # stripes, hard or soft
        t = _coords(h, w, rng.uniform(0, math.pi))
        period = rng.uniform(6, 40)
        wave = 0.5 + 0.5 * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        if rng.random() < 0.5:
            wave = (wave > 0.5).astype(np.float32)
        return _mix(c1, c2, wave)
    if kind == 3:  # checkerboard, possibly rotated
        angle = rng.uniform(0, math.pi / 2) if rng.random() < 0.5 else 0.0
        cell = rng.uniform(8, 48)
        u = np.floor(_coords(h, w, angle) / cell)
        v = np.floor(_coords(h, w, angle + math.pi / 2) / cell)
        return _mix(c1, c2, ((u + v) % 2).astype(np.float32))
    # blurred blobs
    img = np.full((h, w, 3), c1, dtype=np.uint8)
    for _ in range(int(rng.integers(8, 30))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, centre, int(rng.integers(8, 70)), _rand_colour(rng), -1)
    sigma = float(rng.uniform(6, 20))
    return cv2.GaussianBlur(img, (0, 0), sigma).astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    bg = _texture(rng, h, w)
    if rng.random() < 0.3:  # blend two textures
        alpha = rng.uniform(0.3, 0.7)
        bg = alpha * bg + (1 - alpha) * _texture(rng, h, w)
    return np.asarray(np.clip(bg, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------------------------
# shapes and clutter
# --------------------------------------------------------------------------------------------


def _regular(n: int, radius: float, rot: float, *, inner: float | None = None) -> np.ndarray:
    """Vertices of a regular polygon (or star when ``inner`` is set) around the origin."""
    if inner is None:
        ang = rot + np.arange(n) * 2 * math.pi / n
        return np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=1)
    ang = rot + np.arange(2 * n) * math.pi / n
    rad = np.where(np.arange(2 * n) % 2 == 0, radius, radius * inner)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)


def _shape_polygon(rng: np.random.Generator, class_id: int, radius: float) -> np.ndarray:
    rot = rng.uniform(0, 2 * math.pi)
    name = CLASSES[class_id]
    if name == "circle":
        return _regular(48, radius, 0.0)
    if name == "square":
        return _regular(4, radius, rot)
    if name == "triangle":
        return _regular(3, radius, rot)
    if name == "star":
        return _regular(5, radius, rot, inner=rng.uniform(0.38, 0.5))
    # cross (plus sign): 12 vertices, arm half-width a
    a = radius * rng.uniform(0.25, 0.36)
    r = radius / math.sqrt(1 + (a / radius) ** 2)  # keep the arm tips within `radius`
    pts = np.array([(a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a)])
    pts = np.concatenate([pts, [(-a, -a), (-a, -r)]])
    c, s = math.cos(rot), math.sin(rot)
    return np.asarray(pts @ np.array([[c, s], [-s, c]]), dtype=np.float64)


def _cv_pts(poly: np.ndarray) -> np.ndarray:
    """Continuous coordinates -> OpenCV pixel-centre coordinates in 1/16 px fixed point."""
    return np.round((poly - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)


def _fill(img: np.ndarray, poly: np.ndarray, colour: Any, *, aa: bool = True) -> None:
    cv2.fillPoly(img, [_cv_pts(poly)], colour, lineType=cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


def _mask(h: int, w: int, poly: np.ndarray) -> np.ndarray:
    m = np.zeros((h, w), dtype=np.uint8)
    _fill(m, poly, 1, aa=False)
    return m.astype(bool)


def _clutter(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    """Distractors that are not objects: lines, rings, elongated ellipses, text, outlines."""
    h, w = img.shape[:2]
    for _ in range(count):
        kind = int(rng.integers(0, 5))
        colour = _rand_colour(rng)
        thick = int(rng.integers(1, 4))
        if kind == 0:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p1, p2, colour, thick, cv2.LINE_AA)
        elif kind == 1:
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, centre, int(rng.integers(6, 50)), colour, thick, cv2.LINE_AA)
        elif kind == 2:
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            major = int(rng.integers(12, 60))
            minor = max(2, int(major / rng.uniform(2.5, 6.0)))
            cv2.ellipse(img, centre, (major, minor), float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 3:
            text = "".join(chr(int(c)) for c in rng.integers(65, 91, size=int(rng.integers(2, 6))))
            org = (int(rng.integers(0, w - 20)), int(rng.integers(20, h)))
            cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.2), colour, thick, cv2.LINE_AA)
        else:  # outline of a random polygon
            n = int(rng.integers(3, 8))
            middle = np.array([rng.uniform(0, w), rng.uniform(0, h)])
            pts = middle + rng.uniform(-40, 40, size=(n, 2))
            cv2.polylines(img, [_cv_pts(pts)], True, colour, thick, cv2.LINE_AA, shift=4)


def _visible_ok(full: list[np.ndarray], visible: list[np.ndarray], cover: np.ndarray) -> bool:
    """True when every object keeps >= _MIN_VISIBLE of its pixels after ``cover`` is drawn on top."""
    return all(int((v & ~cover).sum()) >= _MIN_VISIBLE * int(f.sum()) for f, v in zip(full, visible))


def _cover(visible: list[np.ndarray], cover: np.ndarray) -> None:
    for v in visible:
        v &= ~cover


def _occluders(rng: np.random.Generator, h: int, w: int, count: int) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    out = []
    for _ in range(count):
        centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        if rng.random() < 0.5:  # rotated rectangle
            short = rng.uniform(5, 20)  # elongated (aspect >= 1.8) so it never passes for a square
            half = np.array([short, short * rng.uniform(1.8, 4.0)])
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
            a = rng.uniform(0, math.pi)
            rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
            poly = centre + corners @ rot
        else:  # irregular blob
            n = int(rng.integers(6, 11))
            ang = np.sort(rng.uniform(0, 2 * math.pi, size=n))
            rad = rng.uniform(8, 35, size=n)
            poly = centre + np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
        grey = int(rng.integers(30, 230))
        colour = (grey, grey, grey) if rng.random() < 0.5 else _rand_colour(rng)
        out.append((poly, colour))
    return out


# --------------------------------------------------------------------------------------------
# one image
# --------------------------------------------------------------------------------------------


def generate_image(seed: int, split: str, index: int) -> tuple[np.ndarray, list[ShapeObject]]:
    """Draw image ``index`` of ``split`` for ``seed``; deterministic.

    Args:
        seed: dataset seed (non-negative int).
        split: ``"train"`` or ``"val"``; each split has its own random streams.
        index: image index within the split (non-negative).

    Returns:
        ``(image, objects)``: a ``(H, W, 3)`` uint8 BGR array and its labelled objects.

    Raises:
        InvalidInputError: unknown split, negative seed or index.

    >>> img, objs = generate_image(0, "val", 0)
    >>> img.dtype, img.ndim, 320 <= img.shape[0] <= 416 and 320 <= img.shape[1] <= 416
    (dtype('uint8'), 3, True)
    >>> np.array_equal(img, generate_image(0, "val", 0)[0])
    True
    """
    check_choice(split, "split", SPLITS)
    for name, value in (("seed", seed), ("index", index)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
    rng = np.random.default_rng([GENERATOR_VERSION, seed, SPLITS[split], index])
    w = int(rng.integers(_SIZE_RANGE[0], _SIZE_RANGE[1] + 1))
    h = int(rng.integers(_SIZE_RANGE[0], _SIZE_RANGE[1] + 1))
    img = _background(rng, h, w)
    _clutter(rng, img, int(rng.integers(0, 8)))  # clutter under the objects

    polys: list[np.ndarray] = []
    full: list[np.ndarray] = []  # whole-shape masks
    visible: list[np.ndarray] = []  # what is still visible of each shape
    classes: list[int] = []
    n_objects = int(rng.integers(_OBJECTS_RANGE[0], _OBJECTS_RANGE[1] + 1))
    for _ in range(n_objects):
        class_id = int(rng.integers(0, len(CLASSES)))
        colour = _class_colour(rng, class_id)
        outline = rng.random() < 0.25
        for _attempt in range(20):
            radius = float(math.exp(rng.uniform(math.log(_RADIUS_RANGE[0]), math.log(_RADIUS_RANGE[1]))))
            radius = min(radius, (min(w, h) - 4) / 2)
            shape = _shape_polygon(rng, class_id, radius)
            lo, hi = shape.min(axis=0), shape.max(axis=0)
            cx = rng.uniform(1 - lo[0], w - 1 - hi[0])
            cy = rng.uniform(1 - lo[1], h - 1 - hi[1])
            poly = shape + np.array([cx, cy])
            m = _mask(h, w, poly)
            if m.sum() >= 16 and _visible_ok(full, visible, m):
                break
        else:
            continue  # no room for this object
        _fill(img, poly, colour)
        if outline:
            dark = tuple(int(c * 0.4) for c in colour)
            cv2.polylines(img, [_cv_pts(poly)], True, dark, 1, cv2.LINE_AA, shift=4)
        _cover(visible, m)
        polys.append(poly)
        full.append(m)
        visible.append(m.copy())
        classes.append(class_id)

    # occluding patches on top, kept only when every object stays mostly visible
    if full and rng.random() < 0.5:
        for poly, colour in _occluders(rng, h, w, int(rng.integers(1, 4))):
            m = _mask(h, w, poly)
            if _visible_ok(full, visible, m):
                _fill(img, poly, colour)
                _cover(visible, m)

    # thin clutter over everything (small occlusions)
    if rng.random() < 0.3:
        _clutter(rng, img, int(rng.integers(1, 3)))

    # image-level photometric changes
    if rng.random() < 0.5:
        alpha, beta = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
        img = cv2.convertScaleAbs(img, alpha=float(alpha), beta=float(beta))
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    sigma = rng.uniform(0, 8)
    if sigma > 1:
        noise = rng.normal(0.0, sigma, size=img.shape)
        img = np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)

    objects = []
    for class_id, poly, f, v in zip(classes, polys, full, visible):
        vis = round(float(v.sum()) / max(float(f.sum()), 1.0), 4)
        x1, y1 = poly.min(axis=0)
        x2, y2 = poly.max(axis=0)
        objects.append(ShapeObject(class_id, (float(x1), float(y1), float(x2), float(y2)), poly, vis))
    return np.ascontiguousarray(img), objects


# --------------------------------------------------------------------------------------------
# writing a dataset
# --------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def yolo_label_text(objects: Sequence[ShapeObject], image_size_wh: tuple[int, int]) -> str:
    """YOLO label file content: one ``class cx cy w h`` line per object, normalised, 6 decimals.

    >>> obj = ShapeObject(1, (10.0, 20.0, 30.0, 60.0), np.zeros((0, 2)), 1.0)
    >>> yolo_label_text([obj], (100, 200))
    '1 0.200000 0.200000 0.200000 0.200000\\n'
    """
    if not objects:
        return ""
    boxes = convert([o.xyxy for o in objects], "xyxy", "cxcywhn", image_size_wh=image_size_wh)
    return "".join(f"{o.class_id} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f}\n" for o, b in zip(objects, boxes))


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _data_yaml(splits: dict[str, int], seed: int) -> str:
    lines = [
        f"# shapes: synthetic detection dataset made by datasets/generate.py (seed {seed}).",
        "# `path` is omitted on purpose: Ultralytics then resolves the folders next to this file.",
    ]
    for split in ("train", "val"):
        if split in splits:
            lines.append(f"{split}: images/{split}")
        else:
            other = "val" if split == "train" else "train"
            lines.append(f"{split}: images/{other}  # this copy holds no {split} split; regenerate it with generate.py")
    lines.append(f"nc: {len(CLASSES)}")
    lines.append("names:")
    lines.extend(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    return "\n".join(lines) + "\n"


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    splits: dict[str, int] | None = None,
    jpeg_quality: int = _JPEG_QUALITY,
    progress: bool = False,
) -> dict[str, Any]:
    """Generate the dataset in YOLO and COCO form under ``out_dir``.

    Args:
        out_dir: output folder (created; existing files of the same names are replaced).
        seed: dataset seed.
        splits: split name -> number of images, e.g. ``{"train": 600, "val": 60}`` (the default).
        jpeg_quality: JPEG quality of the written images.
        progress: print one line per finished split.

    Returns:
        The metadata written to ``meta.json`` (generator version, seed, splits, classes, counts).

    Raises:
        InvalidInputError: unknown split name or negative count.
    """
    splits = dict(splits if splits is not None else {"train": 600, "val": 60})
    for name, count in splits.items():
        check_choice(name, "splits key", SPLITS)
        if not isinstance(count, int) or count < 0:
            raise InvalidInputError(f"splits[{name!r}] must be a non-negative int, got {count!r}")
    splits = {k: v for k, v in splits.items() if v > 0}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]
    counts: dict[str, dict[str, int]] = {}
    for split, count in splits.items():
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for index in range(count):
            img, objects = generate_image(seed, split, index)
            h, w = img.shape[:2]
            stem = f"{split}_{index:05d}"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {stem}")
            write_atomic(out / "images" / split / f"{stem}.jpg", buf.tobytes())
            write_atomic(out / "labels" / split / f"{stem}.txt", yolo_label_text(objects, (w, h)).encode())
            image_id = index + 1
            images.append({"id": image_id, "file_name": f"{stem}.jpg", "width": w, "height": h})
            boxes = convert([o.xyxy for o in objects], "xyxy", "xywh") if objects else np.zeros((0, 4))
            for obj, box in zip(objects, boxes):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": obj.class_id + 1,
                        "bbox": [round(float(v), 3) for v in box],
                        "area": round(_polygon_area(obj.polygon), 3),
                        "iscrowd": 0,
                        "segmentation": [[round(float(v), 2) for v in obj.polygon.reshape(-1)]],
                        "visibility": obj.visibility,
                    }
                )
        coco = {
            "info": {
                "description": f"shapes {split} split, synthetic, datasets/generate.py seed {seed}",
                "version": str(GENERATOR_VERSION),
            },
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        text = json.dumps(coco, separators=(",", ":")) + "\n"
        write_atomic(out / "annotations" / f"instances_{split}.json", text.encode())
        counts[split] = {"images": len(images), "objects": len(annotations)}
        if progress:
            print(f"{split}: {len(images)} images, {len(annotations)} objects -> {out}")
    meta = {
        "generator": "datasets/generate.py",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "splits": splits,
        "jpeg_quality": int(jpeg_quality),
        "classes": list(CLASSES),
        "counts": counts,
    }
    write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    write_atomic(out / "data.yaml", _data_yaml(splits, seed).encode())
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python datasets/generate.py --out DIR [--seed S] [--train N] [--val N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=600, help="number of train images (0: no train split)")
    parser.add_argument("--val", type=int, default=60, help="number of val images")
    parser.add_argument("--jpeg-quality", type=int, default=_JPEG_QUALITY)
    args = parser.parse_args(argv)
    generate_dataset(
        args.out,
        seed=args.seed,
        splits={"train": args.train, "val": args.val},
        jpeg_quality=args.jpeg_quality,
        progress=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
