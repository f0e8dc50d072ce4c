"""compare() / match_detections(), crops_gallery(), grid()."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectkit import Detections, InvalidInputError
from detectkit.viz import compare, crops_gallery, grid, match_detections
from detectkit.viz.views import COMPARE_COLORS


def _bgr(hex_color: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_match(gt: Detections, pred: Detections, thr: float) -> tuple[list[bool], list[bool]]:
    """Plain-Python COCO-style greedy matching (scores descending, best free same-class GT)."""
    used = [False] * len(gt)
    tp = [False] * len(pred)
    for p in sorted(range(len(pred)), key=lambda i: (-float(pred.confidence[i]), i)):  # type: ignore[index]
        best, best_iou = -1, thr
        for g in range(len(gt)):
            if used[g] or gt.class_id[g] != pred.class_id[p]:
                continue
            iou = _iou(pred.xyxy[p].tolist(), gt.xyxy[g].tolist())
            if iou >= best_iou and (best < 0 or iou > best_iou):
                best, best_iou = g, iou
        if best >= 0:
            used[best], tp[p] = True, True
    return tp, used


box = st.tuples(st.integers(0, 80), st.integers(0, 80), st.integers(2, 40), st.integers(2, 40)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@settings(max_examples=80, deadline=None)
@given(
    gt=st.lists(st.tuples(box, st.integers(0, 1)), max_size=8),
    pred=st.lists(st.tuples(box, st.integers(0, 1), st.integers(1, 99)), max_size=8),
    thr=st.sampled_from([0.3, 0.5, 0.75]),
)
def test_matching_agrees_with_reference(gt: list, pred: list, thr: float) -> None:  # type: ignore[type-arg]
    g = Detections(xyxy=[b for b, _ in gt] or np.zeros((0, 4)), class_id=[c for _, c in gt] or None)
    p = Detections(
        xyxy=[b for b, _, _ in pred] or np.zeros((0, 4)),
        class_id=[c for _, c, _ in pred] or None,
        confidence=[s / 100 for _, _, s in pred],
    )
    m = match_detections(g, p, iou_threshold=thr)
    tp, used = _reference_match(g, p, thr)
    assert m.pred_tp.tolist() == tp
    assert m.gt_matched.tolist() == used
    assert m.tp + m.fp == len(p)
    assert m.tp + m.fn == len(g)


def test_crowd_ground_truth_absorbs_predictions() -> None:
    gt = Detections(xyxy=[[0, 0, 50, 50], [60, 60, 90, 90]], data={"iscrowd": [1, 0]})
    pred = Detections(xyxy=[[2, 2, 48, 48], [0, 0, 10, 10]], confidence=[0.9, 0.8])
    m = match_detections(gt, pred)
    assert (m.tp, m.fp, m.fn) == (0, 1, 1)
    assert m.pred_ignored.tolist() == [True, False]


def test_class_agnostic_matching() -> None:
    gt = Detections(xyxy=[[0, 0, 50, 50]], class_id=[0])
    pred = Detections(xyxy=[[0, 0, 50, 50]], class_id=[1], confidence=[0.9])
    assert match_detections(gt, pred).tp == 0
    assert match_detections(gt, pred, class_aware=False).tp == 1


def test_compare_colours_and_legend() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    before = image.copy()
    gt = Detections(xyxy=[[10, 30, 60, 80], [100, 30, 150, 80]], names={0: "cat"})
    pred = Detections(xyxy=[[10, 30, 60, 80], [70, 90, 90, 110]], confidence=[0.9, 0.3], names={0: "cat"})
    out = compare(image, gt, pred, labels=False)
    np.testing.assert_array_equal(image, before)
    assert out.shape[0] > 120
    assert out.shape[1:] == (160, 3)
    assert tuple(out[55, 10]) == _bgr(COMPARE_COLORS["tp"])  # matched prediction, left edge
    assert tuple(out[100, 70]) == _bgr(COMPARE_COLORS["fp"])  # false positive
    fn_edge = out[30:81, 100]
    assert (fn_edge == np.array(_bgr(COMPARE_COLORS["fn"]))).all(axis=1).any()  # missed GT, dashed
    assert not (fn_edge == np.array(_bgr(COMPARE_COLORS["fn"]))).all(axis=1).all()  # ... with gaps
    no_legend = compare(image, gt, pred, legend=False, colors={"tp": "#FFFFFF"})
    assert no_legend.shape == (120, 160, 3)
    assert tuple(no_legend[55, 10]) == (255, 255, 255)
    with pytest.raises(InvalidInputError, match="colors keys"):
        compare(image, gt, pred, colors={"ok": "#FFFFFF"})


def test_crops_gallery_layout_order_and_empty() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[0:50, 0:50] = 200
    dets = Detections(xyxy=[[60, 60, 90, 90], [0, 0, 50, 50]], confidence=[0.2, 0.9])
    out = crops_gallery(image, dets, cell_size=32, labels=False, padding=0, gap=0, columns=2)
    assert out.shape == (32, 64, 3)
    assert (out[16, 0:32] == 200).all()  # most confident (the bright crop) comes first
    assert (out[16, 32:64] != 200).all()
    assert crops_gallery(image, Detections.empty(), cell_size=16).shape == (24, 24, 3)
    assert crops_gallery(image, dets, cell_size=16, max_crops=1, gap=0).shape == (16, 16, 3)
    assert (image[60:, 60:] == 0).all()


def test_grid_mixed_images() -> None:
    imgs = [
        np.full((40, 60, 3), 10, np.uint8),
        np.full((30, 30), 20, np.uint8),
        np.full((40, 60, 4), 30, np.uint8),
    ]
    out = grid(imgs, columns=3, cell_size_wh=(60, 40), gap=2, titles=["a", "", "c"])
    assert out.shape == (44, 188, 3)
    assert tuple(out[30, 30]) == (10, 10, 10)
    assert tuple(out[30, 62 + 30]) == (20, 20, 20)
    with pytest.raises(InvalidInputError, match="non-empty list"):
        grid([])
    with pytest.raises(InvalidInputError, match="titles"):
        grid(imgs, titles=["a"])
