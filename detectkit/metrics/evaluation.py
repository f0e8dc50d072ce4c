"""``evaluate`` / ``evaluate_detector``: inputs -> the engine -> :class:`~detectkit.metrics.result.Metrics`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detectkit._checks import check_choice
from detectkit.errors import InvalidInputError
from detectkit.metrics._engine import (
    AREA_RANGES,
    run_coco_eval,
)
from detectkit.metrics._inputs import GroundTruth, Predictions, check_format, load_ground_truth, load_predictions
from detectkit.metrics.result import IouType, Metrics

__all__ = ["evaluate", "evaluate_detector"]


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
    category_map: Mapping[int, int] | None = None,
    category_offset: int = 0,
    strict: bool = False,
    ground_truth_format: str | None = None,
    predictions_format: str | None = None,
) -> Metrics:
    """Evaluate predictions against ground truth the COCO way.

    Categories are matched by name whenever both sides name them (a YOLO ground truth numbering
    from 0 and COCO predictions numbering from 1 evaluate correctly). Without names, prediction
    ids are taken as ground-truth ids; a mismatch the ids show (every prediction id shifted off
    the ground-truth ids, or no prediction id among them) is an error naming
    ``category_offset``/``category_map`` rather than a near-zero mAP.

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
        category_map: prediction category id -> ground-truth category id (ids not in the map
            are kept); overrides matching by name.
        category_offset: added to every prediction category id (after ``category_map``), e.g.
            ``-1`` for predictions numbered from 1 against ground truth numbered from 0.
        strict: raise :class:`AnnotationParseError` at the first bad record of an input *file*.
            By default files are read as ``detectkit convert`` reads them (``detectkit.formats``):
            a bad record is skipped, and ``Metrics.warnings`` counts the skipped records and
            names the first. COCO dicts and lists passed in memory are always checked strictly.
        ground_truth_format: the format of a ``ground_truth`` path (``coco``, ``yolo``, ``voc``,
            ``labelme``, ``cvat``) when it cannot be told from the files; None detects it.
        predictions_format: the same for a ``predictions`` path (``coco`` also reads a COCO
            results list, ``yolo`` label files with a sixth confidence column).

    Returns:
        :class:`Metrics`; its ``stats`` equal pycocotools' ``COCOeval.stats``.

    Raises:
        InvalidInputError: predictions refer to images missing from the ground truth (names how
            many and which), their category ids visibly do not match the ground truth's (see
            ``category_offset``), or an argument is invalid.
        AnnotationParseError: an input file is malformed (or holds a bad record, when
            ``strict``), or an in-memory COCO dict / list holds a bad record.
    """
    iou_type = check_choice(iou_type, "iou_type", ("bbox", "segm"))  # type: ignore[assignment]
    mdets = _check_max_dets(max_dets)
    ranges = _check_area_ranges(area_ranges)
    gt_format = check_format(ground_truth_format, "ground_truth_format")
    dt_format = check_format(predictions_format, "predictions_format")
    gt = load_ground_truth(ground_truth, iou_type=iou_type, strict=strict, format=gt_format)
    dt = load_predictions(predictions, gt, iou_type=iou_type, strict=strict, format=dt_format)
    dt, notes = _reconcile_categories(gt, dt, category_map=category_map, category_offset=category_offset)
    notes = [*gt.notes, *dt.notes, *notes]
    return _evaluate_loaded(gt, dt, iou_type=iou_type, max_dets=mdets, area_ranges=ranges, notes=notes)


def _reconcile_categories(
    gt: GroundTruth, dt: Predictions, *, category_map: Mapping[int, int] | None, category_offset: int
) -> tuple[Predictions, list[str]]:
    """Map prediction category ids onto the ground truth's: explicit map/offset, else by name, else checked ids."""
    import dataclasses

    notes: list[str] = []
    ids = dt.arrays.category_id
    if ids.size == 0:
        return dt, notes
    gt_ids = np.array(sorted(gt.categories), dtype=np.int64)
    explicit = bool(category_map) or category_offset != 0
    if category_map:
        try:
            cmap = {int(k): int(v) for k, v in category_map.items()}
        except (TypeError, ValueError):
            raise InvalidInputError(f"category_map must map int -> int, got {category_map!r}") from None
        new = np.array([cmap.get(int(c), int(c)) for c in ids], dtype=np.int64)
    else:
        new = ids.copy()
    if category_offset:
        new = new + int(category_offset)
    if not explicit and dt.category_names:
        by_name = {name: cid for cid, name in gt.categories.items()}
        shared = [c for c, name in dt.category_names.items() if name in by_name]
        if shared:  # both sides name their categories: match by name
            lut = {int(c): by_name[name] for c, name in dt.category_names.items() if name in by_name}
            moved = [f"{c}->{lut[c]}" for c in sorted(lut) if lut[c] != c]
            unknown_id = int(gt_ids.min()) - 1 if gt_ids.size else -1
            new = np.array([lut.get(int(c), unknown_id) for c in ids], dtype=np.int64)
            unmatched = sorted({str(dt.category_names.get(int(c), c)) for c in ids if int(c) not in lut})
            if unmatched:
                notes.append(
                    f"{int(np.sum(new == unknown_id))} prediction(s) of categor(y/ies) the ground truth does not name "
                    f"were ignored: {', '.join(unmatched[:10])}"
                )
            if moved:
                notes.append(f"prediction categories matched to the ground truth by name (ids {', '.join(moved[:10])})")
            return dataclasses.replace(dt, arrays=dataclasses.replace(dt.arrays, category_id=new)), notes
    if not explicit and gt_ids.size:
        present = np.unique(new)
        if not np.isin(present, gt_ids).all():
            fits = [k for k in (-1, 1, int(gt_ids.min() - present.min())) if k and np.isin(present + k, gt_ids).all()]
            if fits or not np.isin(present, gt_ids).any():
                hint = (
                    f"pass --category-offset {fits[0]} (evaluate(..., category_offset={fits[0]}))"
                    if fits
                    else "pass --category-map PRED=GT,... (evaluate(..., category_map={...}))"
                )
                raise InvalidInputError(
                    f"prediction category ids {_fmt_ids(present)} do not match the ground-truth category ids "
                    f"{_fmt_ids(gt_ids)} ({', '.join(f'{c}={n}' for c, n in list(gt.categories.items())[:10])}) "
                    f"and {dt.source} names no categories to match by: {hint}, or give predictions with "
                    "category names (e.g. the annotations.json detect --save-dataset writes beside results.json)"
                )
    if explicit:
        return dataclasses.replace(dt, arrays=dataclasses.replace(dt.arrays, category_id=new)), notes
    return dt, notes


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
    notes: Sequence[str] = (),
) -> Metrics:
    warnings: list[str] = list(notes)
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
