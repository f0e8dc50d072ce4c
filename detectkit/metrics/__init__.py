"""Evaluation: COCO-exact mAP/AR, per-class tables, PR curves, confusion matrix, F1 threshold, plots.

:func:`evaluate` compares predictions with ground truth and returns :class:`Metrics`. The 12
COCO numbers equal pycocotools' ``COCOeval`` (bbox and segm) — the engine is a vectorised
re-implementation of its matching and accumulation on flat numpy arrays, several times faster
than pycocotools and faster-coco-eval end to end from files (see ``benchmarks/bench_eval.py``).

>>> gt = {
...     "images": [{"id": 1, "width": 100, "height": 100}],
...     "categories": [{"id": 1, "name": "cat"}],
...     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500}],
... }
>>> preds = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 50, 50], "score": 0.9}]
>>> m = evaluate(gt, preds)
>>> round(m.map50, 3), round(m.map, 3)
(1.0, 0.9)
>>> m.per_class()[0]["name"]
'cat'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectkit._checks import check_choice, check_fraction
from detectkit.errors import InvalidInputError
from detectkit.metrics._engine import (
    AREA_RANGES,
    IOU_THRESHOLDS,
    RECALL_THRESHOLDS,
    EvalResult,
    run_coco_eval,
)
from detectkit.metrics._inputs import GroundTruth, Predictions, load_ground_truth, load_predictions

__all__ = [
    "AREA_RANGES",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "STAT_NAMES",
    "ConfusionMatrix",
    "Metrics",
    "evaluate",
    "evaluate_detector",
]

IouType = Literal["bbox", "segm"]

#: The 12 COCO numbers, in pycocotools' ``stats`` order.
STAT_NAMES: tuple[str, ...] = (
    "map",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of ground truth class (rows) against predicted class (columns), with background.

    ``matrix[i, j]`` counts objects of true class ``category_ids[i]`` predicted as
    ``category_ids[j]``. The last row (true "background") holds false positives — predictions
    matching no ground truth — and the last column (predicted "background") holds missed
    ground truth. Matching is one-to-one, class-agnostic, greedy by IoU, among predictions
    with ``confidence >= conf_threshold`` and pairs with ``IoU >= iou_threshold``; crowd
    ground truth is left out, and predictions lying on a crowd region are not counted.

    Attributes:
        matrix: int64 ``(K + 1, K + 1)``.
        category_ids: the K category ids, in row/column order.
        names: category id -> name.
        iou_threshold: the IoU used for matching.
        conf_threshold: the confidence cut.
    """

    matrix: np.ndarray
    category_ids: tuple[int, ...]
    names: Mapping[int, str]
    iou_threshold: float
    conf_threshold: float

    @property
    def labels(self) -> list[str]:
        """Row/column labels: the class names then ``"background"``."""
        return [self.names.get(c, str(c)) for c in self.category_ids] + ["background"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "labels": self.labels,
            "category_ids": list(self.category_ids),
            "matrix": self.matrix.tolist(),
            "iou_threshold": self.iou_threshold,
            "conf_threshold": self.conf_threshold,
        }


@dataclass(frozen=True, eq=False)
class Metrics:
    """The result of :func:`evaluate`.

    Attributes:
        stats: float64 ``(12,)`` COCO's numbers in pycocotools order (-1 where undefined).
        iou_type: ``"bbox"`` or ``"segm"``.
        category_ids: the evaluated category ids (sorted), K of them.
        names: category id -> name.
        precision: float64 ``(T, R, K, A, M)`` interpolated precision (COCOeval's layout:
            IoU thresholds x recall thresholds x categories x area ranges x max dets), -1 where
            a category has no ground truth.
        recall: float64 ``(T, K, A, M)``.
        scores: float64 ``(T, R, K, A, M)`` confidence at each precision point.
        area_labels: names of the area ranges (``all``, ``small``, ``medium``, ``large``).
        max_dets: the detection limits per image.
        num_images: images evaluated.
        num_ground_truth: int64 ``(K,)`` non-crowd ground truth per category.
        warnings: notes about the inputs (e.g. prediction categories absent from the ground truth).
    """

    stats: np.ndarray
    iou_type: str
    category_ids: tuple[int, ...]
    names: Mapping[int, str]
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    area_labels: tuple[str, ...]
    max_dets: tuple[int, ...]
    num_images: int
    num_ground_truth: np.ndarray
    warnings: tuple[str, ...] = ()
    _raw: EvalResult | None = field(default=None, repr=False)
    _gt: GroundTruth | None = field(default=None, repr=False)
    _dt: Predictions | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the 12 numbers
    def _stat(self, i: int) -> float:
        return float(self.stats[i])

    @property
    def map(self) -> float:
        """AP @ IoU 0.50:0.95, all areas, ``max_dets[2]`` (COCO's headline mAP)."""
        return self._stat(0)

    @property
    def map50(self) -> float:
        """AP @ IoU 0.50."""
        return self._stat(1)

    @property
    def map75(self) -> float:
        """AP @ IoU 0.75."""
        return self._stat(2)

    @property
    def map_small(self) -> float:
        """AP for small objects (area < 32²)."""
        return self._stat(3)

    @property
    def map_medium(self) -> float:
        """AP for medium objects (32² .. 96²)."""
        return self._stat(4)

    @property
    def map_large(self) -> float:
        """AP for large objects (area > 96²)."""
        return self._stat(5)

    @property
    def mar_1(self) -> float:
        """AR with ``max_dets[0]`` detections per image."""
        return self._stat(6)

    @property
    def mar_10(self) -> float:
        """AR with ``max_dets[1]`` detections per image."""
        return self._stat(7)

    @property
    def mar_100(self) -> float:
        """AR with ``max_dets[2]`` detections per image."""
        return self._stat(8)

    @property
    def mar_small(self) -> float:
        """AR for small objects."""
        return self._stat(9)

    @property
    def mar_medium(self) -> float:
        """AR for medium objects."""
        return self._stat(10)

    @property
    def mar_large(self) -> float:
        """AR for large objects."""
        return self._stat(11)

    def as_dict(self) -> dict[str, float]:
        """The 12 numbers by name."""
        return {name: float(v) for name, v in zip(STAT_NAMES, self.stats)}

    # ------------------------------------------------------------------ per class and curves
    def _area_index(self) -> int:
        return self.area_labels.index("all") if "all" in self.area_labels else 0

    def per_class(self, *, sort: bool = False) -> list[dict[str, Any]]:
        """One row per category: ``category_id``, ``name``, ``ap`` (0.50:0.95), ``ap50``, ``ap75``,
        ``ar`` (at the largest ``max_dets``) and ``num_gt``; metrics are NaN without ground truth.

        Args:
            sort: order by ``ap`` descending (NaN last) instead of by category id.
        """
        a, m = self._area_index(), len(self.max_dets) - 1
        rows: list[dict[str, Any]] = []
        t50 = np.flatnonzero(IOU_THRESHOLDS == 0.5)
        t75 = np.flatnonzero(IOU_THRESHOLDS == 0.75)

        def mean(x: np.ndarray) -> float:
            v = x[x > -1]
            return float(v.mean()) if v.size else float("nan")

        for k, cid in enumerate(self.category_ids):
            p = self.precision[:, :, k, a, m]
            rows.append(
                {
                    "category_id": int(cid),
                    "name": self.names.get(cid, str(cid)),
                    "ap": mean(p),
                    "ap50": mean(p[t50]),
                    "ap75": mean(p[t75]),
                    "ar": mean(self.recall[:, k, a, m]),
                    "num_gt": int(self.num_ground_truth[k]),
                }
            )
        if sort:
            rows.sort(key=lambda r: (np.isnan(r["ap"]), -np.nan_to_num(r["ap"])))
        return rows

    def pr_curve(self, category_id: int | None = None, *, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """COCO's interpolated precision-recall curve at one IoU threshold.

        Args:
            category_id: one category, or None for the mean over categories with ground truth.
            iou_threshold: one of COCO's thresholds 0.50, 0.55, ..., 0.95.

        Returns:
            ``(recall, precision)``: float64 ``(101,)`` each; precision is NaN for a category
            without ground truth.
        """
        t = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou_threshold))
        if t.size == 0:
            raise InvalidInputError(
                f"iou_threshold must be one of {[round(float(x), 2) for x in IOU_THRESHOLDS]}, got {iou_threshold!r}"
            )
        a, m = self._area_index(), len(self.max_dets) - 1
        p = self.precision[int(t[0]), :, :, a, m]  # (R, K)
        if category_id is None:
            has = (p > -1).all(axis=0)
            curve = p[:, has].mean(axis=1) if has.any() else np.full(len(RECALL_THRESHOLDS), np.nan)
        else:
            k = self._category_index(category_id)
            curve = p[:, k].astype(np.float64) if (p[:, k] > -1).all() else np.full(len(RECALL_THRESHOLDS), np.nan)
        return RECALL_THRESHOLDS.copy(), curve

    def _category_index(self, category_id: int) -> int:
        try:
            return self.category_ids.index(int(category_id))
        except ValueError:
            raise InvalidInputError(
                f"category_id must be one of the evaluated categories {list(self.category_ids)[:20]}, "
                f"got {category_id!r}"
            ) from None

    def f1_threshold(self, *, iou_threshold: float = 0.5) -> dict[str, float]:
        """The confidence threshold that maximises F1 (mean over categories with ground truth).

        Uses COCO's matching at the given IoU (all areas, largest ``max_dets``): for every
        candidate threshold (each distinct detection score), each category's precision, recall
        and F1 count the detections scoring at least that much; ignored detections (matched to
        crowd) count for neither side.

        Returns:
            ``{"threshold", "f1", "precision", "recall"}`` (macro means at the threshold); the
            threshold is NaN when there are no detections or no ground truth.
        """
        raw = self._raw
        t = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou_threshold))
        if t.size == 0:
            raise InvalidInputError(f"iou_threshold must be one of COCO's thresholds, got {iou_threshold!r}")
        nan = {"threshold": float("nan"), "f1": float("nan"), "precision": float("nan"), "recall": float("nan")}
        if raw is None or raw.det_score.size == 0:
            return nan
        npos = raw.num_gt
        classes = np.flatnonzero(npos > 0)
        if classes.size == 0:
            return nan
        candidates = np.unique(raw.det_score)[::-1]
        if candidates.size > 2000:  # quantiles keep it cheap on very large sets
            candidates = np.unique(np.quantile(raw.det_score, np.linspace(0, 1, 2001)))[::-1]
        tp_flag = raw.det_tp[t[0]]
        counted = ~raw.det_ignored[t[0]]
        f1s = np.zeros((classes.size, candidates.size))
        ps = np.zeros_like(f1s)
        rs = np.zeros_like(f1s)
        cats = raw.det_category_pos
        for row, k in enumerate(classes):
            sel = cats == k
            sc = raw.det_score[sel]
            tp = np.r_[0, np.cumsum(tp_flag[sel])]
            n = np.r_[0, np.cumsum(counted[sel])]
            # detections with score >= c: a prefix of the descending-score list
            cut = np.searchsorted(-sc, -candidates, side="right")
            tpc, nc = tp[cut].astype(np.float64), n[cut].astype(np.float64)
            prec = np.divide(tpc, nc, out=np.zeros_like(tpc), where=nc > 0)
            rec = tpc / npos[k]
            f1s[row] = np.divide(2 * tpc, nc + npos[k], out=np.zeros_like(tpc), where=(nc + npos[k]) > 0)
            ps[row], rs[row] = prec, rec
        mean_f1 = f1s.mean(axis=0)
        best = int(np.argmax(mean_f1))
        return {
            "threshold": float(candidates[best]),
            "f1": float(mean_f1[best]),
            "precision": float(ps[:, best].mean()),
            "recall": float(rs[:, best].mean()),
        }

    def confusion_matrix(self, *, iou_threshold: float = 0.5, conf_threshold: float = 0.25) -> ConfusionMatrix:
        """Confusion matrix with a background row and column (see :class:`ConfusionMatrix`)."""
        iou_threshold = check_fraction(iou_threshold, "iou_threshold")
        conf_threshold = float(conf_threshold)
        if self._gt is None or self._dt is None:
            raise InvalidInputError("confusion_matrix needs the inputs; this Metrics was built without them")
        from detectkit.metrics._confusion import confusion_counts

        matrix = confusion_counts(
            self._gt,
            self._dt,
            category_ids=np.asarray(self.category_ids, dtype=np.int64),
            iou_type=self.iou_type,
            iou_threshold=iou_threshold,
            conf_threshold=conf_threshold,
        )
        return ConfusionMatrix(
            matrix=matrix,
            category_ids=self.category_ids,
            names=dict(self.names),
            iou_threshold=iou_threshold,
            conf_threshold=conf_threshold,
        )

    # ------------------------------------------------------------------ output
    def to_dict(self, *, per_class: bool = True) -> dict[str, Any]:
        """JSON-ready summary: ``stats`` (pycocotools order), the named numbers, per-class rows,
        the F1-optimal threshold and notes.
        """

        def clean(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        out: dict[str, Any] = {"iou_type": self.iou_type, "stats": [float(v) for v in self.stats]}
        out.update(self.as_dict())
        out["num_images"] = self.num_images
        out["num_categories"] = len(self.category_ids)
        out["f1_threshold"] = {k: clean(v) for k, v in self.f1_threshold().items()}
        if per_class:
            out["per_class"] = [
                {k: (clean(v) if isinstance(v, float) else v) for k, v in row.items()} for row in self.per_class()
            ]
        out["warnings"] = list(self.warnings)
        return out

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (keyword arguments go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self, *, per_class: bool = True) -> str:
        """A readable table: the 12 numbers in COCO's wording, then per-class AP (sorted)."""
        big = self.max_dets[-1]
        lines = []
        labels = [
            ("Average Precision", "0.50:0.95", "all", big),
            ("Average Precision", "0.50", "all", big),
            ("Average Precision", "0.75", "all", big),
            ("Average Precision", "0.50:0.95", "small", big),
            ("Average Precision", "0.50:0.95", "medium", big),
            ("Average Precision", "0.50:0.95", "large", big),
            ("Average Recall", "0.50:0.95", "all", self.max_dets[0]),
            ("Average Recall", "0.50:0.95", "all", self.max_dets[min(1, len(self.max_dets) - 1)]),
            ("Average Recall", "0.50:0.95", "all", big),
            ("Average Recall", "0.50:0.95", "small", big),
            ("Average Recall", "0.50:0.95", "medium", big),
            ("Average Recall", "0.50:0.95", "large", big),
        ]
        for (title, iou, area, md), name, v in zip(labels, STAT_NAMES, self.stats):
            short = "(AP)" if title.startswith("Average P") else "(AR)"
            lines.append(
                f" {title:<18} {short} @[ IoU={iou:<9} | area={area:>6s} | maxDets={md:>3d} ] = {v:0.3f}  {name}"
            )
        if per_class and self.category_ids:
            rows = self.per_class(sort=True)
            width = max(8, *(len(str(r["name"])) for r in rows))
            lines.append("")
            lines.append(f" {'class':<{width}}  {'AP':>6}  {'AP50':>6}  {'AP75':>6}  {'AR':>6}  {'GT':>6}")
            for r in rows:

                def f(v: float) -> str:
                    return "     -" if np.isnan(v) else f"{v:6.3f}"

                cells = "  ".join(f(r[key]) for key in ("ap", "ap50", "ap75", "ar"))
                lines.append(f" {r['name']:<{width}}  {cells}  {r['num_gt']:>6d}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Metrics(iou_type={self.iou_type!r}, map={self.map:.4f}, map50={self.map50:.4f}, "
            f"images={self.num_images}, categories={len(self.category_ids)})"
        )

    def plot(self, directory: str | Path, *, conf_threshold: float = 0.25, iou_threshold: float = 0.5) -> list[Path]:
        """Save PNG plots into ``directory``: ``pr_curve.png`` (per class and overall),
        ``confusion_matrix.png`` (with class names) and ``per_class_ap.png``. Returns the paths.
        """
        from detectkit.metrics._plots import save_plots

        return save_plots(self, Path(directory), conf_threshold=conf_threshold, iou_threshold=iou_threshold)


def _check_area_ranges(area_ranges: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, float]]:
    if area_ranges is None:
        return dict(AREA_RANGES)
    if not isinstance(area_ranges, Mapping):
        raise InvalidInputError(f"area_ranges must be a mapping label -> (low, high), got {type(area_ranges).__name__}")
    out: dict[str, tuple[float, float]] = {}
    for label, rng in area_ranges.items():
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            raise InvalidInputError(f"area_ranges[{label!r}] must be (low, high), got {rng!r}") from None
        if not lo <= hi:
            raise InvalidInputError(f"area_ranges[{label!r}] must have low <= high, got {rng!r}")
        out[str(label)] = (lo, hi)
    missing = [k for k in AREA_RANGES if k not in out]
    if missing:
        raise InvalidInputError(f"area_ranges must include {list(AREA_RANGES)}, missing {missing}")
    return out


def _check_max_dets(max_dets: Sequence[int]) -> tuple[int, ...]:
    try:
        values = tuple(sorted(int(m) for m in max_dets))
    except (TypeError, ValueError):
        raise InvalidInputError(f"max_dets must be three positive integers, got {max_dets!r}") from None
    if len(values) != 3 or values[0] < 1 or any(int(m) != m for m in max_dets):
        raise InvalidInputError(f"max_dets must be three positive integers, got {max_dets!r}")
    return values


def evaluate(
    ground_truth: Any,
    predictions: Any,
    *,
    iou_type: IouType = "bbox",
    max_dets: Sequence[int] = (1, 10, 100),
    area_ranges: Mapping[str, Sequence[float]] | None = None,
) -> Metrics:
    """Evaluate predictions against ground truth the COCO way.

    Args:
        ground_truth: a ``Dataset``, a COCO ground-truth dict, or a path to annotations
            (COCO JSON, or any dataset ``detectkit.formats.read`` reads, e.g. a YOLO folder).
        predictions: a ``Dataset`` whose detections carry ``confidence``, a COCO results list,
            or a path (COCO results JSON, or a dataset with confidences, e.g. YOLO labels with a
            sixth confidence column).
        iou_type: ``"bbox"`` or ``"segm"`` (mask IoU on RLE, through pycocotools' mask API).
        max_dets: three detection limits per image, as COCO's ``maxDets``.
        area_ranges: label -> (low, high) area ranges; must hold ``all``, ``small``, ``medium``
            and ``large``. Defaults to COCO's.

    Returns:
        :class:`Metrics`; its ``stats`` equal pycocotools' ``COCOeval.stats``.

    Raises:
        InvalidInputError: predictions refer to images missing from the ground truth (names how
            many and which), or an argument is invalid.
        AnnotationParseError: an input file is malformed.
    """
    iou_type = check_choice(iou_type, "iou_type", ("bbox", "segm"))  # type: ignore[assignment]
    mdets = _check_max_dets(max_dets)
    ranges = _check_area_ranges(area_ranges)
    gt = load_ground_truth(ground_truth, iou_type=iou_type)
    dt = load_predictions(predictions, gt, iou_type=iou_type)
    return _evaluate_loaded(gt, dt, iou_type=iou_type, max_dets=mdets, area_ranges=ranges)


def _fmt_ids(ids: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def _evaluate_loaded(
    gt: GroundTruth,
    dt: Predictions,
    *,
    iou_type: str,
    max_dets: tuple[int, ...],
    area_ranges: dict[str, tuple[float, float]],
) -> Metrics:
    warnings: list[str] = []
    d_img = np.unique(dt.arrays.image_id)
    unknown = np.setdiff1d(d_img, gt.image_ids)
    if unknown.size:
        raise InvalidInputError(
            f"predictions refer to {unknown.size} image id(s) not in the ground truth "
            f"({gt.image_ids.size} images): {_fmt_ids(unknown)}"
        )
    cat_ids = np.array(sorted(gt.categories), dtype=np.int64)
    d_cats, d_counts = np.unique(dt.arrays.category_id, return_counts=True)
    extra = ~np.isin(d_cats, cat_ids)
    if extra.any():
        warnings.append(
            f"{int(d_counts[extra].sum())} prediction(s) of {int(extra.sum())} category id(s) not in the ground "
            f"truth categories were ignored: {_fmt_ids(d_cats[extra])}"
        )
    g_cats = np.unique(gt.arrays.category_id)
    g_extra = g_cats[~np.isin(g_cats, cat_ids)]
    if g_extra.size:
        warnings.append(
            f"ground-truth annotations of {g_extra.size} category id(s) missing from its category list were "
            f"ignored: {_fmt_ids(g_extra)}"
        )
    g_img = np.unique(gt.arrays.image_id)
    g_img_extra = g_img[~np.isin(g_img, gt.image_ids)]
    if g_img_extra.size:
        warnings.append(
            f"ground-truth annotations of {g_img_extra.size} image id(s) missing from its image list were "
            f"ignored: {_fmt_ids(g_img_extra)}"
        )
    no_gt = cat_ids[~np.isin(cat_ids, g_cats)]
    if no_gt.size:
        warnings.append(f"{no_gt.size} categor(y/ies) without ground truth (AP undefined): {_fmt_ids(no_gt)}")
    try:
        raw = run_coco_eval(
            gt.arrays,
            dt.arrays,
            image_ids=gt.image_ids,
            category_ids=cat_ids,
            iou_type=iou_type,
            max_dets=max_dets,
            area_ranges=area_ranges,
        )
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    ignore_all = gt.arrays.iscrowd
    in_eval = np.isin(gt.arrays.image_id, gt.image_ids) & np.isin(gt.arrays.category_id, cat_ids)
    num_gt = np.bincount(
        np.searchsorted(cat_ids, gt.arrays.category_id[in_eval & ~ignore_all]), minlength=len(cat_ids)
    ).astype(np.int64)
    names = {int(c): gt.categories.get(int(c), str(c)) for c in cat_ids}
    return Metrics(
        stats=raw.stats,
        iou_type=iou_type,
        category_ids=tuple(int(c) for c in cat_ids),
        names=names,
        precision=raw.precision,
        recall=raw.recall,
        scores=raw.scores,
        area_labels=tuple(raw.area_labels),
        max_dets=raw.max_dets,
        num_images=int(gt.image_ids.size),
        num_ground_truth=num_gt,
        warnings=tuple(warnings),
        _raw=raw,
        _gt=gt,
        _dt=dt,
    )


def evaluate_detector(detector: Any, dataset: Any, *, iou_type: IouType = "bbox") -> Metrics:
    """Run ``detector`` over every image of ``dataset`` and evaluate its detections against it.

    This is what ``Detector.evaluate(dataset)`` calls. Detector classes are mapped to the
    dataset's categories by name when every detector class name is a category name, else class
    ids are taken as category ids. For COCO-comparable numbers build the detector with a low
    ``conf`` (e.g. ``Detector(conf=0.001)``): mAP integrates over all confidences.

    Args:
        detector: anything with ``detect(path) -> Detections`` and ``names`` (a ``Detector``).
        dataset: a ``Dataset`` whose image records point at readable files (``record.path``).
        iou_type: ``"bbox"`` or ``"segm"`` (segmentation models: their masks are evaluated).

    Raises:
        InvalidInputError: an image record has no file to read.
    """
    from detectkit.metrics._inputs import PredictionRows, ground_truth_from_dataset, mask_utils, segm_from_detections

    iou_type = check_choice(iou_type, "iou_type", ("bbox", "segm"))  # type: ignore[assignment]
    gt = ground_truth_from_dataset(dataset, iou_type=iou_type)
    by_name = {name: cid for cid, name in gt.categories.items()}
    det_names = dict(getattr(detector, "names", {}) or {})
    mapping = {int(k): by_name[v] for k, v in det_names.items() if v in by_name}
    use_names = bool(det_names) and len(mapping) == len(det_names)
    mu = mask_utils("segmentation evaluation") if iou_type == "segm" else None
    rows = PredictionRows(with_segm=mu is not None)
    for record, _ in dataset:
        source = getattr(record, "path", None)
        if source is None:
            raise InvalidInputError(
                f"image {record.file_name!r} has no file path to run the detector on "
                "(read the dataset with its images folder, e.g. Dataset.from_coco(path, images=...))"
            )
        dets = detector.detect(source)
        n = len(dets)
        if n == 0:
            continue
        cls = np.asarray(dets.class_id, np.int64)
        if use_names:
            cls = np.array([mapping[int(c)] for c in cls], dtype=np.int64)
        rows.add(int(record.id), cls, dets.xyxy, dets.confidence)
        if rows.segm is not None:
            rows.segm.extend(segm_from_detections(dets, int(record.height), int(record.width), mu))
    arrays = rows.arrays()
    return _evaluate_loaded(
        gt,
        Predictions(arrays=arrays, source=f"<{type(detector).__name__}>"),
        iou_type=iou_type,
        max_dets=(1, 10, 100),
        area_ranges=dict(AREA_RANGES),
    )
