"""Recent positions per track id, for drawing trails (see :func:`detectkit.viz.tracks.draw_trails`).

>>> import numpy as np
>>> from detectkit import Detections
>>> history = TrackHistory(length=3)
>>> for x in range(5):
...     history.update(Detections(xyxy=[[x, 0, x + 2, 2]], tracker_id=[4]))
>>> history.points(4).tolist()
[[3.0, 2.0], [4.0, 2.0], [5.0, 2.0]]
"""

from __future__ import annotations

from collections import deque

import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.video.zones import Anchor, anchor_points

__all__ = ["TrackHistory"]


class TrackHistory:
    """The last ``length`` anchor points of every track id; ids unseen for ``max_missing`` frames are dropped.

    Args:
        length: points kept per id.
        anchor: the box point recorded (see :func:`~detectkit.video.zones.anchor_points`).
        max_missing: frames after which an unseen id is forgotten.
    """

    def __init__(self, *, length: int = 30, anchor: Anchor | str = "bottom_center", max_missing: int = 30) -> None:
        for name, value in (("length", length), ("max_missing", max_missing)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        anchor_points(np.zeros((0, 4)), anchor)
        self.length, self.anchor, self.max_missing = length, anchor, max_missing
        self._points: dict[int, deque[tuple[float, float]]] = {}
        self._last_seen: dict[int, int] = {}
        self._class: dict[int, int] = {}
        self.frame = 0

    def update(self, detections: Detections) -> None:
        """Record this frame's tracked boxes (``tracker_id`` >= 0)."""
        if detections.tracker_id is not None:
            pts = anchor_points(detections.xyxy, self.anchor)
            for tid, cls, (x, y) in zip(
                detections.tracker_id.tolist(), detections.class_id.tolist(), pts.tolist(), strict=True
            ):
                if tid < 0:
                    continue
                self._points.setdefault(tid, deque(maxlen=self.length)).append((x, y))
                self._last_seen[tid] = self.frame
                self._class[tid] = cls
        for tid, seen in list(self._last_seen.items()):
            if self.frame - seen >= self.max_missing:
                del self._last_seen[tid], self._points[tid], self._class[tid]
        self.frame += 1

    @property
    def ids(self) -> list[int]:
        """Ids with a trail, sorted."""
        return sorted(self._points)

    def points(self, tracker_id: int) -> np.ndarray:
        """float64 ``(K, 2)`` recent points of one id, oldest first (empty when unknown)."""
        return np.array(self._points.get(tracker_id, ()), dtype=np.float64).reshape(-1, 2)

    def class_id(self, tracker_id: int) -> int:
        """The class of the id's latest box (0 when unknown)."""
        return self._class.get(tracker_id, 0)

    def reset(self) -> None:
        """Forget everything."""
        self._points.clear()
        self._last_seen.clear()
        self._class.clear()
        self.frame = 0
