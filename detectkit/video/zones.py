"""Polygon zones (inside / entered / left / dwell time per id) and line counters (in / out per class).

Both work on tracked :class:`~detectkit.Detections` (``tracker_id`` set, e.g. from
:class:`~detectkit.video.Tracker`) and reduce each box to one **anchor point** (default: the
bottom centre, where an object touches the ground; ``"center"`` and the four corners too).
Geometry is shapely's.

Line crossings are **debounced**: a side change counts only after the anchor has stayed on the
new side, farther than ``tolerance`` pixels from the line, for ``min_frames`` consecutive frames,
and only when its path from the last confirmed position actually cuts the segment. An object
jittering on the line is counted once (supervision PR 2600), objects passing beyond the ends of
the segment are not counted. A line close to the frame edge still counts (supervision 1838):
an object first seen touching the edge that lies beyond the line is taken to have come from
that side, and one last seen touching an edge beyond the line, then lost, has left through it.

>>> import numpy as np
>>> from detectkit import Detections
>>> line = LineCounter((0, 50), (100, 50), min_frames=1)
>>> for y in (20, 40, 60, 80):   # one box moving down across y = 50
...     _ = line.update(Detections(xyxy=[[40, y - 10, 60, y]], tracker_id=[1], names={0: "car"}))
>>> line.in_count, line.out_count, line.counts()
(1, 0, {'in': {'car': 1}, 'out': {}})
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError

__all__ = ["ANCHORS", "Anchor", "LineCounter", "PolygonZone", "ZoneEvent", "anchor_points", "parse_points"]

Anchor = Literal["bottom_center", "center", "top_left", "top_right", "bottom_left", "bottom_right"]
ANCHORS: tuple[str, ...] = ("bottom_center", "center", "top_left", "top_right", "bottom_left", "bottom_right")


def anchor_points(xyxy: np.ndarray, anchor: Anchor | str = "bottom_center") -> np.ndarray:
    """One ``(x, y)`` point per box, float64 ``(N, 2)``.

    >>> anchor_points(np.array([[0, 0, 10, 20]]), "bottom_center").tolist()
    [[5.0, 20.0]]
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    table = {
        "bottom_center": (cx, b[:, 3]),
        "center": (cx, cy),
        "top_left": (b[:, 0], b[:, 1]),
        "top_right": (b[:, 2], b[:, 1]),
        "bottom_left": (b[:, 0], b[:, 3]),
        "bottom_right": (b[:, 2], b[:, 3]),
    }
    if anchor not in table:
        raise InvalidInputError(f"anchor must be one of {list(ANCHORS)}, got {anchor!r}")
    x, y = table[anchor]
    return np.stack([x, y], axis=1)


def parse_points(text: str, *, name: str, minimum: int) -> list[tuple[float, float]]:
    """``"x1,y1,x2,y2,..."`` -> ``[(x1, y1), (x2, y2), ...]`` (the CLI's ``--zone`` / ``--line``).

    >>> parse_points("0,10, 100,10", name="--line", minimum=2)
    [(0.0, 10.0), (100.0, 10.0)]
    """
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise InvalidInputError(f"{name} must be comma-separated numbers x1,y1,x2,y2,..., got {text!r}") from None
    if len(values) % 2 or len(values) < 2 * minimum or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(f"{name} needs at least {minimum} x,y pairs of finite numbers, got {text!r}")
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def _tracked(detections: Detections, who: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(detections, Detections):
        raise InvalidInputError(f"{who}.update needs detectkit Detections, got {type(detections).__name__}")
    if detections.tracker_id is None:
        raise InvalidInputError(f"{who}.update needs tracked detections (tracker_id set): use a Tracker first")
    keep = detections.tracker_id >= 0
    return np.flatnonzero(keep), detections.tracker_id[keep]


def _label(detections: Detections, i: int) -> str:
    k = int(detections.class_id[i])
    return detections.names.get(k, str(k))


@dataclass(frozen=True)
class ZoneEvent:
    """An id entering or leaving a zone: ``kind`` ``"entered"``/``"left"``, time in seconds."""

    kind: str
    tracker_id: int
    label: str
    time: float
    dwell: float = 0.0


@dataclass
class _ZoneTrack:
    inside: bool
    since: float  # time the current state began (entry time when inside)
    last_seen: int
    label: str
    pending: int = 0  # consecutive frames seen in the other state


class PolygonZone:
    """Objects inside a polygon: who is inside now, who entered or left, and for how long.

    Args:
        polygon: ``[(x, y), ...]`` at least three vertices (pixels).
        anchor: the box point tested (see :func:`anchor_points`).
        min_frames: frames an id must be seen on the other side of the border before it counts
            as entered/left (debounce).
        max_missing: an id unseen for this many frames is forgotten; if it was inside, it left.
        fps: frames per second, for times when ``update`` gets no ``time``.
        name: label for drawing and JSON.

    ``update`` returns a bool mask (which boxes are inside). Afterwards ``inside_ids``,
    ``entered``/``left`` (this frame's :class:`ZoneEvent`\\ s), ``dwell`` (seconds inside per id
    currently inside), ``entered_count``/``left_count`` (totals, also per class) are current.

    >>> zone = PolygonZone([(0, 0), (100, 0), (100, 100), (0, 100)], min_frames=1, fps=10)
    >>> for x in (150, 50, 60, 150):
    ...     _ = zone.update(Detections(xyxy=[[x, 40, x + 10, 50]], tracker_id=[7]))
    ...     print(zone.inside_ids, [e.kind for e in zone.entered + zone.left])
    [] []
    [7] ['entered']
    [7] []
    [] ['left']
    >>> zone.entered_count, zone.left_count, zone.events[-1].dwell
    (1, 1, 0.2)
    """

    def __init__(
        self,
        polygon: Sequence[Sequence[float]] | np.ndarray,
        *,
        anchor: Anchor | str = "bottom_center",
        min_frames: int = 2,
        max_missing: int = 30,
        fps: float = 30.0,
        name: str | None = None,
    ) -> None:
        import shapely

        pts = np.asarray(polygon, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
            raise InvalidInputError(f"polygon must be at least 3 (x, y) points, got shape {pts.shape}")
        poly = shapely.Polygon(pts)
        if not poly.is_valid or poly.area <= 0:
            raise InvalidInputError("polygon must not intersect itself and must have a positive area")
        anchor_points(np.zeros((0, 4)), anchor)  # validates
        for arg, value in (("min_frames", min_frames), ("max_missing", max_missing)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{arg} must be a positive int, got {value!r}")
        if not float(fps) > 0:
            raise InvalidInputError(f"fps must be positive, got {fps!r}")
        self.polygon = pts
        self._shape = poly
        shapely.prepare(poly)
        self.anchor = anchor
        self.min_frames = min_frames
        self.max_missing = max_missing
        self.fps = float(fps)
        self.name = name or "zone"
        self.frame = 0
        self.now = 0.0
        self._tracks: dict[int, _ZoneTrack] = {}
        self.entered: list[ZoneEvent] = []
        self.left: list[ZoneEvent] = []
        self.events: list[ZoneEvent] = []
        self.entered_per_class: Counter[str] = Counter()
        self.left_per_class: Counter[str] = Counter()

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Bool ``(N,)``: which ``(x, y)`` points lie inside or on the border."""
        import shapely

        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return np.asarray(shapely.intersects_xy(self._shape, pts[:, 0], pts[:, 1]), dtype=bool)

    def update(self, detections: Detections, *, time: float | None = None) -> np.ndarray:
        """Feed one frame; returns bool ``(N,)``: which boxes' anchors are inside (untracked too)."""
        rows, ids = _tracked(detections, "PolygonZone")
        self.now = float(time) if time is not None else self.frame / self.fps
        inside_all = self.contains(anchor_points(detections.xyxy, self.anchor))
        self.entered, self.left = [], []
        for i, tid in zip(rows.tolist(), ids.tolist(), strict=True):
            inside = bool(inside_all[i])
            label = _label(detections, i)
            track = self._tracks.get(tid)
            if track is None:
                self._tracks[tid] = track = _ZoneTrack(False, self.now, self.frame, label)
            track.last_seen, track.label = self.frame, label
            if inside == track.inside:
                track.pending = 0
                continue
            track.pending += 1
            if track.pending >= self.min_frames:
                self._switch(tid, track, inside)
        for tid, track in list(self._tracks.items()):
            if self.frame - track.last_seen >= self.max_missing:
                if track.inside:
                    self._switch(tid, track, False)
                del self._tracks[tid]
        self.frame += 1
        return inside_all

    def _switch(self, tid: int, track: _ZoneTrack, inside: bool) -> None:
        track.pending = 0
        if inside:
            event = ZoneEvent("entered", tid, track.label, self.now)
            self.entered.append(event)
            self.entered_per_class[track.label] += 1
        else:
            event = ZoneEvent("left", tid, track.label, self.now, round(self.now - track.since, 6))
            self.left.append(event)
            self.left_per_class[track.label] += 1
        self.events.append(event)
        track.inside, track.since = inside, self.now

    @property
    def inside_ids(self) -> list[int]:
        """Ids currently inside (confirmed), sorted."""
        return sorted(t for t, tr in self._tracks.items() if tr.inside)

    @property
    def dwell(self) -> dict[int, float]:
        """Seconds each id currently inside has spent inside (this visit)."""
        return {t: round(self.now - tr.since, 6) for t, tr in sorted(self._tracks.items()) if tr.inside}

    @property
    def entered_count(self) -> int:
        return sum(self.entered_per_class.values())

    @property
    def left_count(self) -> int:
        return sum(self.left_per_class.values())

    def to_dict(self) -> dict[str, Any]:
        """This frame's state as JSON-safe values."""
        return {
            "name": self.name,
            "inside": self.inside_ids,
            "count": len(self.inside_ids),
            "entered": [e.tracker_id for e in self.entered],
            "left": [e.tracker_id for e in self.left],
            "dwell": {str(k): v for k, v in self.dwell.items()},
            "entered_total": dict(self.entered_per_class),
            "left_total": dict(self.left_per_class),
        }

    def reset(self) -> None:
        """Forget every id and count."""
        self._tracks.clear()
        self.entered, self.left, self.events = [], [], []
        self.entered_per_class.clear()
        self.left_per_class.clear()
        self.frame, self.now = 0, 0.0


@dataclass
class _LineTrack:
    side: int  # confirmed side: -1, +1, or 0 (unknown yet)
    point: np.ndarray  # anchor at the last confirmed side
    last_seen: int
    label: str
    pending: int = 0
    pending_side: int = 0
    edge_side: int = 0  # side of the frame edge the box touched when last seen (0: none)


@dataclass
class LineCounter:
    """Count tracked objects crossing a line segment, per direction and class.

    Args:
        start, end: the segment's end points ``(x, y)``. Moving to the **right-hand** side of the
            direction ``start -> end``, as seen on the image, is ``in``; back is ``out``. For a
            horizontal line drawn left to right, moving down is ``in``.
        anchor: the box point that must cross (see :func:`anchor_points`).
        tolerance: a dead band in pixels around the line where the side is not decided.
        min_frames: frames the anchor must stay on the new side before the crossing counts.
        max_missing: an id unseen for this many frames is forgotten.
        edge_margin: a box within this many pixels of the frame edge "touches" the edge
            (needs ``image_size_wh`` on the detections).
        name: label for drawing and JSON.
    """

    start: tuple[float, float]
    end: tuple[float, float]
    anchor: str = "bottom_center"
    tolerance: float = 2.0
    min_frames: int = 2
    max_missing: int = 30
    edge_margin: float = 2.0
    name: str = "line"
    in_per_class: Counter[str] = field(default_factory=Counter, init=False)
    out_per_class: Counter[str] = field(default_factory=Counter, init=False)
    crossed_in: list[int] = field(default_factory=list, init=False)
    crossed_out: list[int] = field(default_factory=list, init=False)
    frame: int = field(default=0, init=False)
    _tracks: dict[int, _LineTrack] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        import shapely

        p, q = np.asarray(self.start, np.float64), np.asarray(self.end, np.float64)
        if p.shape != (2,) or q.shape != (2,) or not (np.isfinite(p).all() and np.isfinite(q).all()):
            raise InvalidInputError(f"start and end must be (x, y) points, got {self.start!r}, {self.end!r}")
        if np.allclose(p, q):
            raise InvalidInputError("start and end of a line must differ")
        anchor_points(np.zeros((0, 4)), self.anchor)
        for arg in ("min_frames", "max_missing"):
            value = getattr(self, arg)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{arg} must be a positive int, got {value!r}")
        if not self.tolerance >= 0 or not self.edge_margin >= 0:
            raise InvalidInputError("tolerance and edge_margin must be >= 0")
        self.start, self.end = (float(p[0]), float(p[1])), (float(q[0]), float(q[1]))
        self._p, self._d = p, q - p
        self._len = float(np.hypot(*self._d))
        self._segment = shapely.LineString([p, q])

    def side_of(self, points: np.ndarray) -> np.ndarray:
        """int ``(N,)``: +1 right of ``start -> end`` as seen on the image ("in" side), -1 right, 0 in the dead band."""
        pts = np.asarray(points, np.float64).reshape(-1, 2) - self._p
        dist = (self._d[0] * pts[:, 1] - self._d[1] * pts[:, 0]) / self._len  # signed distance, y down
        return np.where(dist > self.tolerance, 1, np.where(dist < -self.tolerance, -1, 0)).astype(np.int64)

    def _cuts(self, a: np.ndarray, b: np.ndarray) -> bool:
        import shapely

        return bool(self._segment.intersects(shapely.LineString([a, b])))

    def _edge_side(self, box: np.ndarray, size_wh: tuple[int, int] | None) -> tuple[int, np.ndarray | None]:
        """The side of the line beyond the frame edge this box touches, and a point there."""
        if size_wh is None:
            return 0, None
        w, h = size_wh
        m = self.edge_margin
        x1, y1, x2, y2 = (float(v) for v in box)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        candidates = []
        if x1 <= m:
            candidates.append((-1.0, cy))
        if x2 >= w - m:
            candidates.append((w + 1.0, cy))
        if y1 <= m:
            candidates.append((cx, -1.0))
        if y2 >= h - m:
            candidates.append((cx, h + 1.0))
        for c in candidates:
            pt = np.array(c)
            s = int(self.side_of(pt)[0])
            if s != 0:
                return s, pt
        return 0, None

    def update(self, detections: Detections) -> np.ndarray:
        """Feed one frame; returns bool ``(N,)``: which boxes crossed (either way) on this frame."""
        rows, ids = _tracked(detections, "LineCounter")
        pts = anchor_points(detections.xyxy, self.anchor)
        sides = self.side_of(pts)
        crossed = np.zeros(len(detections), bool)
        self.crossed_in, self.crossed_out = [], []
        size = detections.image_size_wh
        for i, tid in zip(rows.tolist(), ids.tolist(), strict=True):
            label = _label(detections, i)
            side = int(sides[i])
            edge_side, edge_pt = self._edge_side(detections.xyxy[i], size)
            track = self._tracks.get(tid)
            if track is None:
                # first sighting: touching an edge beyond the line means it came from there
                if edge_side != 0 and side == -edge_side and edge_pt is not None:
                    track = _LineTrack(edge_side, edge_pt, self.frame, label)
                else:
                    track = _LineTrack(side, pts[i].copy(), self.frame, label)
                self._tracks[tid] = track
            track.last_seen, track.label, track.edge_side = self.frame, label, edge_side
            if side == 0 or side == track.side:
                track.pending, track.pending_side = 0, 0
                if side != 0:
                    track.point = pts[i].copy()
                continue
            if track.side == 0:  # the first decided side
                track.side, track.point = side, pts[i].copy()
                continue
            track.pending = track.pending + 1 if track.pending_side == side else 1
            track.pending_side = side
            if track.pending >= self.min_frames:
                if self._cuts(track.point, pts[i]):
                    self._count(tid, label, side)
                    crossed[i] = True
                track.side, track.point, track.pending, track.pending_side = side, pts[i].copy(), 0, 0
        for tid, track in list(self._tracks.items()):
            if self.frame - track.last_seen >= self.max_missing:
                # last seen touching an edge beyond the line: it left through the line
                if track.edge_side != 0 and track.edge_side == -track.side:
                    self._count(tid, track.label, track.edge_side)
                del self._tracks[tid]
        self.frame += 1
        return crossed

    def _count(self, tid: int, label: str, side: int) -> None:
        if side > 0:
            self.in_per_class[label] += 1
            self.crossed_in.append(tid)
        else:
            self.out_per_class[label] += 1
            self.crossed_out.append(tid)

    @property
    def in_count(self) -> int:
        return sum(self.in_per_class.values())

    @property
    def out_count(self) -> int:
        return sum(self.out_per_class.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"in": {label: n}, "out": {label: n}}``."""
        return {"in": dict(self.in_per_class), "out": dict(self.out_per_class)}

    def to_dict(self) -> dict[str, Any]:
        """This frame's state as JSON-safe values."""
        return {
            "name": self.name,
            "in": self.in_count,
            "out": self.out_count,
            "per_class": self.counts(),
            "crossed_in": list(self.crossed_in),
            "crossed_out": list(self.crossed_out),
        }

    def reset(self) -> None:
        """Forget every id and count."""
        self.in_per_class.clear()
        self.out_per_class.clear()
        self.crossed_in, self.crossed_out = [], []
        self._tracks.clear()
        self.frame = 0
