"""Video: tracking, zones and line counters, live stream readers, per-stage timing.

No model is imported here: a detector is whatever yields :class:`~detectkit.Detections`.
Names load lazily (``trackers`` and ``shapely`` only when used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "Tracker": "detectkit.video.tracker",
    "TRACKERS": "detectkit.video.tracker",
    "PolygonZone": "detectkit.video.zones",
    "LineCounter": "detectkit.video.zones",
    "TrackHistory": "detectkit.video.trails",
    "LatestFrameReader": "detectkit.video.sources",
    "open_stream": "detectkit.video.sources",
    "is_live_source": "detectkit.video.sources",
    "StageTimer": "detectkit.video.timing",
    "StreamingVideoWriter": "detectkit.video.writer",
    "open_video_writer": "detectkit.video.writer",
}

if TYPE_CHECKING:  # pragma: no cover
    from detectkit.video.sources import LatestFrameReader, is_live_source, open_stream
    from detectkit.video.timing import StageTimer
    from detectkit.video.tracker import TRACKERS, Tracker
    from detectkit.video.trails import TrackHistory
    from detectkit.video.writer import StreamingVideoWriter, open_video_writer
    from detectkit.video.zones import LineCounter, PolygonZone

__all__ = [
    "TRACKERS",
    "LatestFrameReader",
    "LineCounter",
    "PolygonZone",
    "StageTimer",
    "StreamingVideoWriter",
    "TrackHistory",
    "Tracker",
    "is_live_source",
    "open_stream",
    "open_video_writer",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'detectkit.video' has no attribute {name!r}")
