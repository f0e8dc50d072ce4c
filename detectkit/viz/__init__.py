"""Visualisation: draw detections, compare ground truth with predictions, blur, galleries, save.

Every function returns a new image; the caller's array is never written to.

>>> import numpy as np
>>> from detectkit import Detections
>>> from detectkit.viz import annotate
>>> annotate(np.zeros((64, 64, 3), np.uint8), Detections(xyxy=[[8, 8, 40, 40]])).shape
(64, 64, 3)
"""

from __future__ import annotations

from detectkit.viz.draw import annotate, label_texts, layout_labels, overlay_heatmap
from detectkit.viz.io import VideoWriter, save, show
from detectkit.viz.palette import DEFAULT_COLORS, Palette, class_color
from detectkit.viz.privacy import blur, pixelate
from detectkit.viz.views import compare, crops_gallery, grid, match_detections

__all__ = [
    "DEFAULT_COLORS",
    "Palette",
    "VideoWriter",
    "annotate",
    "blur",
    "class_color",
    "compare",
    "crops_gallery",
    "grid",
    "label_texts",
    "layout_labels",
    "match_detections",
    "overlay_heatmap",
    "pixelate",
    "save",
    "show",
]
