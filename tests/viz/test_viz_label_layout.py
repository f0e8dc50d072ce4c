"""Labels never hide the box they name (small objects keep their box visible)."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit import Detections, annotate
from detectkit.viz.draw import layout_labels


def _own_cover(rects: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(rects[:, 2], boxes[:, 2]) - np.maximum(rects[:, 0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(rects[:, 3], boxes[:, 3]) - np.maximum(rects[:, 1], boxes[:, 1]), 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return iw * ih / area  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", range(5))
def test_small_boxes_keep_their_labels_outside(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    xy = rng.integers(0, 300, size=(n, 2))
    wh = rng.integers(6, 20, size=(n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    boxes[0] = [150, 0, 162, 10]  # at the top edge: "above" is clamped onto the box
    boxes[1] = [300, 310, 312, 320]  # at the bottom-right corner
    sizes = np.tile([60, 14], (n, 1))
    rects = layout_labels(boxes, sizes, (320, 320))
    assert (_own_cover(rects, boxes) <= 0.25).all()


def test_labels_still_go_inside_large_boxes_when_nothing_else_fits() -> None:
    # a box filling the frame: the only places are inside, and that hides little of it
    rects = layout_labels(np.array([[0, 0, 200, 100]]), np.array([[60, 14]]), (200, 100))
    assert rects.tolist() == [[0, 0, 60, 14]]


def test_annotated_small_box_outline_stays_visible() -> None:
    image = np.full((120, 160, 3), 255, np.uint8)
    dets = Detections(xyxy=[[70, 1, 84, 13]], confidence=[0.9], class_id=[0], names={0: "square"})
    out = annotate(image, dets, thickness=1)
    # the box's bottom edge (row 13) is drawn in the class colour, not covered by the label fill
    edge = out[13, 72:82]
    assert not (edge == 255).all()
    inside = out[3:12, 72:82]
    assert (inside == 255).all(), "the label was drawn over the small box"
