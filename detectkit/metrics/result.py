"""``Metrics``: the result of an evaluation (the 12 COCO numbers, per-class tables, PR curves,
confusion matrix, F1 threshold, plots) and ``ConfusionMatrix``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectkit._checks import check_fraction
from detectkit.errors import InvalidInputError
from detectkit.metrics._engine import (
    IOU_THRESHOLDS,
    RECALL_THRESHOLDS,
    EvalResult,
)
from detectkit.metrics._inputs import GroundTruth, Predictions

__all__ = ["STAT_NAMES", "ConfusionMatrix", "IouType", "Metrics"]

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
