"""Confusion matrix with a background row and column (see ``detectkit.metrics.ConfusionMatrix``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detectkit.metrics._engine import box_iou_pairs
from detectkit.metrics._inputs import GroundTruth, Predictions

__all__ = ["confusion_counts"]


def _pair_iou(
    dt: Predictions, gt: GroundTruth, d_idx: np.ndarray, g_idx: np.ndarray, crowd: np.ndarray, iou_type: str
) -> np.ndarray:
    """(len(d_idx), len(g_idx)) IoU matrix; crowd columns use intersection over detection area."""
    nd, ng = len(d_idx), len(g_idx)
    if nd == 0 or ng == 0:
        return np.zeros((nd, ng))
    if iou_type == "segm" and dt.arrays.segmentation is not None and gt.arrays.segmentation is not None:
        from pycocotools import mask as mask_utils

        d_rles = [dt.arrays.segmentation[int(i)] for i in d_idx]
        g_rles = [gt.arrays.segmentation[int(i)] for i in g_idx]
        iou = np.asarray(mask_utils.iou(d_rles, g_rles, [int(c) for c in crowd]), dtype=np.float64)
        return iou.reshape(nd, ng)
    d_rep = np.repeat(dt.arrays.xywh[d_idx], ng, axis=0)
    g_rep = np.tile(gt.arrays.xywh[g_idx], (nd, 1))
    return box_iou_pairs(d_rep, g_rep, np.tile(crowd, nd)).reshape(nd, ng)


def confusion_counts(
    gt: GroundTruth,
    dt: Predictions,
    *,
    category_ids: np.ndarray,
    iou_type: str,
    iou_threshold: float,
    conf_threshold: float,
) -> np.ndarray:
    """Count (true class, predicted class) pairs per image; see ``ConfusionMatrix`` for the rules."""
    K = len(category_ids)
    matrix = np.zeros((K + 1, K + 1), dtype=np.int64)
    g, d = gt.arrays, dt.arrays
    if d.score is None:
        raise ValueError("predictions need scores")
    g_ok = np.isin(g.category_id, category_ids) & np.isin(g.image_id, gt.image_ids)
    d_ok = np.isin(d.category_id, category_ids) & (d.score >= conf_threshold)
    g_sel = np.flatnonzero(g_ok)
    d_sel = np.flatnonzero(d_ok)
    g_sel = g_sel[np.argsort(g.image_id[g_sel], kind="stable")]
    d_sel = d_sel[np.argsort(d.image_id[d_sel], kind="stable")]
    g_img = g.image_id[g_sel]
    d_img = d.image_id[d_sel]
    g_cls = np.searchsorted(category_ids, g.category_id)
    d_cls = np.searchsorted(category_ids, d.category_id)
    images = np.union1d(np.unique(g_img), np.unique(d_img))
    g_lo = np.searchsorted(g_img, images, side="left")
    g_hi = np.searchsorted(g_img, images, side="right")
    d_lo = np.searchsorted(d_img, images, side="left")
    d_hi = np.searchsorted(d_img, images, side="right")
    bg = K
    pairs_true: list[Any] = []
    pairs_pred: list[Any] = []
    for i in range(len(images)):
        gi = g_sel[g_lo[i] : g_hi[i]]
        di = d_sel[d_lo[i] : d_hi[i]]
        crowd = g.iscrowd[gi].astype(bool)
        regular, crowd_idx = gi[~crowd], gi[crowd]
        if len(di) == 0:
            pairs_true.append(g_cls[regular])
            pairs_pred.append(np.full(len(regular), bg))
            continue
        iou = _pair_iou(dt, gt, di, regular, np.zeros(len(regular), bool), iou_type)
        det_used = np.zeros(len(di), bool)
        gt_used = np.zeros(len(regular), bool)
        if iou.size:
            r, c = np.nonzero(iou >= iou_threshold)
            if r.size:
                # greedy one-to-one by IoU (ties: higher score, then earlier objects)
                order = np.lexsort((c, r, -d.score[di[r]], -iou[r, c]))
                for j in order:
                    dr, gc = r[j], c[j]
                    if det_used[dr] or gt_used[gc]:
                        continue
                    det_used[dr] = gt_used[gc] = True
                    pairs_true.append(g_cls[regular[gc : gc + 1]])
                    pairs_pred.append(d_cls[di[dr : dr + 1]])
        pairs_true.append(g_cls[regular[~gt_used]])
        pairs_pred.append(np.full(int((~gt_used).sum()), bg))
        fp = di[~det_used]
        if len(crowd_idx) and len(fp):
            on_crowd = (_pair_iou(dt, gt, fp, crowd_idx, np.ones(len(crowd_idx), bool), iou_type) >= iou_threshold).any(
                axis=1
            )
            fp = fp[~on_crowd]
        pairs_true.append(np.full(len(fp), bg))
        pairs_pred.append(d_cls[fp])
    if pairs_true:
        t = np.concatenate(pairs_true).astype(np.int64)
        p = np.concatenate(pairs_pred).astype(np.int64)
        np.add.at(matrix, (t, p), 1)
    return matrix
