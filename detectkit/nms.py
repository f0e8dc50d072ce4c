"""Suppression and merging of overlapping boxes: NMS, batched NMS, soft-NMS, WBF and NMM.

Every function takes separate arrays (absolute-pixel ``xyxy`` boxes, scores, class ids),
never a packed ``(N, 6)`` matrix, validates them, never changes them, and returns new
arrays. Empty input gives empty output.

Ordering and ties
    Results are sorted by descending score; **equal scores keep the lower input index
    first**. The greedy algorithms visit boxes in that order, so of two equal-score boxes
    that overlap, the one with the lower index is kept. ``torchvision.ops.nms`` sorts
    stably on the CPU and agrees (checked in the tests).

Backends
    :func:`nms` and :func:`batched_nms` call torchvision's C++ kernels when torchvision is
    importable (imported on first call, never at module import) and fall back to a
    vectorised numpy implementation otherwise (``backend="numpy"`` forces it). Both give
    the same keep set. The other functions are numpy only: they find the overlapping
    pairs block by block (no dense ``N x N`` matrix) and then resolve the greedy order in
    a few vectorised rounds instead of one Python step per box.

>>> import numpy as np
>>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
>>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
>>> nms(boxes, scores, 0.5).tolist()
[0, 2]
>>> batched_nms(boxes, scores, [0, 1, 1], 0.5).tolist()
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from detectkit._checks import as_boxes, as_vector, check_choice, check_fraction, check_image_size_wh
from detectkit.errors import InvalidInputError

__all__ = [
    "MergeResult",
    "batched_nms",
    "nms",
    "non_max_merge",
    "soft_nms",
    "weighted_boxes_fusion",
    "weighted_boxes_fusion_multi",
]

Backend = Literal["auto", "torchvision", "numpy"]
_BACKENDS = ("auto", "torchvision", "numpy")
_CHUNK_PAIRS = 1 << 17  # candidate pairs are tested in chunks of about this many


# ---------------------------------------------------------------------------- validation
def _float_dtype(value: Any) -> np.dtype[Any]:
    """float32 stays float32 (as torchvision would compute); everything else becomes float64."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and str(dtype) in ("float32", "torch.float32"):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _check_inputs(
    boxes: Any, scores: Any, class_ids: Any = None, *, keep_dtype: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    dtype = _float_dtype(boxes) if keep_dtype else np.dtype(np.float64)
    b = as_boxes(boxes, "boxes", dtype=dtype)
    s = as_vector(scores, "scores", length=len(b), dtype=_float_dtype(scores) if keep_dtype else np.float64)
    c = None if class_ids is None else as_vector(class_ids, "class_ids", length=len(b), dtype=np.int64)
    return b, s, c


def _check_iou_threshold(value: Any, name: str = "iou_threshold") -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a number in [0, 1], got {value!r}")
    return check_fraction(value, name)


def _score_order(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, ties by ascending index (a stable sort of ``-scores``)."""
    return np.argsort(-scores, kind="stable")


# ---------------------------------------------------------------------------- pair finding
def _pair_values(
    boxes: np.ndarray, area: np.ndarray, u: np.ndarray, v: np.ndarray, inter: np.ndarray, metric: str
) -> np.ndarray:
    """IoU (torchvision's formula) or intersection over the smaller area, for pairs ``(u, v)``."""
    denom = area[u] + area[v] - inter if metric == "iou" else np.minimum(area[u], area[v])  # else "ios"
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = inter / denom
    out[~(denom > 0)] = 0  # zero-area boxes overlap nothing
    return out


def _sorted_key(boxes: np.ndarray, class_ids: np.ndarray | None, span: float) -> tuple[np.ndarray, np.ndarray]:
    """Order by (class, x1) and the matching float64 sort key ``dense_class * span + x1``."""
    if class_ids is None:
        order = np.argsort(boxes[:, 0], kind="stable")
        rank = np.zeros(len(boxes))
    else:
        order = np.lexsort((boxes[:, 0], class_ids))
        cs = class_ids[order]
        rank = np.cumsum(np.concatenate([[0], cs[1:] != cs[:-1]])).astype(np.float64)
    return order, rank


def _candidate_chunks(start: np.ndarray, stop: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(rows, cols)`` for every ``rows[i]``, ``cols in range(start[i], stop[i])``, in bounded chunks."""
    count = np.maximum(stop - start, 0)
    csum = np.cumsum(count)
    total = int(csum[-1]) if len(csum) else 0
    r0 = 0
    n = len(count)
    while r0 < n and total:
        done = int(csum[r0 - 1]) if r0 else 0
        r1 = int(np.searchsorted(csum, done + _CHUNK_PAIRS, side="right"))
        r1 = max(r1, r0 + 1)
        cnt = count[r0:r1]
        k = int(cnt.sum())
        if k:
            rows = np.repeat(np.arange(r0, r1), cnt)
            offs = np.arange(k) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            yield rows, start[rows] + offs
        r0 = r1


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    out: np.ndarray = np.where((iw > 0) & (ih > 0), iw * ih, 0)
    return out.astype(a.dtype, copy=False)


def _overlap_pairs(
    boxes: np.ndarray,
    class_ids: np.ndarray | None,
    threshold: float,
    *,
    metric: str = "iou",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``(u, v)``, ``u < v``, of the same class whose metric exceeds ``threshold``.

    A sweep: boxes sorted by class then ``x1``; box ``i`` meets only the following boxes
    of its class whose ``x1`` is at most its ``x2`` (found with one ``searchsorted``), or
    for IoU at most ``x2 - threshold * width`` (IoU <= x-overlap / width).
    Those candidates are generated and tested in chunks of ``_CHUNK_PAIRS``, so the work is
    the number of x-overlapping pairs and memory is bounded, never ``N x N``.

    Returns:
        ``(u, v, value)``: int64, int64 and the metric in ``boxes.dtype``.
    """
    n = len(boxes)
    dtype = boxes.dtype
    e = np.zeros(0, np.int64)
    if n < 2:
        return e, e.copy(), np.zeros(0, dtype)
    span = float(np.abs(boxes).max()) * 4 + 4
    order, rank = _sorted_key(boxes, class_ids, span)
    sb = np.ascontiguousarray(boxes[order])
    key = rank * span + sb[:, 0].astype(np.float64)
    # IoU <= iw / max(w_i, w_j), so IoU > t needs an x-overlap iw > t * w_i: a shorter reach
    shrink = threshold * (sb[:, 2] - sb[:, 0]).astype(np.float64) if metric == "iou" else 0.0
    reach = rank * span + sb[:, 2].astype(np.float64) - shrink + span * 1e-6  # slack for rounding
    group_end = np.searchsorted(rank, rank, side="right")
    stop = np.minimum(np.searchsorted(key, reach, side="right"), group_end)
    area = (sb[:, 2] - sb[:, 0]) * (sb[:, 3] - sb[:, 1])
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    x1, y1, x2, y2 = (np.ascontiguousarray(sb[:, i]) for i in range(4))
    zero = dtype.type(0)
    for rows, cols in _candidate_chunks(np.arange(1, n + 1), stop):
        # candidates overlap in x by construction; test y first (cheap 1-D gathers), then x
        ih = np.minimum(y2[rows], y2[cols]) - np.maximum(y1[rows], y1[cols])
        hit = ih > zero
        rows, cols, ih = rows[hit], cols[hit], ih[hit]
        iw = np.minimum(x2[rows], x2[cols]) - np.maximum(x1[rows], x1[cols])
        hit = iw > zero
        rows, cols = rows[hit], cols[hit]
        inter = iw[hit] * ih[hit]
        val = _pair_values(sb, area, rows, cols, inter, metric)
        ok = val > threshold
        us.append(rows[ok])
        vs.append(cols[ok])
        vals.append(val[ok])
    if not us:
        return e, e.copy(), np.zeros(0, dtype)
    u, v = order[np.concatenate(us)], order[np.concatenate(vs)]
    return np.minimum(u, v), np.maximum(u, v), np.concatenate(vals)


def _cross_pairs(a: np.ndarray, a_cls: np.ndarray, b: np.ndarray, b_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of same-class boxes ``a[i]``, ``b[j]`` with a positive intersection (a sweep, chunked)."""
    e = np.zeros(0, np.int64)
    if not len(a) or not len(b):
        return e, e.copy()
    span = float(max(np.abs(a).max(), np.abs(b).max())) * 4 + 4
    _, dense = np.unique(np.concatenate([a_cls, b_cls]), return_inverse=True)
    ra, rb = dense[: len(a)].astype(np.float64), dense[len(a) :].astype(np.float64)
    order = np.lexsort((b[:, 0], rb))
    sb = b[order]
    key = rb[order] * span + sb[:, 0]
    max_w = float((b[:, 2] - b[:, 0]).max())
    lo = np.searchsorted(key, ra * span + a[:, 0] - max_w - span * 1e-6, side="left")
    hi = np.searchsorted(key, ra * span + a[:, 2] + span * 1e-6, side="right")
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for rows, cols in _candidate_chunks(lo, hi):
        same = rb[order[cols]] == ra[rows]
        rows, cols = rows[same], cols[same]
        hit = _intersections(a[rows], sb[cols]) > 0
        ii.append(rows[hit])
        jj.append(order[cols[hit]])
    if not ii:
        return e, e.copy()
    return np.concatenate(ii), np.concatenate(jj)


def _greedy_suppress(rank: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Greedy NMS on a conflict graph: a boolean keep mask.

    ``rank[i]`` is box ``i``'s position in the visiting order (0 = first) and ``(u, v)``
    the pairs that suppress each other. Sequential greedy NMS keeps a box iff no kept box
    before it conflicts with it. Each round keeps every undecided box that comes before
    all its undecided neighbours (it would be kept by the sequential algorithm, since
    only earlier neighbours can remove it) and drops their neighbours, so the result is
    identical while the number of rounds is the longest chain of overlapping boxes.
    """
    n = len(rank)
    keep = np.zeros(n, dtype=bool)
    undecided = np.ones(n, dtype=bool)
    while True:
        if len(u):
            later = np.where(rank[u] < rank[v], v, u)  # the endpoint that comes later loses the round
            blocked = np.zeros(n, dtype=bool)
            blocked[later] = True
            winners = undecided & ~blocked
        else:
            winners = undecided
        keep |= winners
        undecided &= ~winners
        if not len(u):
            break
        wu, wv = winners[u], winners[v]
        dropped = np.concatenate([v[wu], u[wv]])
        undecided[dropped] = False
        live = undecided[u] & undecided[v]
        u, v = u[live], v[live]
        if not undecided.any():
            break
    return keep


def _numpy_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None, iou_threshold: float) -> np.ndarray:
    order = _score_order(scores)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    u, v, _ = _overlap_pairs(boxes, class_ids, iou_threshold)
    keep = _greedy_suppress(rank, u, v)
    kept: np.ndarray = order[keep[order]]
    return kept


def _torchvision() -> Any:
    try:
        import torch
        import torchvision.ops
    except ImportError:  # pragma: no cover - torchvision is a declared dependency
        return None
    return torch, torchvision.ops


def _resolve_backend(backend: str) -> Any:
    check_choice(backend, "backend", _BACKENDS)
    if backend == "numpy":
        return None
    tv = _torchvision()
    if tv is None and backend == "torchvision":  # pragma: no cover
        from detectkit.errors import MissingDependencyError

        raise MissingDependencyError("torchvision", extra="torch", purpose="backend='torchvision'")
    return tv


def _scores_as(scores: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Scores in the boxes' dtype (torchvision needs one dtype) without changing their order.

    Casting float64 scores to float32 could turn distinct scores into ties; then their dense
    ranks (exact in float32 below 2**24 boxes) are passed instead.
    """
    if scores.dtype == dtype:
        return scores
    cast = scores.astype(dtype)
    if len(np.unique(cast)) == len(np.unique(scores)) or len(scores) >= 1 << 24:
        return cast
    return np.unique(scores, return_inverse=True)[1].astype(dtype)


def _sorted_keep(keep: np.ndarray, scores: np.ndarray) -> np.ndarray:
    keep = np.sort(keep.astype(np.int64, copy=False))
    return keep[np.argsort(-scores[keep], kind="stable")]


# ---------------------------------------------------------------------------- NMS
def nms(boxes: Any, scores: Any, iou_threshold: float = 0.5, *, backend: Backend | str = "auto") -> np.ndarray:
    """Greedy non-maximum suppression, class-agnostic.

    Boxes are visited by descending score; a box is dropped when its IoU with an already
    kept box is **greater than** ``iou_threshold``. Equal scores: the lower index first.

    Args:
        boxes: ``(N, 4)`` absolute xyxy boxes (float32 inputs are compared in float32,
            like torchvision; anything else in float64).
        scores: ``(N,)`` scores.
        iou_threshold: in ``[0, 1]``.
        backend: ``"auto"`` (torchvision's C++ kernel when importable, else numpy),
            ``"torchvision"`` or ``"numpy"``.

    Returns:
        int64 ``(K,)`` indices of the kept boxes, by descending score.

    Raises:
        InvalidInputError: wrong shapes or lengths, non-finite values, ``x2 < x1``, a
            threshold outside ``[0, 1]`` or an unknown backend.

    >>> nms([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]], [0.5, 0.9, 0.1], 0.5).tolist()
    [1, 2]
    >>> nms([[0, 0, 10, 10], [0, 0, 10, 10]], [0.7, 0.7], 0.5).tolist()  # tie: lower index kept
    [0]
    """
    b, s, _ = _check_inputs(boxes, scores, keep_dtype=True)
    thr = _check_iou_threshold(iou_threshold)
    tv = _resolve_backend(backend)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    if tv is None:
        return _numpy_nms(b, s, None, thr)
    torch, ops = tv
    keep = ops.nms(torch.from_numpy(b), torch.from_numpy(_scores_as(s, b.dtype)), thr).numpy()
    return _sorted_keep(keep, s)


def batched_nms(
    boxes: Any,
    scores: Any,
    class_ids: Any,
    iou_threshold: float = 0.5,
    *,
    class_agnostic: bool = False,
    backend: Backend | str = "auto",
) -> np.ndarray:
    """Non-maximum suppression per class: boxes of different classes never suppress each other.

    Same keep set as ``torchvision.ops.batched_nms`` (which it calls when available).

    Args:
        boxes: ``(N, 4)`` absolute xyxy boxes.
        scores: ``(N,)`` scores.
        class_ids: ``(N,)`` integer class ids.
        iou_threshold: in ``[0, 1]``; a box is dropped when its IoU with a kept box of its
            class is greater than this.
        class_agnostic: ignore the classes (same as :func:`nms`).
        backend: ``"auto"``, ``"torchvision"`` or ``"numpy"``.

    Returns:
        int64 ``(K,)`` indices of the kept boxes by descending score (ties: lower index first).

    >>> batched_nms([[0, 0, 10, 10], [0, 0, 10, 9]], [0.5, 0.9], [0, 1], 0.5).tolist()
    [1, 0]
    >>> batched_nms([[0, 0, 10, 10], [0, 0, 10, 9]], [0.5, 0.9], [0, 1], 0.5, class_agnostic=True).tolist()
    [1]
    """
    b, s, _ = _check_inputs(boxes, scores, keep_dtype=True)
    c = as_vector(class_ids, "class_ids", length=len(b), dtype=np.int64)
    thr = _check_iou_threshold(iou_threshold)
    tv = _resolve_backend(backend)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    if class_agnostic:
        return nms(b, s, thr, backend=backend)
    if tv is None:
        return _numpy_nms(b, s, c, thr)
    torch, ops = tv
    keep = ops.batched_nms(torch.from_numpy(b), torch.from_numpy(_scores_as(s, b.dtype)), torch.from_numpy(c), thr)
    return _sorted_keep(keep.numpy(), s)


# ---------------------------------------------------------------------------- soft-NMS
SoftNMSMethod = Literal["gaussian", "linear"]


def soft_nms(
    boxes: Any,
    scores: Any,
    class_ids: Any = None,
    *,
    iou_threshold: float = 0.5,
    sigma: float = 0.5,
    score_threshold: float = 0.001,
    method: SoftNMSMethod | str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al. 2017), per class: decay the scores of overlapping boxes instead of dropping them.

    Boxes are visited by descending *current* score; each visited box multiplies the score
    of every later box of its class by a weight: ``exp(-iou**2 / sigma)`` (``"gaussian"``,
    ``iou_threshold`` unused) or ``1 - iou`` where ``iou > iou_threshold`` (``"linear"``).
    Boxes whose final score is greater than ``score_threshold`` are kept. This is the
    algorithm of ``ensemble_boxes.soft_nms`` (``method=2`` gaussian, ``1`` linear) and gives
    the same kept boxes; IoU does not depend on the scale, so absolute pixel boxes give
    the same result as ensemble-boxes' normalised ones. Unlike ensemble-boxes, which
    returns the *original* scores of the kept boxes and silently drops zero-area boxes,
    this returns the decayed scores and treats zero-area boxes as overlapping nothing.

    Args:
        boxes: ``(N, 4)`` absolute xyxy boxes.
        scores: ``(N,)`` scores.
        class_ids: ``(N,)`` integer class ids, or ``None`` for one class.
        iou_threshold: ``"linear"`` only: overlaps at or below it do not decay.
        sigma: ``"gaussian"`` only: the width, > 0.
        score_threshold: keep boxes whose decayed score is above this.
        method: ``"gaussian"`` or ``"linear"``.

    Returns:
        ``(keep, new_scores)``: int64 ``(K,)`` indices and float64 ``(K,)`` decayed scores,
        by descending decayed score (ties: lower index first).

    >>> keep, new = soft_nms([[0, 0, 10, 10], [0, 0, 10, 8], [20, 20, 30, 30]], [0.9, 0.8, 0.7])
    >>> keep.tolist(), new.round(3).tolist()
    ([0, 2, 1], [0.9, 0.7, 0.222])
    """
    b, s, c = _check_inputs(boxes, scores, class_ids)
    check_choice(method, "method", ("gaussian", "linear"))
    thr = _check_iou_threshold(iou_threshold)
    sig = _check_positive(sigma, "sigma")
    score_thr = _check_number(score_threshold, "score_threshold")
    n = len(b)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    gaussian = method == "gaussian"
    cur = s.copy()
    active = cur > score_thr
    u, v, iou = _overlap_pairs(b, c, 0.0 if gaussian else thr)
    live = active[u] & active[v]
    u, v, iou = u[live].astype(np.int32), v[live].astype(np.int32), iou[live]  # int32: less memory traffic
    if gaussian:
        cost = iou * iou / sig  # weight = exp(-cost); products become sums of costs
    else:
        with np.errstate(divide="ignore"):
            cost = -np.log1p(-iou)  # weight = 1 - iou
    if len(u):  # small connected groups: sequential soft-NMS on dense per-group matrices
        comp = _components(n, u, v)
        small_pair = (np.bincount(comp) <= _DENSE_MAX)[comp[u]]
        if small_pair.any():
            done_nodes = _soft_nms_dense(cur, comp, u[small_pair], v[small_pair], cost[small_pair])
            active[done_nodes] = False
            u, v, cost = u[~small_pair], v[~small_pair], cost[~small_pair]
    blocked = np.zeros(n, dtype=bool)
    while active.any():
        # a box is visited before all its active neighbours if its score is the highest
        # among them (ties: lower index, and u < v always)
        later = np.where(cur[u] >= cur[v], v, u)
        blocked[:] = False
        blocked[later] = True
        winners = active & ~blocked
        active &= ~winners
        wu, wv = winners[u], winners[v]
        done = wu | wv
        target = np.concatenate([v[wu], u[wv]])
        if len(target):
            total = np.bincount(target, weights=np.concatenate([cost[wu], cost[wv]]), minlength=n)
            hit = total > 0
            cur[hit] *= np.exp(-total[hit])
            dropped = hit & ~(cur > score_thr)
            if dropped.any():
                active &= ~dropped
                done |= dropped[u] | dropped[v]
        live = ~done  # pairs with a visited or dropped endpoint are finished
        u, v, cost = u[live], v[live], cost[live]
    keep = np.flatnonzero(cur > score_thr)
    keep = keep[np.argsort(-cur[keep], kind="stable")]
    return keep.astype(np.int64), cur[keep]


_DENSE_MAX = 128  # soft-NMS groups up to this size run sequentially on dense matrices


def _soft_nms_dense(cur: np.ndarray, comp: np.ndarray, u: np.ndarray, v: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Soft-NMS inside small connected groups, all groups of similar size at once; updates ``cur``.

    Groups are padded to ``K`` (a power of two) and run the sequential algorithm for ``K``
    steps: each step visits every group's highest current score (ties: lowest index) and
    multiplies the group's unvisited scores by ``exp(-cost)`` from the dense ``(G, K, K)``
    cost matrix. Returns the nodes handled.
    """
    seen = np.zeros(len(cur), dtype=bool)
    seen[u] = True
    seen[v] = True
    nodes = np.flatnonzero(seen)
    c_of = comp[nodes]
    o = np.argsort(c_of, kind="stable")  # by group, then index
    nodes, c_of = nodes[o], c_of[o]
    first = np.concatenate([[True], c_of[1:] != c_of[:-1]])
    c_start = np.flatnonzero(first)
    c_size = np.diff(np.append(c_start, len(nodes)))
    g_of = np.cumsum(first) - 1  # dense group id per node (in `nodes` order)
    pos = np.arange(len(nodes)) - c_start[g_of]
    where_node = np.empty(len(cur), np.int64)
    where_node[nodes] = np.arange(len(nodes))
    bucket = np.maximum(2, 1 << np.ceil(np.log2(np.maximum(c_size, 2))).astype(np.int64))
    pair_g = g_of[where_node[u]]
    for k in np.unique(bucket).tolist():
        groups = np.flatnonzero(bucket == k)
        local = np.full(len(c_size), -1, np.int64)
        local[groups] = np.arange(len(groups))
        sel = local[g_of] >= 0
        sn, sl, sp = nodes[sel], local[g_of[sel]], pos[sel]
        score = np.full((len(groups), k), -np.inf)
        score[sl, sp] = cur[sn]
        mat = np.zeros((len(groups), k, k))
        ps = local[pair_g] >= 0
        pl, pu, pv = local[pair_g[ps]], pos[where_node[u[ps]]], pos[where_node[v[ps]]]
        mat[pl, pu, pv] = cost[ps]
        mat[pl, pv, pu] = cost[ps]
        done = np.isneginf(score)
        rows = np.arange(len(groups))
        weight = np.exp(-mat)
        todo = ~done
        for _ in range(int(c_size[groups].max())):
            j = np.where(done, -np.inf, score).argmax(axis=1)
            done[rows, j] = True
            todo[rows, j] = False
            np.multiply(score, weight[rows, j], out=score, where=todo)
        cur[sn] = score[sl, sp]
    return nodes


def _check_number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    return number


def _check_positive(value: Any, name: str) -> float:
    number = _check_number(value, name)
    if number <= 0:
        raise InvalidInputError(f"{name} must be > 0, got {value!r}")
    return number


# ---------------------------------------------------------------------------- WBF
ConfType = Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"]
_CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")


def _components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components of the graph ``(u, v)`` on ``n`` nodes: dense int64 labels."""
    label = np.arange(n)
    while len(u):
        lu, lv = label[u], label[v]
        if (lu == lv).all():
            break
        low = np.minimum(lu, lv)
        np.minimum.at(label, lu, low)  # hook roots onto the smaller label
        np.minimum.at(label, lv, low)
        while True:  # pointer jumping: label[x] <= x and stays inside x's component
            jumped = label[label]
            if (jumped == label).all():
                break
            label = jumped
    is_root = label == np.arange(n)  # after convergence every label is its component's smallest node
    dense: np.ndarray = (np.cumsum(is_root) - 1)[label]
    return dense.astype(np.int64)


def _independent_groups(boxes: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """Group ids such that boxes of different groups can never end up in one WBF cluster.

    Boxes of one class that intersect are grouped, then groups whose bounding hulls
    intersect are merged until no two hulls of one class intersect. A fused box is a
    weighted average of its members, so it lies inside its group's hull, and a box of
    another group has IoU 0 with it: groups can be fused independently (in parallel).
    """
    n = len(boxes)
    u, v, _ = _overlap_pairs(boxes, class_ids, 0.0)
    gid = _components(n, u, v)
    while True:
        g = int(gid.max()) + 1
        hull = np.empty((g, 4))
        hull[:, :2] = np.inf
        hull[:, 2:] = -np.inf
        np.minimum.at(hull[:, 0], gid, boxes[:, 0])
        np.minimum.at(hull[:, 1], gid, boxes[:, 1])
        np.maximum.at(hull[:, 2], gid, boxes[:, 2])
        np.maximum.at(hull[:, 3], gid, boxes[:, 3])
        hull_cls = np.empty(g, np.int64)
        hull_cls[gid] = class_ids
        hu, hv, _ = _overlap_pairs(hull, hull_cls, 0.0)
        if not len(hu):
            return gid
        gid = _components(g, hu, hv)[gid]


class _Fused(NamedTuple):
    box: np.ndarray
    sum_ws: np.ndarray
    sum_w: np.ndarray
    n_members: np.ndarray
    max_ws: np.ndarray
    cls: np.ndarray
    models: np.ndarray
    member: np.ndarray  # (M,) cluster of each input box


def _wbf_rounds(
    box: np.ndarray,
    ws: np.ndarray,
    wgt: np.ndarray,
    model: np.ndarray,
    cls: np.ndarray,
    gid: np.ndarray,
    thr: float,
    t_models: int,
) -> _Fused:
    """Sequential WBF inside each group, all groups at once: round ``r`` visits the r-th box of every group."""
    m = len(box)
    order = np.lexsort((np.arange(m), -ws, gid))
    g_count = np.bincount(gid)
    g_start = np.concatenate([[0], np.cumsum(g_count)[:-1]])
    n_groups = len(g_count)

    cl_box = np.empty((m, 4))
    cl_sum_box = np.empty((m, 4))
    cl_sum_ws = np.empty(m)
    cl_sum_w = np.empty(m)
    cl_count = np.empty(m, np.int64)
    cl_max = np.empty(m)
    cl_group = np.empty(m, np.int64)
    cl_cls = np.empty(m, np.int64)
    cl_models = np.zeros((m, t_models), dtype=bool)
    member = np.empty(m, np.int64)
    nc = 0
    current = np.full(n_groups, -1, np.int64)
    active = np.arange(n_groups)
    for r in range(int(g_count.max())):
        active = active[g_count[active] > r]
        j = order[g_start[active] + r]
        current[:] = -1
        current[active] = j
        match = np.full(n_groups, -1, np.int64)
        if nc:
            cidx = np.flatnonzero(current[cl_group[:nc]] >= 0)
            if len(cidx):
                cg = cl_group[cidx]
                bj = box[current[cg]]
                fb = cl_box[cidx]
                iw = np.maximum(np.minimum(fb[:, 2], bj[:, 2]) - np.maximum(fb[:, 0], bj[:, 0]), 0)
                ih = np.maximum(np.minimum(fb[:, 3], bj[:, 3]) - np.maximum(fb[:, 1], bj[:, 1]), 0)
                inter = iw * ih
                union = (bj[:, 2] - bj[:, 0]) * (bj[:, 3] - bj[:, 1]) + (fb[:, 2] - fb[:, 0]) * (fb[:, 3] - fb[:, 1])
                iou = inter / (union - inter)
                best = np.full(n_groups, -1.0)
                np.maximum.at(best, cg, iou)
                cand = (iou == best[cg]) & (iou > thr)
                first = np.full(n_groups, m, np.int64)
                np.minimum.at(first, cg[cand], cidx[cand])  # np.argmax: the earliest cluster wins ties
                match[first < m] = first[first < m]
        ga = match[active]
        joined = ga >= 0
        if joined.any():
            k = ga[joined]
            jj = j[joined]
            cl_sum_box[k] += ws[jj, None] * box[jj]
            cl_sum_ws[k] += ws[jj]
            cl_sum_w[k] += wgt[jj]
            cl_count[k] += 1
            cl_max[k] = np.maximum(cl_max[k], ws[jj])
            cl_models[k, model[jj]] = True
            cl_box[k] = cl_sum_box[k] / cl_sum_ws[k, None]
            member[jj] = k
        fresh = j[~joined]
        if len(fresh):
            k = np.arange(nc, nc + len(fresh))
            cl_box[k] = box[fresh]
            cl_sum_box[k] = ws[fresh, None] * box[fresh]
            cl_sum_ws[k] = ws[fresh]
            cl_sum_w[k] = wgt[fresh]
            cl_count[k] = 1
            cl_max[k] = ws[fresh]
            cl_group[k] = gid[fresh]
            cl_cls[k] = cls[fresh]
            cl_models[k, model[fresh]] = True
            member[fresh] = k
            nc += len(fresh)

    return _Fused(
        cl_box[:nc], cl_sum_ws[:nc], cl_sum_w[:nc], cl_count[:nc], cl_max[:nc], cl_cls[:nc], cl_models[:nc], member
    )


def _wbf_conflicts(
    box: np.ndarray, cls: np.ndarray, gid: np.ndarray, member: np.ndarray, thr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Group pairs ``(g1, g2)`` whose independence the fusion result does not prove.

    A cluster's fused box always lies inside the hull of its members and contains their
    kernel (``max x1, max y1, min x2, min y2``), at every step of the fusion. So box ``j``
    can have IoU above ``thr`` with a cluster of another group only if
    ``inter(j, hull) / max(area_j, area_kernel, area_j + area_kernel - inter(j, hull))``
    exceeds ``thr``; those (box group, cluster group) pairs are returned.
    """
    k = int(member.max()) + 1
    hull = np.empty((k, 4))
    hull[:, :2] = np.inf
    hull[:, 2:] = -np.inf
    kern = np.empty((k, 4))
    kern[:, :2] = -np.inf
    kern[:, 2:] = np.inf
    for col in (0, 1):
        np.minimum.at(hull[:, col], member, box[:, col])
        np.maximum.at(kern[:, col], member, box[:, col])
    for col in (2, 3):
        np.maximum.at(hull[:, col], member, box[:, col])
        np.minimum.at(kern[:, col], member, box[:, col])
    k_gid = np.empty(k, np.int64)
    k_gid[member] = gid
    k_cls = np.empty(k, np.int64)
    k_cls[member] = cls
    # a one-member cluster is its box; boxes with IoU above thr share a group by construction
    multi = np.flatnonzero(np.bincount(member, minlength=k) > 1)
    j, c = _cross_pairs(box, cls, hull[multi], k_cls[multi])
    c = multi[c]
    other = gid[j] != k_gid[c]
    j, c = j[other], c[other]
    if not len(j):
        e = np.zeros(0, np.int64)
        return e, e.copy()
    bj, hc, kc = box[j], hull[c], kern[c]
    inter = np.maximum(np.minimum(bj[:, 2], hc[:, 2]) - np.maximum(bj[:, 0], hc[:, 0]), 0) * np.maximum(
        np.minimum(bj[:, 3], hc[:, 3]) - np.maximum(bj[:, 1], hc[:, 1]), 0
    )
    a_j = (bj[:, 2] - bj[:, 0]) * (bj[:, 3] - bj[:, 1])
    a_k = np.maximum(kc[:, 2] - kc[:, 0], 0) * np.maximum(kc[:, 3] - kc[:, 1], 0)
    bound = inter / np.maximum(np.maximum(a_j, a_k), a_j + a_k - inter)
    bad = bound > thr * (1 - 1e-9)
    return gid[j[bad]], k_gid[c[bad]]


def weighted_boxes_fusion(
    boxes: Any,
    scores: Any,
    class_ids: Any = None,
    *,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
    conf_type: ConfType | str = "avg",
    allows_overflow: bool = False,
    image_size_wh: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted boxes fusion (Solovyev et al.) of one model's boxes; see :func:`weighted_boxes_fusion_multi`.

    >>> b, s, c = weighted_boxes_fusion([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.6, 0.5])
    >>> b.round(2).tolist(), s.round(2).tolist(), c.tolist()
    ([[0.4, 0.4, 10.4, 10.4], [50.0, 50.0, 60.0, 60.0]], [0.75, 0.5], [0, 0])
    """
    return weighted_boxes_fusion_multi(
        [boxes],
        [scores],
        None if class_ids is None else [class_ids],
        iou_threshold=iou_threshold,
        skip_box_threshold=skip_box_threshold,
        conf_type=conf_type,
        allows_overflow=allows_overflow,
        image_size_wh=image_size_wh,
    )


def weighted_boxes_fusion_multi(
    boxes_list: Sequence[Any],
    scores_list: Sequence[Any],
    class_ids_list: Sequence[Any] | None = None,
    *,
    weights: Any = None,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
    conf_type: ConfType | str = "avg",
    allows_overflow: bool = False,
    image_size_wh: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted boxes fusion of several models' predictions, per class.

    The algorithm of ``ensemble_boxes.weighted_boxes_fusion`` with the same output: boxes
    with ``score >= skip_box_threshold`` are visited by descending ``score * weight``;
    each joins the existing cluster of its class whose *fused* box has the highest IoU
    with it if that IoU is greater than ``iou_threshold``, else starts a new cluster. A
    cluster's fused box is the ``score * weight``-weighted mean of its members and its
    score is rescaled by ``conf_type`` exactly as ensemble-boxes does (``"avg"``: mean
    score times ``min(n_models, n_members) / sum(weights)``, or ``n_members /
    sum(weights)`` with ``allows_overflow``).

    Coordinates: absolute pixel boxes are fused directly (a weighted mean and IoU do not
    depend on the scale), so the result equals ensemble-boxes' on the boxes normalised
    by the image size. ensemble-boxes clips to ``[0, 1]``: pass ``image_size_wh`` to clip
    to the image the same way. Zero-area boxes are skipped, as in ensemble-boxes.
    Equal ``score * weight``: the earlier model, then the lower index, is visited first.

    Speed: groups of boxes that cannot interact are fused in parallel, one box per group per
    round, so typical detector output (many small groups) is fast; with a very low
    ``iou_threshold`` on dense scenes the groups grow and the speed approaches a plain
    sequential loop.

    Args:
        boxes_list: per model, ``(N_i, 4)`` absolute xyxy boxes.
        scores_list: per model, ``(N_i,)`` scores.
        class_ids_list: per model, ``(N_i,)`` class ids, or ``None`` for one class.
        weights: ``(n_models,)`` positive model weights, default all 1.
        iou_threshold: IoU with a fused box above which a box joins it.
        skip_box_threshold: boxes with a lower score are ignored.
        conf_type: ``"avg"``, ``"max"``, ``"box_and_model_avg"`` or ``"absent_model_aware_avg"``.
        allows_overflow: for ``"avg"``, let the score exceed 1 when a cluster has more
            members than there are models.
        image_size_wh: clip boxes to this image before fusing.

    Returns:
        ``(boxes, scores, class_ids)``: float64 ``(K, 4)`` fused boxes, float64 ``(K,)``
        scores and int64 ``(K,)`` class ids, by descending score.

    >>> b, s, c = weighted_boxes_fusion_multi(
    ...     [[[0, 0, 10, 10]], [[0, 0, 12, 12]]], [[0.8], [0.4]], weights=[2, 1])
    >>> b.round(3).tolist(), s.round(3).tolist()
    ([[0.0, 0.0, 10.4, 10.4]], [0.667])
    """
    if isinstance(boxes_list, np.ndarray) or not isinstance(boxes_list, Sequence) or isinstance(boxes_list, str):
        raise InvalidInputError(
            f"boxes_list must be a list of (N, 4) arrays, one per model, got {type(boxes_list).__name__}"
        )
    t_models = len(boxes_list)
    if t_models == 0:
        raise InvalidInputError("boxes_list must hold at least one model's boxes, got an empty list")
    if not isinstance(scores_list, Sequence) or isinstance(scores_list, str) or len(scores_list) != t_models:
        got = len(scores_list) if isinstance(scores_list, Sequence) else type(scores_list).__name__
        raise InvalidInputError(f"scores_list must be a list with one array per model ({t_models}), got {got}")
    if class_ids_list is not None and (
        not isinstance(class_ids_list, Sequence) or isinstance(class_ids_list, str) or len(class_ids_list) != t_models
    ):
        got = len(class_ids_list) if isinstance(class_ids_list, Sequence) else type(class_ids_list).__name__
        raise InvalidInputError(
            f"class_ids_list must be None or a list with one array per model ({t_models}), got {got}"
        )
    check_choice(conf_type, "conf_type", _CONF_TYPES)
    thr = _check_iou_threshold(iou_threshold)
    skip = _check_number(skip_box_threshold, "skip_box_threshold")
    if weights is None:
        w_models = np.ones(t_models)
    else:
        w_models = as_vector(weights, "weights", length=t_models, dtype=np.float64)
        if (w_models <= 0).any():
            raise InvalidInputError(f"weights must be positive, got {w_models.tolist()}")
    size = None if image_size_wh is None else check_image_size_wh(image_size_wh)

    parts_b, parts_s, parts_c, parts_m = [], [], [], []
    for t in range(t_models):
        b = as_boxes(boxes_list[t], f"boxes_list[{t}]")
        s = as_vector(scores_list[t], f"scores_list[{t}]", length=len(b))
        if class_ids_list is None or class_ids_list[t] is None:
            c = np.zeros(len(b), np.int64)
        else:
            c = as_vector(class_ids_list[t], f"class_ids_list[{t}]", length=len(b), dtype=np.int64)
        if size is not None:
            np.clip(b[:, 0::2], 0, size[0], out=b[:, 0::2])
            np.clip(b[:, 1::2], 0, size[1], out=b[:, 1::2])
        ok = (s >= skip) & ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) > 0)
        parts_b.append(b[ok])
        parts_s.append(s[ok])
        parts_c.append(c[ok])
        parts_m.append(np.full(int(ok.sum()), t, np.int64))
    box = np.concatenate(parts_b)
    cls = np.concatenate(parts_c)
    model = np.concatenate(parts_m)
    wgt = w_models[model]
    ws = np.concatenate(parts_s) * wgt
    m = len(box)
    if m == 0:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)

    # Fuse groups of boxes in parallel (one box per group per round), assuming boxes of
    # different groups never meet; check that assumption on the result and merge the
    # groups that broke it until it holds (the last resort, hull-closed groups, is exact).
    gid = _components(m, *_overlap_pairs(box, cls, thr)[:2])
    for attempt in range(4):
        fused = _wbf_rounds(box, ws, wgt, model, cls, gid, thr, t_models)
        if attempt == 3:
            gid = _independent_groups(box, cls)
            fused = _wbf_rounds(box, ws, wgt, model, cls, gid, thr, t_models)
            break
        bad_u, bad_v = _wbf_conflicts(box, cls, gid, fused.member, thr)
        if not len(bad_u):
            break
        gid = _components(int(gid.max()) + 1, bad_u, bad_v)[gid]
    cl_box, cl_sum_ws, cl_sum_w, cl_count, cl_max, cl_cls, cl_models = (
        fused.box,
        fused.sum_ws,
        fused.sum_w,
        fused.n_members,
        fused.max_ws,
        fused.cls,
        fused.models,
    )
    nc = len(cl_box)
    count = cl_count[:nc].astype(np.float64)
    conf = cl_sum_ws[:nc] / count
    w_sum = w_models.sum()
    if conf_type == "max":
        score = cl_max[:nc] / w_models.max()
    elif conf_type == "box_and_model_avg":
        score = conf * count / cl_sum_w[:nc] * (cl_models[:nc] @ w_models) / w_sum
    elif conf_type == "absent_model_aware_avg":
        score = conf * count / (cl_sum_w[:nc] + (~cl_models[:nc]) @ w_models)
    elif allows_overflow:
        score = conf * count / w_sum
    else:
        score = conf * np.minimum(t_models, count) / w_sum
    out = np.argsort(-score, kind="stable")
    return cl_box[:nc][out], score[out], cl_cls[:nc][out]


# ---------------------------------------------------------------------------- NMM
MatchMetric = Literal["iou", "ios"]
MergeMode = Literal["union", "weighted"]


class MergeResult(NamedTuple):
    """Output of :func:`non_max_merge`.

    Attributes:
        keep: int64 ``(K,)`` index of the box that leads each merged group (the group's
            highest score), by descending score.
        boxes: float64 ``(K, 4)`` merged boxes.
        scores: float64 ``(K,)`` the leaders' scores.
        group: int64 ``(N,)`` the output row each input box was merged into.
    """

    keep: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    group: np.ndarray


def non_max_merge(
    boxes: Any,
    scores: Any,
    class_ids: Any = None,
    *,
    iou_threshold: float = 0.5,
    match_metric: MatchMetric | str = "iou",
    merge: MergeMode | str = "union",
    class_agnostic: bool = False,
) -> MergeResult:
    """Non-maximum *merging* (NMM): like NMS, but suppressed boxes are merged into their suppressor.

    Used to stitch detections from overlapping tiles, where one object is cut into
    several partial boxes. Semantics, per class (unless ``class_agnostic``):

    1. Boxes are visited by descending score (ties: lower index first), exactly as
       greedy NMS does with ``match_metric`` instead of IoU: a box whose metric with an
       already kept box is greater than ``iou_threshold`` is not kept. The kept boxes
       are the *leaders* — the same set :func:`batched_nms` keeps when ``match_metric="iou"``.
    2. Each other box joins the group of the first (highest-scoring) leader that
       matches it — the one that suppressed it in step 1.
    3. A group's box is the enclosing box of its members (``merge="union"``) or the
       score-weighted mean of their coordinates (``"weighted"``); its score and class
       are the leader's.

    ``match_metric="ios"`` (intersection over the smaller box) suits tiles, where a cut
    box lies inside the full one and has a low IoU with it.

    Args:
        boxes: ``(N, 4)`` absolute xyxy boxes.
        scores: ``(N,)`` scores.
        class_ids: ``(N,)`` class ids, or ``None`` for one class.
        iou_threshold: merge when the metric is greater than this, in ``[0, 1]``.
        match_metric: ``"iou"`` or ``"ios"``.
        merge: ``"union"`` or ``"weighted"``.
        class_agnostic: merge across classes.

    Returns:
        A :class:`MergeResult` ``(keep, boxes, scores, group)``.

    >>> r = non_max_merge([[0, 0, 10, 10], [5, 0, 20, 10], [50, 50, 60, 60]], [0.9, 0.8, 0.7],
    ...                   iou_threshold=0.3, match_metric="ios")
    >>> r.keep.tolist(), r.boxes.tolist(), r.group.tolist()
    ([0, 2], [[0.0, 0.0, 20.0, 10.0], [50.0, 50.0, 60.0, 60.0]], [0, 0, 1])
    """
    b, s, c = _check_inputs(boxes, scores, class_ids)
    thr = _check_iou_threshold(iou_threshold)
    check_choice(match_metric, "match_metric", ("iou", "ios"))
    check_choice(merge, "merge", ("union", "weighted"))
    n = len(b)
    if n == 0:
        e = np.zeros(0, np.int64)
        return MergeResult(e, np.zeros((0, 4)), np.zeros(0), e.copy())
    order = _score_order(s)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    u, v, _ = _overlap_pairs(b, None if class_agnostic else c, thr, metric=match_metric)
    leader = _greedy_suppress(rank, u, v)
    # each follower joins the best-ranked leader that matches it (that leader comes first)
    lead_rank = np.where(leader, rank, n)
    for a, z in ((u, v), (v, u)):
        sel = leader[a] & ~leader[z] & (rank[a] < rank[z])
        np.minimum.at(lead_rank, z[sel], rank[a[sel]])
    head = order[lead_rank]  # the leader's index for every box
    keep = order[leader[order]]
    row = np.empty(n, np.int64)
    row[keep] = np.arange(len(keep))
    group = row[head]
    k = len(keep)
    if merge == "union":
        out = np.empty((k, 4))
        out[:, :2] = np.inf
        out[:, 2:] = -np.inf
        np.minimum.at(out[:, 0], group, b[:, 0])
        np.minimum.at(out[:, 1], group, b[:, 1])
        np.maximum.at(out[:, 2], group, b[:, 2])
        np.maximum.at(out[:, 3], group, b[:, 3])
    else:
        wsum = np.bincount(group, weights=s, minlength=k)
        out = np.stack([np.bincount(group, weights=s * b[:, i], minlength=k) for i in range(4)], axis=1)
        pos = wsum > 0
        out[pos] /= wsum[pos, None]
        out[~pos] = b[keep[~pos]]  # all-zero scores: keep the leader's box
    return MergeResult(keep.astype(np.int64), out, s[keep], group)
