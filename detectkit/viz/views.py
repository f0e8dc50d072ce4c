"""Views over many boxes or images: GT vs prediction comparison, crops gallery, image grid.

>>> import numpy as np
>>> from detectkit import Detections
>>> gt = Detections(xyxy=[[10, 10, 50, 50], [60, 60, 90, 90]], names={0: "cat"})
>>> pred = Detections(xyxy=[[12, 11, 50, 52], [0, 60, 20, 90]], confidence=[0.9, 0.6], names={0: "cat"})
>>> m = match_detections(gt, pred, iou_threshold=0.5)
>>> m.pred_tp.tolist(), m.gt_matched.tolist(), (m.tp, m.fp, m.fn)
([True, False], [True, False], (1, 1, 1))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np

from detectkit._checks import check_fraction
from detectkit.boxes import box_iou
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.viz._common import FONT, as_detections, ascii_text, canvas, ink, style_for, text_box
from detectkit.viz.draw import draw_boxes, draw_labels, label_texts
from detectkit.viz.palette import ColorLike, as_palette, parse_color, text_color_for

__all__ = ["Match", "compare", "crops_gallery", "grid", "match_detections"]

COMPARE_COLORS: dict[str, str] = {"tp": "#2EC448", "fp": "#F0323C", "fn": "#1E90FF"}


class Match(NamedTuple):
    """Result of :func:`match_detections`.

    Attributes:
        pred_tp: bool ``(P,)`` — prediction matched a ground-truth box.
        pred_ignored: bool ``(P,)`` — unmatched but on a crowd region (neither TP nor FP).
        pred_gt: int64 ``(P,)`` — index of the matched ground-truth box, or -1.
        gt_matched: bool ``(G,)`` — ground-truth box found by some prediction.
        gt_ignored: bool ``(G,)`` — crowd ground truth (never counted as missed).
    """

    pred_tp: np.ndarray
    pred_ignored: np.ndarray
    pred_gt: np.ndarray
    gt_matched: np.ndarray
    gt_ignored: np.ndarray

    @property
    def tp(self) -> int:
        """Number of true positives."""
        return int(self.pred_tp.sum())

    @property
    def fp(self) -> int:
        """Number of false positives."""
        return int((~self.pred_tp & ~self.pred_ignored).sum())

    @property
    def fn(self) -> int:
        """Number of missed ground-truth boxes."""
        return int((~self.gt_matched & ~self.gt_ignored).sum())


def match_detections(
    ground_truth: Detections,
    predictions: Detections,
    *,
    iou_threshold: float = 0.5,
    class_aware: bool = True,
) -> Match:
    """Greedy one-to-one matching as COCO does it: predictions by descending confidence each take
    the best still-free ground-truth box (same class unless ``class_aware=False``) with IoU
    ``>= iou_threshold``. Crowd ground truth (``data["iscrowd"] == 1``) absorbs predictions
    without making them true or false positives.
    """
    gt = as_detections(ground_truth, "ground_truth")
    pred = as_detections(predictions, "predictions")
    thr = check_fraction(iou_threshold, "iou_threshold")
    n_gt, n_pred = len(gt), len(pred)
    crowd = np.zeros(n_gt, dtype=bool)
    if "iscrowd" in gt.data:
        crowd = np.asarray(gt.data["iscrowd"]).astype(bool).reshape(n_gt)
    pred_tp = np.zeros(n_pred, dtype=bool)
    pred_ignored = np.zeros(n_pred, dtype=bool)
    pred_gt = np.full(n_pred, -1, dtype=np.int64)
    gt_matched = np.zeros(n_gt, dtype=bool)
    if n_gt and n_pred:
        iou = box_iou(pred.xyxy, gt.xyxy).astype(np.float64)
        if class_aware:
            iou = np.where(pred.class_id[:, None] == gt.class_id[None, :], iou, -1.0)
        order = np.argsort(-pred.confidence, kind="stable") if pred.confidence is not None else np.arange(n_pred)
        for p in order.tolist():
            row = np.where(gt_matched | crowd, -1.0, iou[p])
            g = int(np.argmax(row))
            if row[g] >= thr and row[g] >= 0:
                pred_tp[p], pred_gt[p], gt_matched[g] = True, g, True
            elif crowd.any() and (np.where(crowd, iou[p], -1.0) >= thr).any():
                pred_ignored[p] = True
    return Match(pred_tp, pred_ignored, pred_gt, gt_matched, crowd.copy())


def compare(
    image: Any,
    ground_truth: Detections,
    predictions: Detections,
    *,
    iou_threshold: float = 0.5,
    class_aware: bool = True,
    labels: bool = True,
    legend: bool = True,
    thickness: int | None = None,
    text_scale: float | None = None,
    colors: dict[str, ColorLike] | None = None,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Ground truth vs predictions on a copy of ``image``.

    Matched predictions (true positives) are drawn in green, false positives in red, missed
    ground truth (false negatives) dashed in blue; ``colors`` overrides any of ``"tp"``,
    ``"fp"``, ``"fn"``. With ``legend`` a strip with the counts is added *below* the image
    (so nothing is hidden), making the output taller than the input.

    >>> gt = Detections(xyxy=[[10, 10, 50, 50]], names={0: "cat"})
    >>> pred = Detections(xyxy=[[11, 10, 50, 50], [60, 5, 90, 30]], confidence=[0.9, 0.4], names={0: "cat"})
    >>> compare(np.zeros((100, 100, 3), np.uint8), gt, pred).shape[:2] > (100, 100)
    True
    """
    gt = as_detections(ground_truth, "ground_truth")
    pred = as_detections(predictions, "predictions")
    out, channels = canvas(image, channels=channels)
    match = match_detections(gt, pred, iou_threshold=iou_threshold, class_aware=class_aware)
    scheme = {**COMPARE_COLORS, **(colors or {})}
    unknown = set(scheme) - set(COMPARE_COLORS)
    if unknown:
        raise InvalidInputError(f"colors keys must be among ['fn', 'fp', 'tp'], got {sorted(unknown)}")
    nch = out.shape[2]

    def paint(key: str) -> tuple[int, ...]:
        r, g, b = parse_color(scheme[key], f"colors[{key!r}]")
        return ink((b, g, r) if channels == "bgr" else (r, g, b), nch)

    h_img, w_img = out.shape[:2]
    st = style_for((w_img, h_img), thickness=thickness, text_scale=text_scale)
    missed = ~match.gt_matched & ~match.gt_ignored
    shown_pred = ~match.pred_ignored
    fn_dets, pred_dets = gt[missed], pred[shown_pred]
    pred_colors = [paint("tp") if t else paint("fp") for t in match.pred_tp[shown_pred].tolist()]
    fn_colors = [paint("fn")] * len(fn_dets)
    anchors = [
        draw_boxes(out, fn_dets.xyxy, fn_colors, st.thickness, dashed=True),
        draw_boxes(out, pred_dets.xyxy, pred_colors, st.thickness),
    ]
    if labels and (len(fn_dets) or len(pred_dets)):
        texts = [f"{t} (missed)" for t in label_texts(fn_dets)] + label_texts(pred_dets)
        order = None
        if pred_dets.confidence is not None:
            # predictions by confidence first, then the misses
            order = np.concatenate(
                [len(fn_dets) + np.argsort(-pred_dets.confidence, kind="stable"), np.arange(len(fn_dets))]
            )
        draw_labels(out, np.concatenate(anchors), [ascii_text(t) for t in texts], fn_colors + pred_colors, st, order)
    if not legend:
        return out
    items = [
        (f"TP {match.tp}", paint("tp")),
        (f"FP {match.fp}", paint("fp")),
        (f"FN {match.fn}", paint("fn")),
        (f"IoU >= {check_fraction(iou_threshold, 'iou_threshold'):.2f}", ink((200, 200, 200), nch)),
    ]
    _, th, base = text_box("TP", st.text_scale, st.text_thickness)
    strip_h = th + base + 4 * st.pad
    strip = np.full((strip_h, w_img, nch), 24, dtype=np.uint8)
    if nch == 4:
        strip[:, :, 3] = 255
    x = 2 * st.pad
    for text, color in items:
        cv2.putText(strip, text, (x, 2 * st.pad + th), FONT, st.text_scale, color, st.text_thickness, cv2.LINE_AA)
        x += text_box(text, st.text_scale, st.text_thickness)[0] + 4 * st.pad
    return np.concatenate([out, strip], axis=0)


def _fit(img: np.ndarray, cell_w: int, cell_h: int, background: tuple[int, ...]) -> np.ndarray:
    """Resize keeping the aspect ratio and centre on a ``cell_h x cell_w`` background."""
    h, w = img.shape[:2]
    scale = min(cell_w / w, cell_h / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    cell = np.empty((cell_h, cell_w, img.shape[2]), dtype=np.uint8)
    cell[...] = background
    y0, x0 = (cell_h - nh) // 2, (cell_w - nw) // 2
    cell[y0 : y0 + nh, x0 : x0 + nw] = small
    return cell


def _mosaic(cells: Sequence[np.ndarray], columns: int, gap: int, background: tuple[int, ...]) -> np.ndarray:
    ch, cw, nch = cells[0].shape
    rows = math.ceil(len(cells) / columns)
    out = np.empty((rows * ch + (rows + 1) * gap, columns * cw + (columns + 1) * gap, nch), dtype=np.uint8)
    out[...] = background
    for k, cell in enumerate(cells):
        r, c = divmod(k, columns)
        y, x = gap + r * (ch + gap), gap + c * (cw + gap)
        out[y : y + ch, x : x + cw] = cell
    return out


def _caption(cell: np.ndarray, text: str, color: tuple[int, ...], scale: float, thick: int, pad: int) -> None:
    text = ascii_text(text)
    tw, th, base = text_box(text, scale, thick)
    w = min(cell.shape[1], tw + 2 * pad)
    h = min(cell.shape[0], th + base + 2 * pad)
    cv2.rectangle(cell, (0, 0), (w - 1, h - 1), color, -1)
    fg = ink(text_color_for(color), cell.shape[2])
    cv2.putText(cell, text, (pad, pad + th), FONT, scale, fg, thick, cv2.LINE_AA)


def _check_int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def crops_gallery(
    image: Any,
    detections: Detections,
    *,
    cell_size: int = 128,
    columns: int | None = None,
    labels: bool = True,
    padding: float = 0.1,
    max_crops: int | None = None,
    gap: int = 4,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """One tile per detected box, highest confidence first, captioned with the label.

    Args:
        image: the image the boxes refer to.
        detections: the boxes to cut out.
        cell_size: tile side in pixels (crops are fitted keeping their aspect ratio).
        columns: tiles per row (default: a near-square layout).
        labels: caption each tile with its label in the class colour.
        padding: context around each box, as a fraction of its size.
        max_crops: keep at most this many (by confidence).
        gap: pixels between tiles.
        channels: channel order of ``image``.

    Returns:
        A new uint8 image; one empty tile when there are no boxes.

    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> d = Detections(xyxy=[[0, 0, 50, 50], [50, 50, 100, 100], [10, 60, 30, 90]], confidence=[0.9, 0.8, 0.7])
    >>> crops_gallery(img, d, cell_size=64).shape
    (140, 140, 3)
    """
    out_img, channels = canvas(image, channels=channels)
    dets = as_detections(detections)
    cell_size = _check_int(cell_size, "cell_size", 8)
    gap = _check_int(gap, "gap", 0)
    if not (isinstance(padding, (int, float)) and 0 <= padding <= 10):
        raise InvalidInputError(f"padding must be a fraction in [0, 10], got {padding!r}")
    if dets.confidence is not None and len(dets):
        dets = dets[np.argsort(-dets.confidence, kind="stable")]
    if max_crops is not None:
        dets = dets[: _check_int(max_crops, "max_crops", 0)]
    nch = out_img.shape[2]
    bg = (40, 40, 40, 255)[:nch]
    if not len(dets):
        return _mosaic([_fit(out_img[:1, :1] * 0 + 40, cell_size, cell_size, bg)], 1, gap, bg)
    h_img, w_img = out_img.shape[:2]
    st = style_for((cell_size * 2, cell_size * 2))
    pal = as_palette(None)
    texts = label_texts(dets) if labels else []
    cells = []
    for i, (x1, y1, x2, y2) in enumerate(dets.xyxy.tolist()):
        px, py = (x2 - x1) * padding, (y2 - y1) * padding
        a, b = max(0, math.floor(x1 - px)), max(0, math.floor(y1 - py))
        c, d = min(w_img, max(a + 1, math.ceil(x2 + px))), min(h_img, max(b + 1, math.ceil(y2 + py)))
        a, b = min(a, c - 1), min(b, d - 1)
        cell = _fit(out_img[b:d, a:c], cell_size, cell_size, bg)
        if labels:
            color = ink(pal.color(int(dets.class_id[i]), channels=channels), nch)
            _caption(cell, texts[i], color, st.text_scale * 0.8, 1, 3)
        cells.append(cell)
    cols = columns if columns is not None else math.ceil(math.sqrt(len(cells)))
    return _mosaic(cells, _check_int(cols, "columns"), gap, bg)


def grid(
    images: Sequence[Any],
    *,
    columns: int | None = None,
    cell_size_wh: tuple[int, int] | None = None,
    titles: Sequence[str] | None = None,
    gap: int = 4,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """A mosaic of many images (any sizes and layouts), each fitted into an equal cell.

    Args:
        images: the images (grayscale, BGR/RGB, BGRA — all become 3-channel).
        columns: cells per row (default: a near-square layout).
        cell_size_wh: cell size; default the median image width and height, scaled down to at
            most 640 px wide and 480 px high.
        titles: one caption per image (top-left of its cell).
        gap: pixels between cells.
        channels: channel order of the images.

    >>> grid([np.zeros((40, 60, 3), np.uint8), np.zeros((30, 30), np.uint8)], titles=["a", "b"]).shape
    (43, 102, 3)
    """
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence) or not len(images):
        raise InvalidInputError("images must be a non-empty list of images")
    arrays = []
    for i, img in enumerate(images):
        arr, _ = canvas(img, f"images[{i}]", channels=channels)
        if arr.shape[2] == 4:
            arr = arr[:, :, :3].copy()
        arrays.append(arr)
    if titles is not None and len(titles) != len(arrays):
        raise InvalidInputError(f"titles must have one entry per image ({len(arrays)}), got {len(titles)}")
    if cell_size_wh is None:
        w = int(np.median([a.shape[1] for a in arrays]))
        h = int(np.median([a.shape[0] for a in arrays]))
        scale = min(1.0, 640 / w, 480 / h)
        cw, chh = max(1, round(w * scale)), max(1, round(h * scale))
    else:
        cw, chh = (_check_int(v, "cell_size_wh") for v in cell_size_wh)
    gap = _check_int(gap, "gap", 0)
    bg = (32, 32, 32)
    st = style_for((cw, chh))
    cells = []
    for i, arr in enumerate(arrays):
        cell = _fit(arr, cw, chh, bg)
        if titles is not None and titles[i]:
            _caption(cell, str(titles[i]), (0, 0, 0), st.text_scale, st.text_thickness, st.pad)
        cells.append(cell)
    cols = columns if columns is not None else math.ceil(math.sqrt(len(cells)))
    return _mosaic(cells, _check_int(cols, "columns"), gap, bg)
