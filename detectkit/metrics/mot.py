"""Multi-object tracking metrics: HOTA, CLEAR (MOTA, MOTP, ID switches) and Identity (IDF1).

Definitions and tie-breaking follow TrackEval (Luiten et al., the MOTChallenge reference):
the same per-frame IoU similarity, the same Hungarian assignments (scipy's
``linear_sum_assignment`` on the same score matrices) and the same accumulation, so the numbers
equal TrackEval's ``HOTA``/``CLEAR``/``Identity`` to floating-point precision (tests compare
them to 1e-6 on randomised sequences). HOTA is averaged over the 19 localisation thresholds
``alpha = 0.05, 0.10, ..., 0.95``; CLEAR and Identity match at IoU >= 0.5.

Inputs are one sequence of boxes with ids per frame, read from MOTChallenge text
(``frame,id,x,y,w,h,conf,...``; ground-truth rows whose 7th column is 0 are ignored, as
MOTChallenge marks boxes not to evaluate) or from our JSON lines (``detectkit detect --track
--out`` writes one record per frame: ``frame_index`` and ``detections.xyxy``/``tracker_id``).
Evaluation is class-agnostic (like MOTChallenge's single pedestrian class); MOT17's distractor
classes are not treated specially.

>>> gt = MotSequence.from_rows([[1, 1, 0, 0, 10, 10], [2, 1, 1, 0, 10, 10]])
>>> pred = MotSequence.from_rows([[1, 7, 0, 0, 10, 10], [2, 7, 0, 0, 10, 10]])
>>> m = evaluate_mot(gt, pred)
>>> round(m.hota, 4), m.mota, m.idf1, m.id_switches
(0.8947, 1.0, 1.0, 0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._atomic import write_atomic
from detectkit.errors import AnnotationParseError, InvalidInputError

__all__ = [
    "HOTA_ALPHAS",
    "MotMetrics",
    "MotSequence",
    "box_iou_matrix",
    "evaluate_mot",
    "load_mot",
    "save_mot",
    "sequence_from_tracks",
]

#: HOTA's localisation thresholds (TrackEval's ``np.arange(0.05, 0.99, 0.05)``).
HOTA_ALPHAS: np.ndarray = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


@dataclass(frozen=True)
class MotSequence:
    """Boxes with track ids over the frames of one sequence, as parallel arrays.

    Attributes:
        frame: int64 ``(N,)`` 1-based frame numbers.
        track_id: int64 ``(N,)`` ids (any integers; only equality matters).
        xyxy: float64 ``(N, 4)`` absolute-pixel boxes.
        confidence: float64 ``(N,)`` (1 when unknown).
        class_id: int64 ``(N,)`` (-1 when unknown).
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray = field(default=None)  # type: ignore[arg-type]
    class_id: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        s = object.__setattr__
        frame = np.asarray(self.frame, dtype=np.int64).reshape(-1)
        n = len(frame)
        s(self, "frame", frame)
        s(self, "track_id", np.asarray(self.track_id, dtype=np.int64).reshape(-1))
        s(self, "xyxy", np.asarray(self.xyxy, dtype=np.float64).reshape(-1, 4))
        conf = np.ones(n) if self.confidence is None else np.asarray(self.confidence, dtype=np.float64).reshape(-1)
        cls = np.full(n, -1, np.int64) if self.class_id is None else np.asarray(self.class_id, np.int64).reshape(-1)
        s(self, "confidence", conf)
        s(self, "class_id", cls)
        for name in ("track_id", "xyxy", "confidence", "class_id"):
            if len(getattr(self, name)) != n:
                raise InvalidInputError(f"{name} must have {n} rows (one per box), got {len(getattr(self, name))}")

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]] | np.ndarray) -> MotSequence:
        """From MOTChallenge rows ``frame, id, x, y, w, h[, conf, class, ...]`` (boxes as xywh).

        >>> len(MotSequence.from_rows([[1, 1, 0, 0, 10, 10]]))
        1
        """
        arr = np.asarray(rows, dtype=np.float64)
        if arr.size == 0:
            return cls(np.zeros(0), np.zeros(0), np.zeros((0, 4)))
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise InvalidInputError(
                f"rows must have shape (N, >=6): frame,id,x,y,w,h[,conf,class,...]; got {arr.shape}"
            )
        xywh = arr[:, 2:6]
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        conf = arr[:, 6] if arr.shape[1] > 6 else None
        klass = arr[:, 7] if arr.shape[1] > 7 else None
        return cls(arr[:, 0], arr[:, 1], xyxy, conf, klass)  # type: ignore[arg-type]

    def to_rows(self) -> np.ndarray:
        """MOTChallenge rows ``frame, id, x, y, w, h, conf, class, -1, -1`` (float64 ``(N, 10)``)."""
        out = np.full((len(self), 10), -1.0)
        out[:, 0], out[:, 1] = self.frame, self.track_id
        out[:, 2:4] = self.xyxy[:, :2]
        out[:, 4:6] = self.xyxy[:, 2:] - self.xyxy[:, :2]
        out[:, 6], out[:, 7] = self.confidence, self.class_id
        return out

    def select(self, keep: np.ndarray) -> MotSequence:
        """The rows where ``keep`` is True."""
        return MotSequence(
            self.frame[keep], self.track_id[keep], self.xyxy[keep], self.confidence[keep], self.class_id[keep]
        )


# ------------------------------------------------------------------------------------------ I/O
def _load_text(path: Path, *, ground_truth: bool) -> MotSequence:
    rows: list[list[float]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            parts = text.replace(" ", ",").split(",") if "," in text else text.split()
            parts = [p for p in parts if p != ""]
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise AnnotationParseError(
                    path, "expected numbers frame,id,x,y,w,h,...", line=lineno, record=text
                ) from None
            if len(values) < 6:
                raise AnnotationParseError(
                    path, "expected at least 6 columns frame,id,x,y,w,h", line=lineno, record=text
                )
            rows.append(values[:10] + [1.0] * max(0, 7 - len(values)))
    width = max((len(r) for r in rows), default=7)
    arr = np.array([r + [-1.0] * (width - len(r)) for r in rows], dtype=np.float64).reshape(-1, max(width, 7))
    seq = MotSequence.from_rows(arr) if len(arr) else MotSequence.from_rows(np.zeros((0, 7)))
    if ground_truth and len(arr):
        seq = seq.select(arr[:, 6] != 0)  # MOTChallenge: 0 in the 7th column = not evaluated
    return seq


def _load_jsonl(path: Path) -> MotSequence:
    frames: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    confs: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                dets = record["detections"]
                frame_index = record.get("frame_index")
                frame = int(frame_index if frame_index is not None else record["index"]) + 1
                xyxy = np.asarray(dets["xyxy"], dtype=np.float64).reshape(-1, 4)
                tid = dets.get("tracker_id")
                if tid is None:
                    raise KeyError("detections.tracker_id (run detect with --track)")
                tid_arr = np.asarray(tid, dtype=np.int64).reshape(-1)
                n = len(xyxy)
                conf = dets.get("confidence")
                cls = dets.get("class_id")
                conf_arr = np.ones(n) if conf is None else np.asarray(conf, np.float64).reshape(-1)
                cls_arr = np.full(n, -1, np.int64) if cls is None else np.asarray(cls, np.int64).reshape(-1)
                if not len(tid_arr) == len(conf_arr) == len(cls_arr) == n:
                    raise ValueError("xyxy, tracker_id, confidence and class_id differ in length")
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                raise AnnotationParseError(path, f"bad tracking record: {exc}", line=lineno) from None
            frames.append(np.full(n, frame, np.int64))
            ids.append(tid_arr)
            boxes.append(xyxy)
            confs.append(conf_arr)
            classes.append(cls_arr)
    if not frames:
        return MotSequence(np.zeros(0), np.zeros(0), np.zeros((0, 4)))
    seq = MotSequence(
        np.concatenate(frames),
        np.concatenate(ids),
        np.concatenate(boxes),
        np.concatenate(confs),
        np.concatenate(classes),
    )
    return seq.select(seq.track_id >= 0)  # untracked boxes (-1) carry no identity


def load_mot(path: str | os.PathLike[str], *, ground_truth: bool = False) -> MotSequence:
    """Read one sequence: MOTChallenge text (``.txt``/``.csv``) or our JSON lines (``.jsonl``).

    A folder is read as a MOTChallenge sequence folder (``gt/gt.txt``) or a ``detect --out``
    folder (``detections.jsonl``).

    Args:
        path: the file or folder.
        ground_truth: drop MOTChallenge rows whose 7th column is 0 (not to be evaluated).

    Raises:
        InvalidInputError: the path does not exist or holds no known file.
        AnnotationParseError: a malformed line (the message names the file and line).
    """
    p = Path(path)
    if p.is_dir():
        for candidate in (p / "gt" / "gt.txt", p / "detections.jsonl"):
            if candidate.is_file():
                p = candidate
                break
        else:
            raise InvalidInputError(f"{path}: a folder needs gt/gt.txt or detections.jsonl")
    if not p.is_file():
        raise InvalidInputError(f"{path} does not exist; expected a MOTChallenge .txt or a .jsonl file")
    try:
        seq = _load_jsonl(p) if p.suffix.lower() == ".jsonl" else _load_text(p, ground_truth=ground_truth)
        if len(seq.frame) and int(seq.frame.min()) < 1:
            raise AnnotationParseError(p, "frame numbers must be >= 1 (MOTChallenge frames are 1-based)")
        if _has_repeated_id(seq):
            raise AnnotationParseError(p, "an id appears twice in one frame; each id needs one box per frame")
        return seq
    except AnnotationParseError:
        raise
    except UnicodeDecodeError as exc:
        raise AnnotationParseError(p, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (InvalidInputError, OverflowError, RecursionError) as exc:  # values the rows cannot hold
        raise AnnotationParseError(p, f"bad tracking data: {exc}") from None


def save_mot(path: str | os.PathLike[str], sequence: MotSequence) -> Path:
    """Write MOTChallenge text ``frame,id,x,y,w,h,conf,-1,-1,-1`` sorted by frame then id (atomic)."""
    target = Path(path)
    order = np.lexsort((sequence.track_id, sequence.frame))
    rows = sequence.to_rows()[order]
    lines = [f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.4g},-1,-1,-1" for r in rows]
    return write_atomic(target, "".join(line + "\n" for line in lines))


# ------------------------------------------------------------------------------------------ metrics
@dataclass(frozen=True)
class MotMetrics:
    """Tracking metrics of one sequence (TrackEval's field meanings).

    Attributes:
        hota, deta, assa, loca, detre, detpr, assre, asspr: HOTA family, averaged over
            :data:`HOTA_ALPHAS` (``hota_per_alpha`` etc. hold the 19 values).
        mota, motp, moda: CLEAR MOT accuracy/precision (at IoU 0.5).
        id_switches, fragmentations: CLEAR IDSW and Frag.
        mostly_tracked, partially_tracked, mostly_lost: CLEAR MT/PT/ML counts.
        idf1, idp, idr: Identity F1/precision/recall; ``idtp``/``idfn``/``idfp`` the counts.
        tp, fn, fp: CLEAR detection counts. ``gt_ids``/``pred_ids``: distinct ids.
    """

    hota: float
    deta: float
    assa: float
    loca: float
    detre: float
    detpr: float
    assre: float
    asspr: float
    mota: float
    motp: float
    moda: float
    id_switches: int
    fragmentations: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    idf1: float
    idp: float
    idr: float
    idtp: int
    idfn: int
    idfp: int
    tp: int
    fn: int
    fp: int
    frames: int
    gt_ids: int
    pred_ids: int
    hota_per_alpha: tuple[float, ...] = ()
    deta_per_alpha: tuple[float, ...] = ()
    assa_per_alpha: tuple[float, ...] = ()

    def to_dict(self, *, per_alpha: bool = False) -> dict[str, Any]:
        """Plain floats and ints (JSON-safe); the per-alpha curves only with ``per_alpha``."""
        out = {k: v for k, v in self.__dict__.items() if not k.endswith("_per_alpha")}
        if per_alpha:
            out["alphas"] = [round(float(a), 2) for a in HOTA_ALPHAS]
            out.update({k: list(v) for k, v in self.__dict__.items() if k.endswith("_per_alpha")})
        return out

    def summary(self) -> str:
        """A short human-readable table."""
        return (
            f" HOTA {100 * self.hota:6.2f}  DetA {100 * self.deta:6.2f}  AssA {100 * self.assa:6.2f}  "
            f"LocA {100 * self.loca:6.2f}\n"
            f" MOTA {100 * self.mota:6.2f}  MOTP {100 * self.motp:6.2f}  IDF1 {100 * self.idf1:6.2f}  "
            f"IDP {100 * self.idp:6.2f}  IDR {100 * self.idr:6.2f}\n"
            f" IDsw {self.id_switches}  Frag {self.fragmentations}  MT {self.mostly_tracked}  "
            f"PT {self.partially_tracked}  ML {self.mostly_lost}  TP {self.tp}  FN {self.fn}  FP {self.fp}  "
            f"({self.frames} frames, {self.gt_ids} GT ids, {self.pred_ids} predicted ids)"
        )


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)``, xyxy, float64.

    Zero-area boxes give 0 (never NaN); continuous coordinates (no +1), as TrackEval.

    >>> box_iou_matrix(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [5, 5, 5, 5]])).round(4).tolist()
    [[0.3333, 0.0]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    out: np.ndarray = np.zeros(inter.shape, dtype=np.float64)
    ok = union > _EPS
    out[ok] = inter[ok] / union[ok]
    return out


@dataclass
class _Frames:
    """The per-frame inputs of the metrics: contiguous ids and the IoU matrices."""

    gt_ids: list[np.ndarray]
    pred_ids: list[np.ndarray]
    similarity: list[np.ndarray]
    n_gt_ids: int
    n_pred_ids: int
    n_gt: int
    n_pred: int


def _has_repeated_id(seq: MotSequence) -> bool:
    """Whether one frame holds one track id twice."""
    pairs = np.stack([seq.frame, seq.track_id], axis=1)
    return len(seq) > 0 and len(np.unique(pairs, axis=0)) != len(seq)


def _frames(gt: MotSequence, pred: MotSequence) -> _Frames:
    """Per-frame inputs over the sequence's frames, first (1 or earlier) to last.

    A run of frames without any box is kept as ONE empty frame: every metric treats one empty
    frame exactly like several (the previous-frame matches are cleared either way), so a file
    whose frame numbers jump to 10^9 costs no memory for the gap.
    """
    present = np.unique(np.concatenate([gt.frame, pred.frame]))
    first = min(int(present[0]) if len(present) else 1, 1)
    timeline: list[int] = []  # frame number per step, -1 = an empty stretch
    previous = first - 1
    for f in present.tolist():
        if f > previous + 1:
            timeline.append(-1)
        timeline.append(f)
        previous = f
    _, gt_contig = np.unique(gt.track_id, return_inverse=True)
    _, pred_contig = np.unique(pred.track_id, return_inverse=True)
    gt_sort = np.argsort(gt.frame, kind="stable")
    pred_sort = np.argsort(pred.frame, kind="stable")
    gt_frames, pred_frames = gt.frame[gt_sort], pred.frame[pred_sort]
    out = _Frames([], [], [], len(np.unique(gt.track_id)), len(np.unique(pred.track_id)), len(gt), len(pred))
    for f in timeline:
        gi = (
            gt_sort[np.searchsorted(gt_frames, f) : np.searchsorted(gt_frames, f, side="right")]
            if f >= 0
            else gt_sort[:0]
        )
        pi = (
            pred_sort[np.searchsorted(pred_frames, f) : np.searchsorted(pred_frames, f, side="right")]
            if f >= 0
            else pred_sort[:0]
        )
        out.gt_ids.append(gt_contig[gi].astype(np.int64))
        out.pred_ids.append(pred_contig[pi].astype(np.int64))
        out.similarity.append(box_iou_matrix(gt.xyxy[gi], pred.xyxy[pi]))
    return out


def _hota(d: _Frames) -> dict[str, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    na = len(HOTA_ALPHAS)
    tp, fn, fp, loca = np.zeros(na), np.zeros(na), np.zeros(na), np.zeros(na)
    res = {"TP": tp, "FN": fn, "FP": fp, "LocA": loca}
    if d.n_pred == 0 or d.n_gt == 0:
        (fn if d.n_pred == 0 else fp)[:] = d.n_gt if d.n_pred == 0 else d.n_pred
        res.update(AssA=np.zeros(na), AssRe=np.zeros(na), AssPr=np.zeros(na), LocA=np.ones(na))
        return res
    potential = np.zeros((d.n_gt_ids, d.n_pred_ids))
    gt_count = np.zeros((d.n_gt_ids, 1))
    pred_count = np.zeros((1, d.n_pred_ids))
    for g, p, sim in zip(d.gt_ids, d.pred_ids, d.similarity):
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        sim_iou = np.zeros_like(sim)
        mask = denom > 0 + _EPS
        sim_iou[mask] = sim[mask] / denom[mask]
        potential[g[:, None], p[None, :]] += sim_iou
        gt_count[g] += 1
        pred_count[0, p] += 1
    alignment = potential / (gt_count + pred_count - potential)
    matches = np.zeros((na, d.n_gt_ids, d.n_pred_ids))
    for g, p, sim in zip(d.gt_ids, d.pred_ids, d.similarity):
        if len(g) == 0:
            fp += len(p)
            continue
        if len(p) == 0:
            fn += len(g)
            continue
        score = alignment[g[:, None], p[None, :]] * sim
        rows, cols = linear_sum_assignment(-score)
        matched_sim = sim[rows, cols]
        for a, alpha in enumerate(HOTA_ALPHAS):
            ok = matched_sim >= alpha - _EPS
            k = int(ok.sum())
            tp[a] += k
            fn[a] += len(g) - k
            fp[a] += len(p) - k
            if k:
                loca[a] += sum(matched_sim[ok])  # Python sum, as TrackEval (same rounding)
                matches[a, g[rows[ok]], p[cols[ok]]] += 1
    assa, assre, asspr = np.zeros(na), np.zeros(na), np.zeros(na)
    for a in range(na):
        m = matches[a]
        assa[a] = np.sum(m * (m / np.maximum(1, gt_count + pred_count - m))) / np.maximum(1, tp[a])
        assre[a] = np.sum(m * (m / np.maximum(1, gt_count))) / np.maximum(1, tp[a])
        asspr[a] = np.sum(m * (m / np.maximum(1, pred_count))) / np.maximum(1, tp[a])
    res.update(AssA=assa, AssRe=assre, AssPr=asspr, LocA=np.maximum(1e-10, loca) / np.maximum(1e-10, tp))
    return res


def _clear(d: _Frames, threshold: float, n_frames: int) -> dict[str, float]:
    from scipy.optimize import linear_sum_assignment

    out = {"TP": 0.0, "FN": 0.0, "FP": 0.0, "IDSW": 0.0, "MT": 0.0, "PT": 0.0, "ML": 0.0, "Frag": 0.0, "MOTP_sum": 0.0}
    if d.n_pred == 0:
        out.update(FN=d.n_gt, ML=d.n_gt_ids)
        return out
    if d.n_gt == 0:
        out.update(FP=d.n_pred)
        return out
    gt_count = np.zeros(d.n_gt_ids)
    matched_count = np.zeros(d.n_gt_ids)
    frag_count = np.zeros(d.n_gt_ids)
    prev_id = np.full(d.n_gt_ids, np.nan)  # last matched prediction id, any frame back (for IDSW)
    prev_step_id = np.full(d.n_gt_ids, np.nan)  # matched prediction id in the previous frame
    motp_sum = 0.0
    for g, p, sim in zip(d.gt_ids, d.pred_ids, d.similarity):
        if len(g) == 0:
            out["FP"] += len(p)
            continue
        if len(p) == 0:
            out["FN"] += len(g)
            gt_count[g] += 1
            continue
        score = 1000 * (p[None, :] == prev_step_id[g[:, None]]) + sim
        score[sim < threshold - _EPS] = 0
        rows, cols = linear_sum_assignment(-score)
        ok = score[rows, cols] > 0 + _EPS
        rows, cols = rows[ok], cols[ok]
        mg, mp = g[rows], p[cols]
        before = prev_id[mg]
        out["IDSW"] += float(np.sum(~np.isnan(before) & (mp != before)))
        gt_count[g] += 1
        matched_count[mg] += 1
        not_tracked = np.isnan(prev_step_id)
        prev_id[mg] = mp
        prev_step_id[:] = np.nan
        prev_step_id[mg] = mp
        frag_count += not_tracked & ~np.isnan(prev_step_id)
        out["TP"] += len(mg)
        out["FN"] += len(g) - len(mg)
        out["FP"] += len(p) - len(mg)
        if len(mg):
            motp_sum += sum(sim[rows, cols])
    seen = gt_count > 0
    ratio = matched_count[seen] / gt_count[seen]
    out["MT"] = float(np.sum(ratio > 0.8))
    out["PT"] = float(np.sum(ratio >= 0.2)) - out["MT"]
    out["ML"] = d.n_gt_ids - out["MT"] - out["PT"]
    out["Frag"] = float(np.sum(frag_count[frag_count > 0] - 1))
    out["MOTP_sum"] = motp_sum
    return out


def _identity(d: _Frames, threshold: float) -> dict[str, float]:
    from scipy.optimize import linear_sum_assignment

    if d.n_pred == 0:
        return {"IDTP": 0.0, "IDFN": float(d.n_gt), "IDFP": 0.0}
    if d.n_gt == 0:
        return {"IDTP": 0.0, "IDFN": 0.0, "IDFP": float(d.n_pred)}
    ng, npred = d.n_gt_ids, d.n_pred_ids
    potential = np.zeros((ng, npred))
    gt_count = np.zeros(ng)
    pred_count = np.zeros(npred)
    for g, p, sim in zip(d.gt_ids, d.pred_ids, d.similarity):
        mg, mp = np.nonzero(sim >= threshold)
        np.add.at(potential, (g[mg], p[mp]), 1)
        np.add.at(gt_count, g, 1)
        np.add.at(pred_count, p, 1)
    size = ng + npred
    fp_mat = np.zeros((size, size))
    fn_mat = np.zeros((size, size))
    fp_mat[ng:, :npred] = 1e10
    fn_mat[:ng, npred:] = 1e10
    fn_mat[:ng, :npred] = gt_count[:, None]
    fn_mat[np.arange(ng), npred + np.arange(ng)] = gt_count
    fp_mat[:ng, :npred] = pred_count[None, :]
    fp_mat[ng + np.arange(npred), np.arange(npred)] = pred_count
    fn_mat[:ng, :npred] -= potential
    fp_mat[:ng, :npred] -= potential
    rows, cols = linear_sum_assignment(fn_mat + fp_mat)
    idfn = float(int(fn_mat[rows, cols].sum()))
    idfp = float(int(fp_mat[rows, cols].sum()))
    return {"IDTP": float(int(gt_count.sum() - idfn)), "IDFN": idfn, "IDFP": idfp}


def evaluate_mot(
    ground_truth: MotSequence | str | os.PathLike[str],
    predictions: MotSequence | str | os.PathLike[str],
    *,
    threshold: float = 0.5,
) -> MotMetrics:
    """HOTA, CLEAR and Identity metrics of ``predictions`` against ``ground_truth`` (one sequence).

    Args:
        ground_truth: a :class:`MotSequence` or a path (see :func:`load_mot`; MOTChallenge rows
            with 0 in the 7th column are ignored).
        predictions: a :class:`MotSequence` or a path (MOTChallenge text or our JSON lines).
        threshold: IoU for a CLEAR/Identity match (TrackEval's default 0.5).

    Returns:
        :class:`MotMetrics`, equal to TrackEval's ``HOTA``, ``CLEAR`` and ``Identity`` on the same
        boxes (to floating-point precision).

    Raises:
        InvalidInputError: bad threshold, a missing file, or a frame holding one id twice.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
        raise InvalidInputError(f"threshold must be a number in (0, 1], got {threshold!r}")
    gt = ground_truth if isinstance(ground_truth, MotSequence) else load_mot(ground_truth, ground_truth=True)
    pred = predictions if isinstance(predictions, MotSequence) else load_mot(predictions)
    for name, seq in (("ground_truth", gt), ("predictions", pred)):
        if len(seq) and (seq.frame < 1).any():
            raise InvalidInputError(f"{name}: frame numbers must be >= 1 (MOTChallenge is 1-based)")
        if _has_repeated_id(seq):
            raise InvalidInputError(f"{name}: an id appears twice in one frame; each id needs one box per frame")
    d = _frames(gt, pred)
    n_frames = (
        int(max(gt.frame.max(initial=0), pred.frame.max(initial=0)))
        - int(min(gt.frame.min(initial=1), pred.frame.min(initial=1), 1))
        + 1
    )
    h = _hota(d)
    c = _clear(d, float(threshold), n_frames)
    i = _identity(d, float(threshold))
    tp_h, fn_h, fp_h = h["TP"], h["FN"], h["FP"]
    detre = tp_h / np.maximum(1, tp_h + fn_h)
    detpr = tp_h / np.maximum(1, tp_h + fp_h)
    deta = tp_h / np.maximum(1, tp_h + fn_h + fp_h)
    hota = np.sqrt(deta * h["AssA"])
    n_gt = max(1.0, c["TP"] + c["FN"])
    no_gt = d.n_gt == 0  # TrackEval leaves MOTA/MODA/MOTP at 0 without ground truth (not -FP)
    idtp, idfn, idfp = i["IDTP"], i["IDFN"], i["IDFP"]
    return MotMetrics(
        hota=float(hota.mean()),
        deta=float(deta.mean()),
        assa=float(h["AssA"].mean()),
        loca=float(h["LocA"].mean()),
        detre=float(detre.mean()),
        detpr=float(detpr.mean()),
        assre=float(h["AssRe"].mean()),
        asspr=float(h["AssPr"].mean()),
        mota=0.0 if no_gt else float((c["TP"] - c["FP"] - c["IDSW"]) / n_gt),
        motp=float(c["MOTP_sum"] / max(1.0, c["TP"])),
        moda=0.0 if no_gt else float((c["TP"] - c["FP"]) / n_gt),
        id_switches=int(c["IDSW"]),
        fragmentations=int(c["Frag"]),
        mostly_tracked=int(c["MT"]),
        partially_tracked=int(c["PT"]),
        mostly_lost=int(c["ML"]),
        idf1=float(idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn)),
        idp=float(idtp / max(1.0, idtp + idfp)),
        idr=float(idtp / max(1.0, idtp + idfn)),
        idtp=int(idtp),
        idfn=int(idfn),
        idfp=int(idfp),
        tp=int(c["TP"]),
        fn=int(c["FN"]),
        fp=int(c["FP"]),
        frames=n_frames,
        gt_ids=d.n_gt_ids,
        pred_ids=d.n_pred_ids,
        hota_per_alpha=tuple(float(v) for v in hota),
        deta_per_alpha=tuple(float(v) for v in deta),
        assa_per_alpha=tuple(float(v) for v in h["AssA"]),
    )


def sequence_from_tracks(items: Iterable[tuple[int, Any]]) -> MotSequence:
    """Build a :class:`MotSequence` from ``(frame_number, Detections)`` pairs (1-based frames).

    Boxes without a track id (``tracker_id`` None or -1) are left out.
    """
    frames, ids, boxes, confs, classes = [], [], [], [], []
    for frame, dets in items:
        if dets.tracker_id is None:
            continue
        keep = np.asarray(dets.tracker_id) >= 0
        n = int(keep.sum())
        frames.append(np.full(n, int(frame), np.int64))
        ids.append(np.asarray(dets.tracker_id)[keep])
        boxes.append(np.asarray(dets.xyxy, np.float64)[keep])
        confs.append(np.ones(n) if dets.confidence is None else np.asarray(dets.confidence, np.float64)[keep])
        classes.append(np.asarray(dets.class_id)[keep])
    if not frames:
        return MotSequence(np.zeros(0), np.zeros(0), np.zeros((0, 4)))
    return MotSequence(
        np.concatenate(frames),
        np.concatenate(ids),
        np.concatenate(boxes),
        np.concatenate(confs),
        np.concatenate(classes),
    )
