"""Drawing for video runs: track trails, polygon zones and counting lines with their counts.

Like the rest of :mod:`detectkit.viz`, every public function returns a new image.

>>> import numpy as np
>>> from detectkit import Detections
>>> from detectkit.video import LineCounter, PolygonZone, TrackHistory
>>> history = TrackHistory()
>>> for x in (10, 20, 30):
...     history.update(Detections(xyxy=[[x, 10, x + 10, 20]], tracker_id=[1]))
>>> zone = PolygonZone([(0, 0), (40, 0), (40, 40), (0, 40)])
>>> line = LineCounter((0, 30), (64, 30))
>>> out = annotate_video_frame(np.zeros((48, 64, 3), np.uint8), Detections(xyxy=[[30, 10, 40, 20]], tracker_id=[1]),
...                            history=history, zones=[zone], lines=[line])
>>> out.shape, int(out.max()) > 0
((48, 64, 3), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from detectkit.viz._common import ascii_text, canvas, style_for, text_box
from detectkit.viz.palette import class_color

if TYPE_CHECKING:
    from detectkit.detections import Detections
    from detectkit.video.trails import TrackHistory
    from detectkit.video.zones import LineCounter, PolygonZone

__all__ = ["annotate_video_frame", "draw_lines", "draw_trails", "draw_zones"]

_ZONE_COLOR = (0, 200, 255)  # BGR amber
_LINE_COLOR = (255, 255, 255)


def _trails_inplace(out: np.ndarray, history: TrackHistory, thickness: int) -> None:
    for tid in history.ids:
        pts = history.points(tid)
        if len(pts) < 2:
            continue
        color = class_color(history.class_id(tid))
        poly = np.rint(pts).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [poly], False, color, thickness, cv2.LINE_AA)


def _label(out: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int], scale: float) -> None:
    text = ascii_text(text)
    thick = max(1, int(scale * 1.6 + 0.5))
    w, h, base = text_box(text, scale, thick)
    H, W = out.shape[:2]
    x = int(min(max(org[0], 0), max(W - w - 4, 0)))
    y = int(min(max(org[1], h + 4), H - base - 2))
    cv2.rectangle(out, (x, y - h - 4), (x + w + 4, y + base + 2), (0, 0, 0), -1)
    cv2.putText(out, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def _zones_inplace(out: np.ndarray, zones: Sequence[PolygonZone], thickness: int, scale: float) -> None:
    for zone in zones:
        pts = np.rint(zone.polygon).astype(np.int32).reshape(-1, 1, 2)
        overlay = out.copy()
        cv2.fillPoly(overlay, [pts], _ZONE_COLOR)
        cv2.addWeighted(overlay, 0.2, out, 0.8, 0, dst=out)
        cv2.polylines(out, [pts], True, _ZONE_COLOR, thickness, cv2.LINE_AA)
        top = zone.polygon[np.argmin(zone.polygon[:, 1])]
        text = f"{zone.name}: {len(zone.inside_ids)} inside, {zone.entered_count} in / {zone.left_count} out"
        _label(out, text, (int(top[0]), int(top[1]) - 4), _ZONE_COLOR, scale)


def _lines_inplace(out: np.ndarray, lines: Sequence[LineCounter], thickness: int, scale: float) -> None:
    for line in lines:
        p = tuple(round(v) for v in line.start)
        q = tuple(round(v) for v in line.end)
        cv2.line(out, p, q, _LINE_COLOR, thickness + 1, cv2.LINE_AA)
        mid = ((p[0] + q[0]) // 2, (p[1] + q[1]) // 2)
        _label(out, f"{line.name}: in {line.in_count} out {line.out_count}", mid, _LINE_COLOR, scale)


def draw_trails(image: Any, history: TrackHistory, *, thickness: int | None = None) -> np.ndarray:
    """Draw each track's recent path (class colour) on a copy of ``image``."""
    out, _ = canvas(image)
    st = style_for((out.shape[1], out.shape[0]), thickness=thickness)
    _trails_inplace(out, history, st.thickness)
    return out


def draw_zones(image: Any, zones: Sequence[PolygonZone], *, thickness: int | None = None) -> np.ndarray:
    """Draw zones (translucent fill, outline, live counts) on a copy of ``image``."""
    out, _ = canvas(image)
    st = style_for((out.shape[1], out.shape[0]), thickness=thickness)
    _zones_inplace(out, zones, st.thickness, st.text_scale)
    return out


def draw_lines(image: Any, lines: Sequence[LineCounter], *, thickness: int | None = None) -> np.ndarray:
    """Draw counting lines with their in/out counts on a copy of ``image``."""
    out, _ = canvas(image)
    st = style_for((out.shape[1], out.shape[0]), thickness=thickness)
    _lines_inplace(out, lines, st.thickness, st.text_scale)
    return out


def annotate_video_frame(
    image: Any,
    detections: Detections,
    *,
    history: TrackHistory | None = None,
    zones: Sequence[PolygonZone] = (),
    lines: Sequence[LineCounter] = (),
    **annotate_options: Any,
) -> np.ndarray:
    """One video frame: zones, then boxes and labels (with ``#id``), trails and lines; one copy.

    ``annotate_options`` go to :func:`detectkit.viz.annotate`.
    """
    from detectkit.viz.draw import annotate

    base, _ = canvas(image)
    st = style_for((base.shape[1], base.shape[0]), thickness=annotate_options.get("thickness"))
    if zones:
        _zones_inplace(base, zones, st.thickness, st.text_scale)
    out: np.ndarray = annotate(base, detections, **annotate_options)
    if history is not None:
        _trails_inplace(out, history, st.thickness)
    if lines:
        _lines_inplace(out, lines, st.thickness, st.text_scale)
    return out
