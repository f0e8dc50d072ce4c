"""Turn evaluation inputs (COCO dicts and files, ``Dataset`` objects, other formats) into flat arrays.

Files are read by :mod:`detectkit.formats` (one COCO reader, one YOLO parser) into an
:class:`~detectkit.table.ObjectTable`, and the table becomes the engine's arrays here; the
conversions reproduce what pycocotools' ``COCO``/``loadRes`` do to annotations (areas, crowd
flags, polygon -> RLE) so results stay exact.

Bad records follow the readers' one rule, the same in ``detectkit eval`` and ``detectkit
convert``: a record of a *file* that breaks the format's rules (a box without 4 numbers, an
unknown image id in the ground truth, ...) is skipped, and a warning counts the skipped records
and names the first (file and record); ``strict=True`` (``--strict``) raises at the first one
instead. Skipping is the default because one broken record among thousands should not stop
a conversion or an evaluation, and the count is never silent (``Metrics.warnings``, stderr).
COCO dicts and lists passed in memory are the caller's own arguments and are always checked
strictly (a bad record raises), as any bad argument does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._checks import check_choice
from detectkit.errors import AnnotationParseError, InvalidInputError, MissingDependencyError
from detectkit.metrics._engine import EvalArrays

__all__ = ["GroundTruth", "Predictions", "load_ground_truth", "load_predictions"]


@dataclass
class GroundTruth:
    """Ground truth as flat arrays plus the image and category lists it is evaluated over."""

    arrays: EvalArrays
    image_ids: np.ndarray  # int64, the evaluation images (including images without objects)
    image_sizes_hw: dict[int, tuple[int, int]]
    categories: dict[int, str]  # id -> name, the evaluation categories
    file_names: dict[str, int] = field(default_factory=dict)  # file name (and stem) -> image id
    source: str = "<ground truth>"
    notes: list[str] = field(default_factory=list)  # bad records skipped while reading


@dataclass
class Predictions:
    """Predictions as flat arrays (with scores)."""

    arrays: EvalArrays
    source: str = "<predictions>"
    category_names: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # bad records skipped while reading


def mask_utils(purpose: str) -> Any:
    try:
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - pycocotools is a dependency
        raise MissingDependencyError("pycocotools", extra="dev", purpose=purpose) from None
    return mask_utils


def _to_rle(segm: Any, h: int, w: int, mask_utils: Any) -> Any:
    """pycocotools' ``annToRLE``: polygons -> merged RLE, uncompressed RLE -> compressed."""
    if isinstance(segm, list):
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm, Mapping) and isinstance(segm.get("counts"), list):
        return mask_utils.frPyObjects(dict(segm), h, w)
    return segm


def _skipped_note(issues: Sequence[Any], source: str) -> list[str]:
    """One note counting the bad records a reader skipped (as :func:`formats` warns), or none."""
    errors = [i for i in issues if getattr(i, "severity", "error") == "error"]
    if not errors:
        return []
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    hint = "(pass strict=True to stop at it instead)"
    return [f"{source}: skipped {len(errors)} bad record(s): {errors[0]}{more} {hint}"]


def ground_truth_from_coco(
    data: Mapping[str, Any], *, iou_type: str, source: str = "<ground truth>", strict: bool = True
) -> GroundTruth:
    """COCO ground-truth dict (``images``, ``annotations``, ``categories``) -> :class:`GroundTruth`.

    Read by :func:`detectkit.formats.coco.from_dict` (strict: a dict is an argument).
    """
    from detectkit.formats import coco

    if not isinstance(data, Mapping) or "images" not in data or "annotations" not in data:
        raise AnnotationParseError(source, "expected a COCO object with 'images', 'annotations' and 'categories'")
    ds = coco.from_dict(data, source=source, strict=strict, require_files=False)
    return ground_truth_from_coco_dataset(ds, iou_type=iou_type, source=source)


def ground_truth_from_coco_dataset(ds: Any, *, iou_type: str, source: str) -> GroundTruth:
    """A ``Dataset`` read from COCO (boxes and ids as the file gives them) -> :class:`GroundTruth`.

    Boxes are the file's ``[x, y, w, h]`` as given, a missing ``area`` is the box's ``w * h``
    and a missing annotation ``id`` is its 1-based position in the file's list (what the
    engine saw before the formats reader did the reading).
    """
    records = ds.images
    rec_ids = np.fromiter((r.id for r in records), dtype=np.int64, count=len(records))
    sizes = {r.id: (r.height, r.width) for r in records}
    names: dict[str, int] = {}
    for r in records:
        if r.file_name:
            names[r.file_name] = r.id
            names.setdefault(Path(r.file_name).name, r.id)
            names.setdefault(Path(r.file_name).stem, r.id)
    t = ds.table
    n = len(t)
    image_id = rec_ids[t.image_index] if n else np.zeros(0, np.int64)
    given = t.extras.get("coco", {}).get("bbox")
    if given is not None:
        xywh = np.asarray(given, dtype=np.float64).reshape(n, 4)
    else:
        xywh = np.concatenate([t.xyxy[:, :2], t.xyxy[:, 2:] - t.xyxy[:, :2]], axis=1)
    box_area = xywh[:, 2] * xywh[:, 3]
    area = np.asarray(t.data["area"], dtype=np.float64) if "area" in t.data else np.full(n, np.nan)
    area = np.where(np.isnan(area), box_area, area)
    record = t.provenance.record if t.provenance is not None else np.arange(n, dtype=np.int64)
    ann_id = np.asarray(t.data["annotation_id"], np.int64) if "annotation_id" in t.data else np.full(n, -1)
    ann_id = np.where(ann_id == -1, record + 1, ann_id)
    iscrowd = np.asarray(t.data["iscrowd"]).astype(bool) if "iscrowd" in t.data else np.zeros(n, bool)
    segm: list[Any] | None = None
    if iou_type == "segm":
        mu = mask_utils("segmentation evaluation")
        segm = []
        given_segm = t.data["segmentation"].tolist() if "segmentation" in t.data else [None] * n
        for i, (s, iid) in enumerate(zip(given_segm, image_id.tolist())):
            if s is None:
                raise AnnotationParseError(
                    source, "iou_type='segm' needs 'segmentation'", record=f"annotations[{int(record[i])}]"
                )
            h, w = sizes.get(iid, (0, 0))
            segm.append(_to_rle(s, h, w, mu))
    arrays = EvalArrays(
        image_id=image_id,
        category_id=np.asarray(t.class_id, np.int64),
        xywh=xywh,
        area=area,
        iscrowd=iscrowd,
        ann_id=ann_id,
        segmentation=segm,
    )
    return GroundTruth(
        arrays=arrays,
        image_ids=np.unique(rec_ids),
        image_sizes_hw=sizes,
        categories={int(c.id): str(c.name) for c in ds.categories},
        file_names=names,
        source=source,
        notes=_skipped_note(ds.issues, source),
    )


def predictions_from_coco(
    results: Any, gt: GroundTruth, *, iou_type: str, source: str = "<predictions>", strict: bool = True
) -> Predictions:
    """COCO results (``image_id``, ``category_id``, ``bbox`` and/or ``segmentation``, ``score``).

    ``results`` is a list, a COCO object whose annotations carry scores, or a path; read by
    :func:`detectkit.formats.coco.results_table` (image and category ids kept as given:
    :func:`evaluate` reports the ones the ground truth lacks). Reproduces ``COCO.loadRes``: if
    the first result has a box, every area is ``w * h`` of the box; otherwise areas and boxes
    come from the RLE masks.
    """
    from detectkit.formats import coco

    read = coco.results_table(results, strict=strict, name=source)
    t = read.table
    n = len(t)
    bad = [i for i in read.issues if i.severity == "error"]
    if n == 0 and bad:  # not one usable result: the wrong file (e.g. ground truth), not a few bad records
        raise AnnotationParseError(
            bad[0].path,
            f"none of its {len(bad)} result(s) is usable (ground truth given?); first: {bad[0].message}",
            record=bad[0].record,
        )
    extras = t.extras.get("coco", {})
    xywh = np.asarray(extras["bbox"], dtype=np.float64).reshape(n, 4)
    score = np.asarray(extras["score"], dtype=np.float64).reshape(n)
    image_id = np.asarray(t.image_index, np.int64)
    from_mask = extras.get("box_from_mask")
    box_mode = n > 0 and not (from_mask is not None and bool(from_mask[0]))
    segm: list[Any] | None = None
    given_segm = t.data["segmentation"].tolist() if "segmentation" in t.data else [None] * n
    if box_mode:
        area = xywh[:, 2] * xywh[:, 3]
        if iou_type == "segm":
            mu = mask_utils("segmentation evaluation")
            segm = []
            for s, b, iid in zip(given_segm, xywh.tolist(), image_id.tolist()):
                if s is None:
                    x1, y1 = b[0], b[1]
                    x2, y2 = b[0] + b[2], b[1] + b[3]
                    s = [[x1, y1, x1, y2, x2, y2, x2, y1]]
                h, w = gt.image_sizes_hw.get(iid, (0, 0))
                segm.append(_to_rle(s, h, w, mu))
    elif n > 0:
        mu = mask_utils("segmentation results")
        rles = []
        for s, iid in zip(given_segm, image_id.tolist()):
            h, w = gt.image_sizes_hw.get(iid, (0, 0))
            rles.append(_to_rle(s, h, w, mu))
        area = np.asarray(mu.area(rles), dtype=np.float64).reshape(n)
        segm = rles if iou_type == "segm" else None
    else:
        area = np.zeros(0)
        segm = [] if iou_type == "segm" else None
    arrays = EvalArrays(
        image_id=image_id,
        category_id=np.asarray(t.class_id, np.int64),
        xywh=xywh,
        area=area,
        iscrowd=np.zeros(n, dtype=bool),
        score=score,
        ann_id=np.arange(1, n + 1, dtype=np.int64),
        segmentation=segm,
    )
    return Predictions(
        arrays=arrays, source=source, category_names=read.category_names, notes=_skipped_note(read.issues, source)
    )


def _json_wording(exc: AnnotationParseError) -> AnnotationParseError | None:
    """The reader's invalid-JSON error in evaluation's words ("not valid JSON"), else None."""
    if exc.message.startswith(("invalid JSON", "not UTF-8")):
        message = exc.message.replace("invalid JSON", "not valid JSON", 1)
        if not message.startswith("not valid JSON"):
            message = f"not valid JSON: {message}"
        return AnnotationParseError(exc.path, message, line=exc.line, record=exc.record)
    return None


def check_format(fmt: str | None, name: str) -> str | None:
    """None, or one of :data:`detectkit.formats.FORMATS` (``InvalidInputError`` naming ``name``).

    >>> check_format("yolo", "ground_truth_format")
    'yolo'
    """
    if fmt is None:
        return None
    from detectkit.formats import FORMATS

    return check_choice(fmt, name, FORMATS)


def load_ground_truth(obj: Any, *, iou_type: str, strict: bool = False, format: str | None = None) -> GroundTruth:
    """Ground truth from a COCO dict, a COCO JSON path, a ``Dataset`` or any path ``formats.read`` knows.

    Files are read by :mod:`detectkit.formats` (``strict`` as there); a dict always strictly.
    ``format`` names the format of a path instead of detecting it (``coco``, ``yolo``, ...).
    """
    if isinstance(obj, GroundTruth):
        return obj
    if isinstance(obj, Mapping):
        return ground_truth_from_coco(obj, iou_type=iou_type)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise InvalidInputError(f"ground truth {path} does not exist (GROUND_TRUTH: a COCO JSON file or a dataset)")
        if path.is_file() and (format == "coco" or (format is None and path.suffix.lower() == ".json")):
            from detectkit.formats import coco

            try:
                ds = coco.read(path, strict=strict, require_files=False)
            except AnnotationParseError as exc:
                worded = _json_wording(exc)
                if worded is not None:
                    raise worded from None
                if not exc.message.startswith("expected a JSON object"):
                    raise
                # a JSON file of another format (e.g. LabelMe): read as a dataset below
            else:
                return ground_truth_from_coco_dataset(ds, iou_type=iou_type, source=str(path))
        obj = _read_dataset(path, "ground_truth", strict=strict, format=format)
    if _is_dataset(obj):
        gt = ground_truth_from_dataset(obj, iou_type=iou_type)
        gt.notes = _skipped_note(getattr(obj, "issues", ()), gt.source)
        return gt
    raise InvalidInputError(
        f"ground_truth must be a Dataset, a COCO dict or a path to an annotation file/folder, got {type(obj).__name__}"
    )


def load_predictions(
    obj: Any, gt: GroundTruth, *, iou_type: str, strict: bool = False, format: str | None = None
) -> Predictions:
    """Predictions from a COCO results list or path, a ``Dataset`` with confidences, or another format.

    Files are read by :mod:`detectkit.formats` (``strict`` as there); a list or dict always strictly.
    ``format`` names the format of a path instead of detecting it (``coco`` also takes a results list).
    """
    if isinstance(obj, Predictions):
        return obj
    if isinstance(obj, list):
        return predictions_from_coco(obj, gt, iou_type=iou_type)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise InvalidInputError(
                f"predictions {path} do not exist (PREDICTIONS: a COCO results JSON or a dataset with confidences)"
            )
        if path.is_file() and (format == "coco" or (format is None and path.suffix.lower() == ".json")):
            try:
                dt = predictions_from_coco(path, gt, iou_type=iou_type, source=str(path), strict=strict)
            except AnnotationParseError as exc:
                worded = _json_wording(exc)
                if worded is not None:
                    raise worded from None
                if not exc.message.startswith("expected a list of COCO results"):
                    raise
                # a JSON file of another format: read as a dataset below
            else:
                if not dt.category_names:  # a results list: names from the annotations.json beside it
                    dt.category_names = _sibling_category_names(path)
                return dt
        labels = _yolo_label_files(path) if format in (None, "yolo") else []
        if labels:
            return predictions_from_yolo_labels(labels, gt, iou_type=iou_type, source=str(path), strict=strict)
        obj = _read_dataset(path, "predictions", strict=strict, format=format)
    if isinstance(obj, Mapping) and "annotations" in obj:
        return predictions_from_coco(obj, gt, iou_type=iou_type)
    if _is_dataset(obj):
        dt = predictions_from_dataset(obj, gt, iou_type=iou_type)
        dt.notes = _skipped_note(getattr(obj, "issues", ()), dt.source)
        return dt
    raise InvalidInputError(
        "predictions must be a Dataset, a COCO results list or a path to a results file/folder, "
        f"got {type(obj).__name__}"
    )


def _sibling_category_names(results_path: Path) -> dict[int, str]:
    """Category names of a COCO results file, from the ``annotations.json`` written beside it.

    ``detect --save-dataset DIR --format coco`` writes ``DIR/results.json`` (no names: the COCO
    results format has none) and ``DIR/annotations.json`` (with ``categories``).
    """
    sibling = results_path.with_name("annotations.json")
    if sibling == results_path or not sibling.is_file():
        return {}
    try:
        data = json.loads(sibling.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    from detectkit.formats.coco.results import category_names

    return category_names(data)


# ---------------------------------------------------------------------------- YOLO predictions
def _yolo_label_files(path: Path) -> list[Path]:
    """Label files of a YOLO predictions folder (``*.txt`` in it or under ``labels/``), else []."""
    if path.is_file():
        return [path] if path.suffix == ".txt" and path.name != "classes.txt" else []
    folder = path / "labels" if (path / "labels").is_dir() else path
    files = sorted(p for p in folder.rglob("*.txt") if p.name != "classes.txt")
    if not files or ((path / "data.yaml").is_file() and not _has_confidence(files)):
        return []
    return files


def _has_confidence(files: list[Path]) -> bool:
    for f in files[:50]:
        for line in f.read_text(encoding="utf-8").splitlines():
            n = len(line.split())
            if n:
                return n == 6 or (n >= 8 and n % 2 == 0)
    return False


def predictions_from_yolo_labels(
    files: list[Path], gt: GroundTruth, *, iou_type: str, source: str = "<predictions>", strict: bool = False
) -> Predictions:
    """YOLO prediction label files (``class cx cy w h conf`` or ``class x1 y1 ... xn yn conf``, normalised).

    Each file ``<stem>.txt`` belongs to the ground-truth image with that file stem; its size
    turns the normalised coordinates into pixels. YOLO class index ``i`` is the ``i``-th
    ground-truth category in id order (the convention of ``detectkit.formats`` YOLO files).
    The lines are parsed by :func:`detectkit.formats.yolo.labels_table`.
    """
    from detectkit.dataset import ImageRecord
    from detectkit.formats.yolo import labels_table

    cat_ids = sorted(gt.categories)
    missing: list[str] = []
    matched: list[Path] = []
    records: list[ImageRecord] = []
    for f in files:
        iid = gt.file_names.get(f.stem)
        if iid is None:
            if f.read_text(encoding="utf-8").strip():
                missing.append(f.name)
            continue
        h, w = gt.image_sizes_hw.get(iid, (0, 0))
        if h <= 0 or w <= 0:
            raise AnnotationParseError(f, "the ground truth does not give this image's size (needed for YOLO)")
        matched.append(f)
        records.append(ImageRecord(iid, f.name, w, h))
    if missing:
        raise InvalidInputError(
            f"predictions hold {len(missing)} label file(s) for images not in the ground truth: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    t, issues = labels_table(matched, records, task="segment", confidence=True, strict=strict)
    n = len(t)
    rec_ids = np.fromiter((r.id for r in records), np.int64, len(records))
    image_id = rec_ids[t.image_index] if n else np.zeros(0, np.int64)
    idx = np.asarray(t.class_id, np.int64)
    lut = np.asarray(cat_ids, dtype=np.int64)
    category_id = -1 - idx  # an index beyond the categories: an id the ground truth lacks (reported)
    inside = idx < len(lut)
    category_id[inside] = lut[idx[inside]]
    xywh = np.concatenate([t.xyxy[:, :2], t.xyxy[:, 2:] - t.xyxy[:, :2]], axis=1)
    score = t.extras["yolo"]["confidence"] if n else np.zeros(0)
    segm: list[Any] | None = None
    if iou_type == "segm":
        mu = mask_utils("segmentation evaluation")
        segm = []
        polygons = t.data["segmentation"].tolist() if "segmentation" in t.data else [None] * n
        for poly, (x1, y1, bw_, bh_), iid in zip(polygons, xywh.tolist(), image_id.tolist()):
            h, w = gt.image_sizes_hw[iid]
            shape = poly if poly is not None else [[x1, y1, x1, y1 + bh_, x1 + bw_, y1 + bh_, x1 + bw_, y1]]
            segm.append(_to_rle(shape, h, w, mu))
    arrays = EvalArrays(
        image_id=image_id,
        category_id=category_id,
        xywh=xywh,
        area=xywh[:, 2] * xywh[:, 3],
        iscrowd=np.zeros(n, bool),
        score=np.asarray(score, dtype=np.float64),
        ann_id=np.arange(1, n + 1, dtype=np.int64),
        segmentation=segm,
    )
    return Predictions(arrays=arrays, source=source, notes=_skipped_note(issues, source))


# ---------------------------------------------------------------------------- Dataset bridge
def _is_dataset(obj: Any) -> bool:
    return hasattr(obj, "images") and hasattr(obj, "categories") and hasattr(obj, "__iter__")


def _read_dataset(path: Path, argument: str, *, strict: bool = False, format: str | None = None) -> Any:
    """Any dataset :func:`detectkit.formats.read` reads (its skipped records: ``Dataset.issues``).

    A format that cannot be told from the files is an error naming ``<argument>_format=``.
    """
    from detectkit import formats

    try:
        return formats.read(path, strict=strict, format=format)
    except InvalidInputError as exc:
        message = str(exc)
        if format is None and message.endswith("; pass format="):
            raise InvalidInputError(message.replace("; pass format=", f"; pass {argument}_format=")) from None
        raise


def _dataset_rows(ds: Any, argument: str) -> list[tuple[Any, Any]]:
    try:
        return list(iter(ds))
    except TypeError:
        raise InvalidInputError(f"{argument} must iterate as (ImageRecord, Detections) pairs") from None


def segm_from_detections(dets: Any, h: int, w: int, mu: Any) -> list[Any]:
    out: list[Any] = []
    given = dets.data.get("segmentation") if hasattr(dets, "data") else None
    for j in range(len(dets)):
        s = given[j] if given is not None else None
        if s is None and dets.mask is not None:
            s = mu.encode(np.asfortranarray(dets.mask[j].astype(np.uint8)))
        if s is None:
            x1, y1, x2, y2 = (float(v) for v in dets.xyxy[j])
            s = [[x1, y1, x1, y2, x2, y2, x2, y1]]
        out.append(_to_rle(s, h, w, mu))
    return out


class PredictionRows:
    """Collects predictions image by image and packs them as :class:`EvalArrays`.

    Rows keep the order they were added in; annotation ids are 1..N; ``segmentation`` is a
    list (one RLE per row) only when built ``with_segm``.
    """

    def __init__(self, *, with_segm: bool) -> None:
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in ("img", "cat", "xyxy", "score")}
        self.segm: list[Any] | None = [] if with_segm else None

    def add(self, image_id: int, class_id: np.ndarray, xyxy: np.ndarray, score: np.ndarray) -> None:
        """One image's boxes (absolute xyxy), category ids and scores."""
        self._parts["img"].append(np.full(len(class_id), image_id, np.int64))
        self._parts["cat"].append(np.asarray(class_id, np.int64))
        self._parts["xyxy"].append(np.asarray(xyxy, np.float64))
        self._parts["score"].append(np.asarray(score, np.float64))

    def _cat(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        parts = self._parts[key]
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    def arrays(self) -> EvalArrays:
        """Everything added so far, as the engine's input arrays."""
        from detectkit import boxes as box_ops

        xywh = box_ops.convert(self._cat("xyxy", (0, 4), np.float64), "xyxy", "xywh")
        n_all = len(xywh)
        return EvalArrays(
            image_id=self._cat("img", (0,), np.int64),
            category_id=self._cat("cat", (0,), np.int64),
            xywh=xywh,
            area=xywh[:, 2] * xywh[:, 3],
            iscrowd=np.zeros(n_all, bool),
            score=self._cat("score", (0,), np.float64),
            ann_id=np.arange(1, n_all + 1, dtype=np.int64),
            segmentation=self.segm,
        )


def ground_truth_from_dataset(ds: Any, *, iou_type: str) -> GroundTruth:
    """A ``Dataset`` (categories, image records, per-image ``Detections``) -> :class:`GroundTruth`."""
    from detectkit import boxes as box_ops

    rows = _dataset_rows(ds, "ground_truth")
    mu = mask_utils("segmentation evaluation") if iou_type == "segm" else None
    image_ids = np.array([int(rec.id) for rec, _ in rows], dtype=np.int64)
    sizes = {int(rec.id): (int(rec.height), int(rec.width)) for rec, _ in rows}
    names: dict[str, int] = {}
    for rec, _ in rows:
        fn = str(rec.file_name)
        names[fn] = int(rec.id)
        names.setdefault(Path(fn).name, int(rec.id))
        names.setdefault(Path(fn).stem, int(rec.id))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("img", "cat", "xywh", "area", "crowd", "aid")}
    segm: list[Any] | None = [] if mu is not None else None
    next_id = 1
    for rec, dets in rows:
        n = len(dets)
        if n == 0:
            continue
        xywh = box_ops.convert(np.asarray(dets.xyxy, dtype=np.float64), "xyxy", "xywh")
        data = dets.data
        parts["img"].append(np.full(n, int(rec.id), np.int64))
        parts["cat"].append(np.asarray(dets.class_id, np.int64))
        parts["xywh"].append(xywh)
        rles = segm_from_detections(dets, int(rec.height), int(rec.width), mu) if mu is not None else None
        if "area" in data and not np.isnan(np.asarray(data["area"], np.float64)).any():
            parts["area"].append(np.asarray(data["area"], np.float64))
        elif rles is not None and mu is not None:
            parts["area"].append(np.asarray(mu.area(rles), np.float64).reshape(n))
        elif dets.mask is not None:
            parts["area"].append(dets.mask.reshape(n, -1).sum(axis=1).astype(np.float64))
        else:
            parts["area"].append(xywh[:, 2] * xywh[:, 3])
        parts["crowd"].append(np.asarray(data["iscrowd"]).astype(bool) if "iscrowd" in data else np.zeros(n, bool))
        if "annotation_id" in data:
            parts["aid"].append(np.asarray(data["annotation_id"], np.int64))
        else:
            parts["aid"].append(np.arange(next_id, next_id + n, dtype=np.int64))
        next_id += n
        if segm is not None and rles is not None:
            segm.extend(rles)

    def cat(key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.concatenate(parts[key]) if parts[key] else np.zeros(shape, dtype)

    arrays = EvalArrays(
        image_id=cat("img", (0,), np.int64),
        category_id=cat("cat", (0,), np.int64),
        xywh=cat("xywh", (0, 4), np.float64),
        area=cat("area", (0,), np.float64),
        iscrowd=cat("crowd", (0,), bool),
        ann_id=cat("aid", (0,), np.int64),
        segmentation=segm,
    )
    categories = {int(c.id): str(c.name) for c in ds.categories}
    return GroundTruth(
        arrays=arrays,
        image_ids=np.unique(image_ids),
        image_sizes_hw=sizes,
        categories=categories,
        file_names=names,
        source=str(getattr(ds, "path", None) or "<ground truth dataset>"),
    )


def predictions_from_dataset(ds: Any, gt: GroundTruth, *, iou_type: str) -> Predictions:
    """A ``Dataset`` of predictions (``confidence`` set) -> :class:`Predictions`.

    Images are matched to the ground truth by id when the ids agree, otherwise by file name.
    """

    rows = _dataset_rows(ds, "predictions")
    mu = mask_utils("segmentation evaluation") if iou_type == "segm" else None
    gt_ids = set(gt.image_ids.tolist())
    by_name = gt.file_names

    def image_id_of(rec: Any) -> int | None:
        fn = str(rec.file_name)
        for key in (fn, Path(fn).name, Path(fn).stem):
            if key in by_name:
                return by_name[key]
        return int(rec.id) if int(rec.id) in gt_ids and not by_name else None

    rows_out = PredictionRows(with_segm=mu is not None)
    missing: list[str] = []
    for rec, dets in rows:
        n = len(dets)
        iid = image_id_of(rec)
        if iid is None:
            if n:
                missing.append(str(rec.file_name))
            continue
        if n == 0:
            continue
        if dets.confidence is None:
            raise InvalidInputError(f"predictions for image {rec.file_name!r} have no confidence (ground truth given?)")
        rows_out.add(iid, dets.class_id, dets.xyxy, dets.confidence)
        if rows_out.segm is not None:
            h, w = gt.image_sizes_hw.get(iid, (int(rec.height), int(rec.width)))
            rows_out.segm.extend(segm_from_detections(dets, h, w, mu))
    if missing:
        raise InvalidInputError(
            f"predictions hold {len(missing)} image(s) not in the ground truth: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )

    arrays = rows_out.arrays()
    names = {int(c.id): str(c.name) for c in getattr(ds, "categories", [])}
    return Predictions(
        arrays=arrays, source=str(getattr(ds, "path", None) or "<predictions dataset>"), category_names=names
    )
