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

from typing import Any, Literal

import numpy as np

from detectkit._checks import as_boxes, as_vector, check_choice, check_fraction
from detectkit.errors import InvalidInputError

__all__ = [
    "batched_nms",
    "nms",
]

Backend = Literal["auto", "torchvision", "numpy"]
_BACKENDS = ("auto", "torchvision", "numpy")
_BLOCK_ELEMENTS = 1 << 20  # pairwise work is done in blocks of about this many pairs


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
def _pair_metric(a: np.ndarray, b: np.ndarray, metric: str, dtype: np.dtype[Any]) -> np.ndarray:
    """Metric between row boxes ``a`` (R, 4) and column boxes ``b`` (C, 4) as (R, C), torchvision's formula."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    zero = dtype.type(0)
    inter = np.maximum(ix2 - ix1, zero) * np.maximum(iy2 - iy1, zero)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    if metric == "iou":
        denom = area_a[:, None] + area_b[None, :] - inter
    else:  # "ios": intersection over the smaller box
        denom = np.minimum(area_a[:, None], area_b[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = inter / denom
    out[~(denom > 0)] = 0  # zero-area boxes overlap nothing
    return out


def _overlap_pairs(
    boxes: np.ndarray,
    class_ids: np.ndarray | None,
    threshold: float,
    *,
    metric: str = "iou",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``(u, v)``, ``u < v``, of the same class whose metric exceeds ``threshold``.

    Works block by block on boxes sorted by class then ``x1``: a row block only meets the
    columns whose ``x1`` lies left of the block's largest ``x2``, so the work is close to
    the number of x-overlapping pairs and memory stays at one block (never ``N x N``).

    Returns:
        ``(u, v, value)``: int64, int64 and the metric in ``boxes.dtype``.
    """
    n = len(boxes)
    dtype = boxes.dtype
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    if n < 2:
        e = np.zeros(0, np.int64)
        return e, e.copy(), np.zeros(0, dtype)
    if class_ids is None:
        order = np.argsort(boxes[:, 0], kind="stable")
        starts = np.array([0, n])
    else:
        order = np.lexsort((boxes[:, 0], class_ids))
        cs = class_ids[order]
        starts = np.concatenate([[0], np.flatnonzero(cs[1:] != cs[:-1]) + 1, [n]])
    sb = boxes[order]
    for g0, g1 in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        k = g1 - g0
        if k < 2:
            continue
        gb = sb[g0:g1]
        x1 = gb[:, 0]
        # running max of x2 lets a row block know how far right its boxes reach
        rows = max(16, min(k, _BLOCK_ELEMENTS // k))
        for r0 in range(0, k, rows):
            r1 = min(k, r0 + rows)
            reach = gb[r0:r1, 2].max()
            c1 = int(np.searchsorted(x1, reach, side="right"))
            if c1 <= r0 + 1:
                continue
            m = _pair_metric(gb[r0:r1], gb[r0:c1], metric, dtype)
            ri, ci = np.nonzero(m > threshold)
            ri = ri + r0
            ci = ci + r0
            upper = ci > ri
            if not upper.all():
                m_vals = m[ri[upper] - r0, ci[upper] - r0]
                ri, ci = ri[upper], ci[upper]
            else:
                m_vals = m[ri - r0, ci - r0]
            if len(ri):
                us.append(order[g0 + ri])
                vs.append(order[g0 + ci])
                vals.append(m_vals)
    if not us:
        e = np.zeros(0, np.int64)
        return e, e.copy(), np.zeros(0, dtype)
    u = np.concatenate(us)
    v = np.concatenate(vs)
    val = np.concatenate(vals)
    swap = u > v
    u2 = np.where(swap, v, u)
    v2 = np.where(swap, u, v)
    return u2, v2, val


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
    s = s.astype(b.dtype, copy=False)
    keep = ops.nms(torch.from_numpy(b), torch.from_numpy(s), thr).numpy()
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
    s = s.astype(b.dtype, copy=False)
    keep = ops.batched_nms(torch.from_numpy(b), torch.from_numpy(s), torch.from_numpy(c), thr).numpy()
    return _sorted_keep(keep, s)
