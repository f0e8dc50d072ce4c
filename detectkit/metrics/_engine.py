"""The COCO evaluation engine on flat numpy arrays, exact to pycocotools' ``COCOeval``.

Everything here works on one flat array per field (one row per annotation / detection), so
the per-image, per-category loops of ``COCOeval`` become a handful of vectorised passes:

1. detections are ranked per (image, category) by descending score (stable, file order breaks
   ties) and cut at ``max(max_dets)``, exactly like ``computeIoU``/``evaluateImg``;
2. every detection is paired with every ground truth of its (image, category) and the IoU of
   each pair is computed with the very floating-point operations of ``maskApi.c``'s ``bbIou``
   (or pycocotools' RLE IoU for ``segm``), so threshold comparisons agree bit for bit;
3. greedy matching runs once per detection *rank* for all groups, area ranges and IoU
   thresholds at the same time (``COCOeval`` runs it once per image, category and area range);
   the rule reproduced is COCOeval's: a detection takes the still-free ground truth with the
   highest IoU >= threshold (ties: the later one), regular ground truth before ignored
   (crowd or out-of-area) ground truth, crowd ground truth can be matched many times;
4. accumulation sorts each category's detections once and computes the interpolated
   precision at the 101 recall thresholds with integer-exact searches.

Quirks of pycocotools kept on purpose for exactness: matching is done at ``max(max_dets)`` and
reused for the smaller limits; a detection matched to ground truth whose annotation id is 0
counts as unmatched in accumulation (``dtm == 0``); detection areas come from the box when
results carry a box.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AREA_RANGES",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "EvalArrays",
    "EvalResult",
    "box_iou_pairs",
    "run_coco_eval",
]

#: COCO's 10 IoU thresholds 0.50:0.05:0.95, built exactly as pycocotools builds them.
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
#: COCO's 101 recall thresholds 0:0.01:1.
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
#: COCO's area ranges (label -> (low, high)), both ends inclusive.
AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}


@dataclass
class EvalArrays:
    """One side of an evaluation (ground truth or detections) as flat arrays, one row per object.

    Attributes:
        image_id: int64 ``(N,)`` image id of each object.
        category_id: int64 ``(N,)`` category id.
        xywh: float64 ``(N, 4)`` COCO boxes ``x, y, width, height`` as given.
        area: float64 ``(N,)`` area used for the area ranges.
        iscrowd: bool ``(N,)`` (ground truth; all False for detections).
        score: float64 ``(N,)`` detection scores (None for ground truth).
        ann_id: int64 ``(N,)`` annotation ids (ground truth; 1..N for detections).
        segmentation: per object an RLE dict (``segm`` only), else None.
    """

    image_id: np.ndarray
    category_id: np.ndarray
    xywh: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray
    score: np.ndarray | None = None
    ann_id: np.ndarray | None = None
    segmentation: list[Any] | None = None

    def __len__(self) -> int:
        return int(self.image_id.shape[0])


@dataclass
class EvalResult:
    """Raw output of :func:`run_coco_eval`, shaped like ``COCOeval.eval``.

    ``precision`` is ``(T, R, K, A, M)``, ``recall`` ``(T, K, A, M)``, ``scores`` like
    ``precision``; -1 marks "no ground truth". The ``det_*`` fields keep the per-detection
    outcome for the "all" area range at the largest ``max_dets`` (category position, score,
    true positive / ignored per IoU threshold), in accumulation order, and ``num_gt`` the
    non-ignored ground truth per category: enough for F1 / threshold analyses.
    """

    image_ids: np.ndarray
    category_ids: np.ndarray
    area_labels: list[str]
    area_ranges: np.ndarray
    max_dets: tuple[int, ...]
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    stats: np.ndarray
    # per kept detection (after the per-image top max_dets cut), in category/score order
    det_category_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    det_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    det_tp: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # (T, n) area all, max dets
    det_ignored: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # (T, n)
    num_gt: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (K,) non-ignored, area all


def box_iou_pairs(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of paired COCO boxes, row by row, with the floating-point steps of pycocotools' ``bbIou``.

    Args:
        dt: float64 ``(P, 4)`` detection boxes ``x, y, w, h``.
        gt: float64 ``(P, 4)`` ground-truth boxes.
        crowd: bool ``(P,)``; for crowd ground truth the union is the detection's area.

    Returns:
        float64 ``(P,)`` IoU; 0 where the boxes do not overlap.

    >>> box_iou_pairs(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 1, 2, 2]]), np.array([False])).tolist()
    [0.14285714285714285]
    """
    dx, dy, dw, dh = dt[:, 0], dt[:, 1], dt[:, 2], dt[:, 3]
    gx, gy, gw, gh = gt[:, 0], gt[:, 1], gt[:, 2], gt[:, 3]
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    ok = (w > 0) & (h > 0)
    inter = w * h
    da = dw * dh
    union = np.where(crowd, da, da + gw * gh - inter)
    out = np.zeros(len(dt), dtype=np.float64)
    np.divide(inter, union, out=out, where=ok)
    return out


def run_coco_eval(
    gt: EvalArrays,
    dt: EvalArrays,
    *,
    image_ids: Sequence[int] | np.ndarray,
    category_ids: Sequence[int] | np.ndarray,
    iou_type: str = "bbox",
    max_dets: Sequence[int] = (1, 10, 100),
    area_ranges: dict[str, tuple[float, float]] | None = None,
) -> EvalResult:
    """COCOeval's evaluate + accumulate + summarize on flat arrays (see the module docstring).

    ``image_ids``/``category_ids`` play the role of ``params.imgIds``/``params.catIds``:
    objects of other images or categories are ignored.
    """
    ranges = AREA_RANGES if area_ranges is None else area_ranges
    area_labels = list(ranges)
    a_rng = np.array([ranges[k] for k in area_labels], dtype=np.float64).reshape(-1, 2)
    mdets = tuple(sorted(int(m) for m in max_dets))
    max_det = mdets[-1]
    img_ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    cat_ids = np.unique(np.asarray(category_ids, dtype=np.int64))
    n_img, n_cat = len(img_ids), len(cat_ids)
    iou_thr = IOU_THRESHOLDS
    T, R, K, A, M = len(iou_thr), len(RECALL_THRESHOLDS), n_cat, len(a_rng), len(mdets)

    # ---------------------------------------------------------------- group keys
    def positions(side: EvalArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ip = np.searchsorted(img_ids, side.image_id)
        cp = np.searchsorted(cat_ids, side.category_id)
        ok = (ip < n_img) & (cp < n_cat)
        ok[ok] &= (img_ids[ip[ok]] == side.image_id[ok]) & (cat_ids[cp[ok]] == side.category_id[ok])
        return np.flatnonzero(ok), ip, cp

    g_keep, g_ip, g_cp = positions(gt)
    d_keep, d_ip, d_cp = positions(dt)

    # ground truth: grouped by (category, image), file order inside a group
    g_group_all = g_cp[g_keep] * n_img + g_ip[g_keep]
    g_order = g_keep[np.argsort(g_group_all, kind="stable")]
    g_group = g_cp[g_order] * n_img + g_ip[g_order]
    g_xywh = gt.xywh[g_order]
    g_area = gt.area[g_order]
    g_crowd = gt.iscrowd[g_order].astype(bool)
    g_annid = gt.ann_id[g_order] if gt.ann_id is not None else np.ones(len(g_order), np.int64)
    g_cat = g_cp[g_order]
    n_gt = len(g_order)
    # ignore flag per area range (A, n_gt)
    g_ig = g_crowd[None, :] | (g_area[None, :] < a_rng[:, :1]) | (g_area[None, :] > a_rng[:, 1:])

    # detections: grouped, by descending score (stable), cut at max_det per group
    if dt.score is None:
        raise ValueError("detections need scores")
    d_group_all = d_cp[d_keep] * n_img + d_ip[d_keep]
    d_score_all = dt.score[d_keep]
    o = np.lexsort((np.arange(len(d_keep)), -d_score_all, d_group_all))
    d_sorted = d_keep[o]
    grp_sorted = d_group_all[o]
    starts = np.r_[0, np.flatnonzero(np.diff(grp_sorted)) + 1] if len(grp_sorted) else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, len(grp_sorted)])
    rank = np.arange(len(grp_sorted)) - np.repeat(starts, counts)
    keep = rank < max_det
    d_idx = d_sorted[keep]
    d_rank = rank[keep]
    d_group = grp_sorted[keep]
    d_xywh = dt.xywh[d_idx]
    d_area = dt.area[d_idx]
    d_score = dt.score[d_idx]
    d_cat = d_cp[d_idx]
    d_img = d_ip[d_idx]
    n_dt = len(d_idx)

    # ---------------------------------------------------------------- pairs (det-major, rank-major)
    gstart_of = np.searchsorted(g_group, d_group, side="left")
    gcount_of = np.searchsorted(g_group, d_group, side="right") - gstart_of
    by_rank = np.lexsort((d_group, d_rank))  # process detections rank by rank
    pr_det = np.repeat(by_rank, gcount_of[by_rank])
    det_pair_start = np.r_[0, np.cumsum(gcount_of[by_rank])[:-1]] if n_dt else np.zeros(0, np.int64)
    within = np.arange(len(pr_det)) - np.repeat(det_pair_start, gcount_of[by_rank])
    pr_gt = gstart_of[pr_det] + within
    pair_start = np.empty(n_dt, dtype=np.int64)  # first pair of each detection (d order)
    pair_start[by_rank] = det_pair_start
    if iou_type == "segm":
        ious = _segm_pairs(
            dt.segmentation, gt.segmentation, d_idx, d_group, g_order, g_group, pair_start, g_crowd, len(pr_det)
        )
    else:
        ious = box_iou_pairs(d_xywh[pr_det], g_xywh[pr_gt], g_crowd[pr_gt])

    # ---------------------------------------------------------------- greedy matching
    thr = np.minimum(iou_thr, 1 - 1e-10)[None, :, None]  # (1, T, 1)
    match = np.full((A, T, n_dt), -1, dtype=np.int64)
    # groups with exactly one ground truth (the common case) need no greedy search: at each
    # threshold the best-ranked detection reaching it takes the ground truth (every such
    # detection, if the ground truth is crowd); the area range cannot change the outcome
    single = np.flatnonzero(gcount_of == 1)  # d order: grouped, by rank
    if len(single):
        gt1 = gstart_of[single]
        ok = ious[pair_start[single]][None, :] >= thr[0]  # (T, n_single)
        runs = np.r_[0, np.flatnonzero(np.diff(d_group[single])) + 1]
        run_of = np.repeat(np.arange(len(runs)), np.diff(np.r_[runs, len(single)]))
        pos1 = np.arange(len(single))
        first = np.minimum.reduceat(np.where(ok, pos1[None, :], len(single)), runs, axis=1)  # (T, n_runs)
        won = ok & (g_crowd[gt1][None, :] | (pos1[None, :] == first[:, run_of]))
        match[:, :, single] = np.where(won, gt1[None, :], -1)[None, :, :]
    # groups with several ground truths: COCOeval's greedy rule, one detection rank at a time
    multi = gcount_of[by_rank] > 1
    by_rank_m = by_rank[multi]
    keep_pair = gcount_of[pr_det] > 1
    pr_gt_m, ious_m = pr_gt[keep_pair], ious[keep_pair]
    cnt_m = gcount_of[by_rank_m]
    start_m = np.r_[0, np.cumsum(cnt_m)].astype(np.int64)
    ranks_m = d_rank[by_rank_m]
    taken = np.zeros((A, T, n_gt), dtype=bool)
    for r in range(max_det):
        lo_d, hi_d = np.searchsorted(ranks_m, [r, r + 1])
        if lo_d >= len(by_rank_m):
            break
        if lo_d == hi_d:
            continue
        dets_r = by_rank_m[lo_d:hi_d]
        p_lo, p_hi = start_m[lo_d], start_m[hi_d]
        gg = pr_gt_m[p_lo:p_hi]
        v = ious_m[p_lo:p_hi]
        seg_len = cnt_m[lo_d:hi_d]
        seg_start = start_m[lo_d:hi_d] - p_lo
        seg_of = np.repeat(np.arange(len(dets_r)), seg_len)
        cand = (v[None, None, :] >= thr) & ~taken[:, :, gg]  # (A, T, P)
        reg = ~g_ig[:, gg][:, None, :]  # (A, 1, P)
        pos = np.arange(len(gg))
        chosen = np.full((A, T, len(dets_r)), -1, dtype=np.int64)
        for want_regular in (True, False):
            c = cand & (reg if want_regular else ~reg)
            vals = np.where(c, v[None, None, :], -1.0)
            best = np.maximum.reduceat(vals, seg_start, axis=2)  # (A, T, nd)
            hit = c & (vals == best[:, :, seg_of])
            last = np.maximum.reduceat(np.where(hit, pos[None, None, :], -1), seg_start, axis=2)
            chosen = np.where(chosen >= 0, chosen, last)
        found = chosen >= 0
        gt_pick = np.where(found, gg[np.maximum(chosen, 0)], -1)
        match[:, :, dets_r] = gt_pick
        a_i, t_i, j_i = np.nonzero(found)
        picked = gt_pick[a_i, t_i, j_i]
        free = ~g_crowd[picked]
        taken[a_i[free], t_i[free], picked[free]] = True

    matched = match >= 0
    safe = np.maximum(match, 0)
    a_idx = np.arange(A)[:, None, None]
    gt_ig_m = g_ig[a_idx, safe] & matched
    nonzero = matched & (g_annid[safe] != 0)
    d_out = (d_area[None, :] < a_rng[:, :1]) | (d_area[None, :] > a_rng[:, 1:])  # (A, n_dt)
    d_ig = gt_ig_m | (~nonzero & d_out[:, None, :])
    tps = nonzero & ~d_ig
    fps = ~nonzero & ~d_ig

    # ---------------------------------------------------------------- accumulate
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    scores = -np.ones((T, R, K, A, M))
    npig = np.zeros((K, A), dtype=np.int64)
    for a in range(A):
        npig[:, a] = np.bincount(g_cat[~g_ig[a]], minlength=K)
    acc = np.lexsort((d_rank, d_img, -d_score, d_cat))
    AT = A * T
    # (A*T, n) layouts, one row per (area range, IoU threshold), detections in accumulation order
    tps_acc = tps[:, :, acc].reshape(AT, n_dt)
    fps_acc = fps[:, :, acc].reshape(AT, n_dt)
    cat_acc = d_cat[acc]
    rank_acc = d_rank[acc]
    score_acc = d_score[acc]
    # c[k, a, r]: the smallest true-positive count whose recall tp / npig reaches recall threshold r
    # (pycocotools searches rc = tp / npig; rc is monotone in tp, so searching tp is the same)
    c_r = np.zeros((K, A, R), dtype=np.int64)
    for k, ai in zip(*np.nonzero(npig > 0)):
        n_pos = int(npig[k, ai])
        c_r[k, ai] = np.searchsorted(np.arange(n_pos + 1, dtype=np.float64) / n_pos, RECALL_THRESHOLDS, side="left")
    c = np.repeat(c_r, T, axis=1)  # (K, A*T, R), rows ordered a-major like tps_acc
    npig_col = np.repeat(npig, T, axis=1)  # (K, A*T)
    valid_cell = npig_col > 0
    rows_at = np.arange(AT)
    for m, md in enumerate(mdets):
        if md >= max_det:
            tp_b, fp_b, sc, cat_m = tps_acc, fps_acc, score_acc, cat_acc
        else:
            keep_m = rank_acc < md
            tp_b, fp_b = tps_acc[:, keep_m], fps_acc[:, keep_m]
            sc, cat_m = score_acc[keep_m], cat_acc[keep_m]
        n_m = len(sc)
        c_lo = np.searchsorted(cat_m, np.arange(K), side="left")
        c_hi = np.searchsorted(cat_m, np.arange(K), side="right")
        nd_k = c_hi - c_lo
        # running counts per (row, category): one flat cumsum, minus the count before each category
        tp_cum = np.cumsum(tp_b.ravel(), dtype=np.int64).reshape(AT, n_m)
        fp_cum = np.cumsum(fp_b.ravel(), dtype=np.int64).reshape(AT, n_m)
        tp_pad = np.zeros((AT, n_m + 1), np.int64)
        tp_pad[:, 1:] = tp_cum
        fp_pad = np.zeros((AT, n_m + 1), np.int64)
        fp_pad[:, 1:] = fp_cum
        if n_m:
            tp_pad[1:, 0] = tp_cum[:-1, -1]
            fp_pad[1:, 0] = fp_cum[:-1, -1]
        tp_before = tp_pad[:, c_lo]  # (AT, K)
        fp_before = fp_pad[:, c_lo]
        tp_total = tp_pad[:, c_hi] - tp_before
        tp_cum -= np.repeat(tp_before, nd_k, axis=1)  # now per-category running counts
        fp_cum -= np.repeat(fp_before, nd_k, axis=1)
        pr = tp_cum.astype(np.float64)
        den = fp_cum.astype(np.float64)
        den += pr
        den += np.spacing(1)
        pr /= den  # tp / (fp + tp + eps), as pycocotools
        del den
        env = pr  # precision envelope: running max from the end of each category, in place
        for k in np.flatnonzero(nd_k):
            lo, hi = int(c_lo[k]), int(c_hi[k])
            seg = env[:, lo:hi][:, ::-1]
            np.maximum.accumulate(seg, axis=1, out=seg)
        tp_total = tp_total.T  # (K, AT)
        # recall: final tp / npig; 0 when the category has no detections
        rec = np.where(valid_cell, tp_total / np.maximum(npig_col, 1), -1.0)
        # the first detection with tp >= c is the c-th true positive of that row within the category
        nz_row, nz_col = np.nonzero(tp_b)  # ordered by row (A*T), then detection
        row_start = np.concatenate([[0], np.cumsum(np.bincount(nz_row, minlength=AT))])[:-1]
        first_tp = row_start[None, :] + (tp_before.T - tp_pad[:, 0][None, :])  # (K, AT) index into nz_col
        has_tp = (c >= 1) & (c <= tp_total[:, :, None])
        if len(nz_col):
            at = np.where(has_tp, nz_col[np.clip(first_tp[:, :, None] + c - 1, 0, len(nz_col) - 1)], 0)
        else:
            at = np.zeros(c.shape, dtype=np.int64)
        at = np.where(c == 0, c_lo[:, None, None], at)
        found = (has_tp | (c == 0)) & (nd_k[:, None, None] > 0)
        if n_m:
            at = np.where(found, at, 0)
            q = np.where(found, env[rows_at[None, :, None], at], 0.0)
            sv = np.where(found, sc[at], 0.0)
        else:
            q = np.zeros(found.shape)
            sv = np.zeros(found.shape)
        q = np.where(valid_cell[:, :, None], q, -1.0)
        sv = np.where(valid_cell[:, :, None], sv, -1.0)
        # (K, A*T, R) -> (T, R, K, A)
        precision[..., m] = q.reshape(K, A, T, R).transpose(2, 3, 0, 1)
        scores[..., m] = sv.reshape(K, A, T, R).transpose(2, 3, 0, 1)
        recall[..., m] = rec.reshape(K, A, T).transpose(2, 0, 1)

    stats = _summarize(precision, recall, area_labels, mdets)
    # the "all"-area, largest-max_dets view kept for curves and thresholds
    a_all = area_labels.index("all") if "all" in area_labels else 0
    return EvalResult(
        image_ids=img_ids,
        category_ids=cat_ids,
        area_labels=area_labels,
        area_ranges=a_rng,
        max_dets=mdets,
        precision=precision,
        recall=recall,
        scores=scores,
        stats=stats,
        det_category_pos=d_cat[acc],
        det_score=d_score[acc],
        det_tp=tps[a_all][:, acc],
        det_ignored=d_ig[a_all][:, acc],
        num_gt=npig[:, a_all].copy(),
    )


def _segm_pairs(
    dt_segm: list[Any] | None,
    gt_segm: list[Any] | None,
    d_idx: np.ndarray,
    d_group: np.ndarray,
    g_order: np.ndarray,
    g_group: np.ndarray,
    pair_start: np.ndarray,
    g_crowd: np.ndarray,
    n_pairs: int,
) -> np.ndarray:
    """Mask IoU of every (detection, ground truth) pair: one pycocotools ``iou`` call per group."""
    out = np.zeros(n_pairs, dtype=np.float64)
    if n_pairs == 0:
        return out
    if dt_segm is None or gt_segm is None:
        raise ValueError("iou_type='segm' needs segmentations on both sides")
    from pycocotools import mask as mask_utils

    d_bounds = np.r_[0, np.flatnonzero(np.diff(d_group)) + 1, len(d_group)]
    for lo, hi in itertools.pairwise(d_bounds):
        grp = d_group[lo]
        g_lo, g_hi = np.searchsorted(g_group, [grp, grp + 1])
        if g_lo == g_hi:
            continue
        d_rles = [dt_segm[int(i)] for i in d_idx[lo:hi]]
        g_rles = [gt_segm[int(i)] for i in g_order[g_lo:g_hi]]
        iou = np.asarray(mask_utils.iou(d_rles, g_rles, [int(c) for c in g_crowd[g_lo:g_hi]]), dtype=np.float64)
        where = pair_start[lo:hi, None] + np.arange(g_hi - g_lo)[None, :]
        out[where] = iou.reshape(hi - lo, g_hi - g_lo)
    return out


def _summarize(precision: np.ndarray, recall: np.ndarray, area_labels: list[str], mdets: tuple[int, ...]) -> np.ndarray:
    """COCOeval.summarize's 12 numbers (pycocotools order), -1 where undefined."""

    def mean(ap: bool, iou: float | None = None, area: str = "all", md: int = 100) -> float:
        if area not in area_labels or md not in mdets:
            return -1.0
        a, m = area_labels.index(area), mdets.index(md)
        s = precision if ap else recall
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        s = s[..., a, m]
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    big = mdets[2] if len(mdets) > 2 else mdets[-1]
    return np.array(
        [
            mean(True),  # pycocotools' stats[0] always asks for maxDets=100
            mean(True, 0.5, md=big),
            mean(True, 0.75, md=big),
            mean(True, area="small", md=big),
            mean(True, area="medium", md=big),
            mean(True, area="large", md=big),
            mean(False, md=mdets[0]),
            mean(False, md=mdets[1] if len(mdets) > 1 else mdets[-1]),
            mean(False, md=big),
            mean(False, area="small", md=big),
            mean(False, area="medium", md=big),
            mean(False, area="large", md=big),
        ]
    )
