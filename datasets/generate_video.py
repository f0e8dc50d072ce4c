"""Seeded synthetic tracking video: the "shapes" moving on known trajectories, with MOT ground truth.

Objects of the five shape classes (circle, square, triangle, star, cross; the same colours as
``datasets/generate.py`` so the shipped ``demo-shapes`` detector finds them) move over a static
textured background. Some move in **crossing pairs**: two objects on the same band heading at each
other, overlapping around a chosen frame (the later-drawn one occludes the other), which is where
trackers swap ids. The others move in straight lines and bounce off the frame edges. Every object
spins slowly. A little sensor noise changes every frame.

Everything comes from ``numpy.random.default_rng([version, seed])``: the same seed and options give
the same frames and byte-identical ground truth.

Output (``--out DIR``)::

    DIR/video.mp4          the clip (mp4v)
    DIR/gt/gt.txt          MOTChallenge ground truth: frame,id,x,y,w,h,1,class,visibility (1-based
                           frames and ids; class = shape class id + 1; boxes clipped to the frame)
    DIR/seqinfo.ini        MOTChallenge sequence info (name, frame rate, length, size)
    DIR/meta.json          generator version, seed, options, classes, object count

Usage::

    python datasets/generate_video.py --out .cache/video --seed 0 --frames 150 --size 640x384
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate

__all__ = [
    "CLASSES",
    "VIDEO_GENERATOR_VERSION",
    "MovingObject",
    "VideoSpec",
    "generate_video",
    "main",
    "make_spec",
    "render_frame",
    "render_frames",
]

VIDEO_GENERATOR_VERSION = 1
CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
_CLASS_HUES: tuple[int, ...] = (0, 115, 60, 28, 150)  # OpenCV HSV hue of each class (generate.py)


@dataclass(frozen=True)
class MovingObject:
    """One object's trajectory: position ``start + velocity * t`` folded into the frame (bounces).

    Attributes:
        track_id: 1-based ground-truth id.
        class_id: index into :data:`CLASSES`.
        outline: ``(K, 2)`` shape polygon around the origin (unrotated).
        colour: BGR fill colour.
        start_xy: centre at frame 0.
        velocity_xy: pixels per frame.
        spin: radians per frame.
        first_frame, last_frame: 0-based frames the object is on screen (inclusive).
        depth: drawing order (higher is drawn later, i.e. on top).
    """

    track_id: int
    class_id: int
    outline: np.ndarray
    colour: tuple[int, int, int]
    start_xy: tuple[float, float]
    velocity_xy: tuple[float, float]
    spin: float
    first_frame: int
    last_frame: int
    depth: int

    def polygon(self, t: int, size_wh: tuple[int, int]) -> np.ndarray:
        """The object's outline at frame ``t`` in image coordinates."""
        w, h = size_wh
        r = float(np.abs(self.outline).max())
        cx = _fold(self.start_xy[0] + self.velocity_xy[0] * t, r, w - r)
        cy = _fold(self.start_xy[1] + self.velocity_xy[1] * t, r, h - r)
        a = self.spin * t
        c, s = math.cos(a), math.sin(a)
        return np.asarray(self.outline @ np.array([[c, s], [-s, c]]) + np.array([cx, cy]), dtype=np.float64)


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render the clip: size, length, rate, background and objects."""

    seed: int
    size_wh: tuple[int, int]
    frames: int
    fps: float
    background: np.ndarray
    objects: tuple[MovingObject, ...]


def _fold(x: float, lo: float, hi: float) -> float:
    """Reflect ``x`` into ``[lo, hi]`` (bouncing motion)."""
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    u = (x - lo) % (2 * span)
    return lo + (u if u <= span else 2 * span - u)


def _outline(rng: np.random.Generator, class_id: int, radius: float) -> np.ndarray:
    def regular(n: int, inner: float | None = None) -> np.ndarray:
        k = n if inner is None else 2 * n
        ang = -math.pi / 2 + np.arange(k) * 2 * math.pi / k
        rad = np.full(k, radius) if inner is None else np.where(np.arange(k) % 2 == 0, radius, radius * inner)
        return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)

    name = CLASSES[class_id]
    if name == "circle":
        return regular(48)
    if name == "square":
        return regular(4)
    if name == "triangle":
        return regular(3)
    if name == "star":
        return regular(5, inner=float(rng.uniform(0.4, 0.48)))
    a = radius * float(rng.uniform(0.27, 0.34))
    r = radius / math.sqrt(1 + (a / radius) ** 2)
    pts = [(a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a), (-a, -a), (-a, -r)]
    return np.array(pts, dtype=np.float64)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth, low-contrast background: a two-colour gradient with blurred blobs."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = float(rng.uniform(0, 2 * math.pi))
    t = xx * math.cos(ang) + yy * math.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    c0 = rng.integers(90, 170, size=3).astype(np.float32)
    c1 = rng.integers(90, 170, size=3).astype(np.float32)
    img = c0 + (c1 - c0) * t[..., None]
    blobs = np.zeros((h, w, 3), np.float32)
    for _ in range(int(rng.integers(6, 14))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(float(v) for v in rng.integers(-35, 35, size=3))
        cv2.circle(blobs, centre, int(rng.integers(min(w, h) // 12, min(w, h) // 4)), colour, -1)
    blobs = cv2.GaussianBlur(blobs, (0, 0), min(w, h) / 25)
    return np.clip(img + blobs, 0, 255).astype(np.uint8)


def make_spec(
    seed: int = 0,
    *,
    size_wh: tuple[int, int] = (640, 384),
    frames: int = 150,
    fps: float = 30.0,
    objects: int = 6,
    crossing_pairs: int = 2,
) -> VideoSpec:
    """Draw the random choices of one clip (deterministic in its arguments).

    Args:
        seed: random seed (non-negative).
        size_wh: frame ``(width, height)``.
        frames: number of frames.
        fps: frame rate written to the video and ``seqinfo.ini``.
        objects: number of freely moving (bouncing) objects.
        crossing_pairs: pairs of objects that cross each other (with occlusion) mid-clip.

    >>> spec = make_spec(3, frames=10, objects=2, crossing_pairs=1)
    >>> len(spec.objects), spec.background.shape
    (4, (384, 640, 3))
    """
    w, h = (int(v) for v in size_wh)
    if w < 64 or h < 64 or frames < 1 or objects < 0 or crossing_pairs < 0 or seed < 0:
        raise ValueError("size_wh >= 64x64, frames >= 1 and non-negative seed/objects/crossing_pairs expected")
    rng = np.random.default_rng([VIDEO_GENERATOR_VERSION, seed])
    background = _background(rng, w, h)
    side = min(w, h)
    r_lo, r_hi = 0.06 * side, 0.1 * side
    speed = side / 120.0  # pixels per frame: the shorter side in 4 s at 30 fps
    items: list[MovingObject] = []

    def colour_for(class_id: int) -> tuple[int, int, int]:
        hue = _CLASS_HUES[class_id] + float(rng.uniform(-6, 6))
        return generate.hsv_to_bgr(hue, float(rng.uniform(170, 255)), float(rng.uniform(170, 255)))

    for _ in range(crossing_pairs):
        meet = int(rng.integers(frames // 3, max(frames // 3 + 1, 2 * frames // 3)))
        meet_x = float(rng.uniform(0.35 * w, 0.65 * w))
        band_y = float(rng.uniform(0.25 * h, 0.75 * h))
        v = speed * float(rng.uniform(0.8, 1.3))
        for direction in (1.0, -1.0):
            class_id = int(rng.integers(0, len(CLASSES)))
            radius = float(rng.uniform(r_lo, r_hi))
            dy = float(rng.uniform(-0.25, 0.25)) * radius  # not exactly on top of each other
            vy = float(rng.uniform(-0.15, 0.15)) * v
            start = (meet_x - direction * v * meet, band_y + dy - vy * meet)
            # on screen while the centre is inside the frame band it can reach without folding
            t_in = [t for t in range(frames) if radius <= start[0] + direction * v * t <= w - radius]
            items.append(
                MovingObject(
                    track_id=0,
                    class_id=class_id,
                    outline=_outline(rng, class_id, radius),
                    colour=colour_for(class_id),
                    start_xy=start,
                    velocity_xy=(direction * v, vy),
                    spin=float(rng.uniform(-0.02, 0.02)),
                    first_frame=t_in[0] if t_in else 0,
                    last_frame=t_in[-1] if t_in else -1,
                    depth=int(rng.integers(0, 1000)),
                )
            )
    for _ in range(objects):
        class_id = int(rng.integers(0, len(CLASSES)))
        radius = float(rng.uniform(r_lo, r_hi))
        ang = float(rng.uniform(0, 2 * math.pi))
        v = speed * float(rng.uniform(0.4, 1.2))
        items.append(
            MovingObject(
                track_id=0,
                class_id=class_id,
                outline=_outline(rng, class_id, radius),
                colour=colour_for(class_id),
                start_xy=(float(rng.uniform(radius, w - radius)), float(rng.uniform(radius, h - radius))),
                velocity_xy=(v * math.cos(ang), v * math.sin(ang)),
                spin=float(rng.uniform(-0.03, 0.03)),
                first_frame=0,
                last_frame=frames - 1,
                depth=int(rng.integers(0, 1000)),
            )
        )
    ordered = [o for o in items if o.last_frame >= o.first_frame]
    numbered = tuple(MovingObject(**{**o.__dict__, "track_id": i + 1}) for i, o in enumerate(ordered))
    return VideoSpec(seed, (w, h), int(frames), float(fps), background, numbered)


def _fill(img: np.ndarray, poly: np.ndarray, colour: Any, aa: bool = True) -> None:
    pts = np.round((poly - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


def render_frame(spec: VideoSpec, t: int) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray, float]]]:
    """Frame ``t`` (0-based) and its ground truth ``[(track_id, class_id, xyxy, visibility), ...]``.

    Boxes are the tight boxes of the whole (amodal) shapes clipped to the frame; visibility is
    the share of each shape's pixels not covered by shapes drawn on top of it.

    >>> spec = make_spec(0, frames=5, objects=1, crossing_pairs=0)
    >>> img, gt = render_frame(spec, 0)
    >>> img.shape, [(tid, round(vis, 2)) for tid, _, _, vis in gt]
    ((384, 640, 3), [(1, 1.0)])
    """
    w, h = spec.size_wh
    img = spec.background.copy()
    rng = np.random.default_rng([VIDEO_GENERATOR_VERSION, spec.seed, 1, t])
    live = sorted((o for o in spec.objects if o.first_frame <= t <= o.last_frame), key=lambda o: o.depth)
    masks: list[np.ndarray] = []
    polys: list[np.ndarray] = []
    for obj in live:
        poly = obj.polygon(t, spec.size_wh)
        _fill(img, poly, obj.colour)
        m = np.zeros((h, w), np.uint8)
        _fill(m, poly, 1, aa=False)
        masks.append(m.astype(bool))
        polys.append(poly)
    noise = rng.normal(0.0, 2.0, size=img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    truth = []
    for i, (obj, poly) in enumerate(zip(live, polys)):
        full = int(masks[i].sum())
        covered = np.zeros((h, w), bool)
        for m in masks[i + 1 :]:
            covered |= m
        vis = float((masks[i] & ~covered).sum()) / max(full, 1)
        x1, y1 = np.clip(poly.min(axis=0), 0, [w, h])
        x2, y2 = np.clip(poly.max(axis=0), 0, [w, h])
        truth.append((obj.track_id, obj.class_id, np.array([x1, y1, x2, y2]), round(vis, 4)))
    truth.sort(key=lambda r: r[0])
    return np.ascontiguousarray(img), truth


def render_frames(spec: VideoSpec) -> Iterator[tuple[np.ndarray, list[tuple[int, int, np.ndarray, float]]]]:
    """Every frame of the clip with its ground truth, in order (see :func:`render_frame`)."""
    for t in range(spec.frames):
        yield render_frame(spec, t)


def mot_rows(t: int, truth: Sequence[tuple[int, int, np.ndarray, float]]) -> list[str]:
    """MOTChallenge ground-truth lines of frame ``t`` (0-based): ``frame,id,x,y,w,h,1,class,vis``."""
    rows = []
    for tid, cls, (x1, y1, x2, y2), vis in truth:
        rows.append(f"{t + 1},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,{cls + 1},{vis:.4f}")
    return rows


def generate_video(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    size_wh: tuple[int, int] = (640, 384),
    frames: int = 150,
    fps: float = 30.0,
    objects: int = 6,
    crossing_pairs: int = 2,
) -> dict[str, Any]:
    """Write ``video.mp4``, ``gt/gt.txt``, ``seqinfo.ini`` and ``meta.json`` into ``out_dir``.

    Returns:
        The metadata written to ``meta.json``.
    """
    spec = make_spec(seed, size_wh=size_wh, frames=frames, fps=fps, objects=objects, crossing_pairs=crossing_pairs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w, h = spec.size_wh
    tmp_video = out / ".video.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (w, h))  # type: ignore[attr-defined]
    if not writer.isOpened():
        raise RuntimeError(f"cannot open an mp4v video writer in {out}")
    lines: list[str] = []
    try:
        for t, (img, truth) in enumerate(render_frames(spec)):
            writer.write(img)
            lines.extend(mot_rows(t, truth))
    finally:
        writer.release()
    os.replace(tmp_video, out / "video.mp4")
    generate.write_atomic(out / "gt" / "gt.txt", ("\n".join(lines) + "\n").encode())
    seqinfo = (
        f"[Sequence]\nname={out.name}\nimDir=img1\nframeRate={spec.fps:g}\nseqLength={spec.frames}\n"
        f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n"
    )
    generate.write_atomic(out / "seqinfo.ini", seqinfo.encode())
    meta = {
        "generator": "datasets/generate_video.py",
        "generator_version": VIDEO_GENERATOR_VERSION,
        "seed": seed,
        "size_wh": [w, h],
        "frames": spec.frames,
        "fps": spec.fps,
        "objects": objects,
        "crossing_pairs": crossing_pairs,
        "tracks": len(spec.objects),
        "classes": list(CLASSES),
        "gt_rows": len(lines),
    }
    generate.write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """``python datasets/generate_video.py --out DIR [--seed S] [--frames N] [--size WxH] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", default="640x384", help="WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--objects", type=int, default=6, help="freely moving objects")
    parser.add_argument("--crossing-pairs", type=int, default=2, help="pairs of objects that cross mid-clip")
    args = parser.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, got {args.size!r}")
    meta = generate_video(
        args.out,
        seed=args.seed,
        size_wh=(w, h),
        frames=args.frames,
        fps=args.fps,
        objects=args.objects,
        crossing_pairs=args.crossing_pairs,
    )
    print(f"{meta['frames']} frames, {meta['tracks']} tracks, {meta['gt_rows']} boxes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
