"""Turn evaluation inputs (COCO dicts and files, ``Dataset`` objects, other formats) into flat arrays.

The COCO path reads JSON straight into numpy arrays (no per-annotation objects), which is what
makes evaluation from files fast; the conversions reproduce what pycocotools' ``COCO``/``loadRes``
do to annotations (areas, crowd flags, polygon -> RLE) so results stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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


@dataclass
class Predictions:
    """Predictions as flat arrays (with scores)."""

    arrays: EvalArrays
    source: str = "<predictions>"
    category_names: dict[int, str] = field(default_factory=dict)


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


def _read_json(path: Path, what: str) -> Any:
    """The parsed file (see :func:`detectkit.formats.parse_json`)."""
    from detectkit.formats import parse_json

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{what} file not found: {path}") from None
    try:
        return parse_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationParseError(path, f"not valid JSON: {exc}") from None


def _boxes(items: Sequence[Mapping[str, Any]], source: str, key: str = "bbox") -> np.ndarray:
    try:
        arr = np.array([a[key] for a in items], dtype=np.float64)
    except KeyError:
        bad = next(i for i, a in enumerate(items) if key not in a)
        raise AnnotationParseError(source, f"annotation has no {key!r}", record=f"annotations[{bad}]") from None
    except (ValueError, TypeError):
        bad = next((i for i, a in enumerate(items) if not isinstance(a[key], list) or len(a[key]) != 4), 0)
        raise AnnotationParseError(
            source, f"{key} must be [x, y, width, height], got {items[bad][key]!r}", record=f"annotations[{bad}]"
        ) from None
    return arr.reshape(-1, 4)


def ground_truth_from_coco(data: Mapping[str, Any], *, iou_type: str, source: str = "<ground truth>") -> GroundTruth:
    """COCO ground-truth dict (``images``, ``annotations``, ``categories``) -> :class:`GroundTruth`."""
    if not isinstance(data, Mapping) or "images" not in data or "annotations" not in data:
        raise AnnotationParseError(source, "expected a COCO object with 'images', 'annotations' and 'categories'")
    images = data["images"]
    anns = data["annotations"]
    cats = data.get("categories", [])
    try:
        image_ids = np.array([im["id"] for im in images], dtype=np.int64)
        sizes = {int(im["id"]): (int(im.get("height", 0) or 0), int(im.get("width", 0) or 0)) for im in images}
        categories = {int(c["id"]): str(c.get("name", c["id"])) for c in cats}
        names: dict[str, int] = {}
        for im in images:
            if "file_name" in im:
                fn = str(im["file_name"])
                names[fn] = int(im["id"])
                names.setdefault(Path(fn).name, int(im["id"]))
                names.setdefault(Path(fn).stem, int(im["id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationParseError(source, f"malformed images/categories: {exc!r}") from None
    n = len(anns)
    try:
        image_id = np.fromiter((a["image_id"] for a in anns), dtype=np.int64, count=n)
        category_id = np.fromiter((a["category_id"] for a in anns), dtype=np.int64, count=n)
        ann_id = np.fromiter((a.get("id", i + 1) for i, a in enumerate(anns)), dtype=np.int64, count=n)
        iscrowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), dtype=bool, count=n)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationParseError(source, f"malformed annotation: {exc!r}") from None
    has_box = n == 0 or all("bbox" in a for a in anns)
    segm: list[Any] | None = None
    if iou_type == "segm":
        mu = mask_utils("segmentation evaluation")
        segm = []
        for i, a in enumerate(anns):
            if "segmentation" not in a:
                raise AnnotationParseError(source, "iou_type='segm' needs 'segmentation'", record=f"annotations[{i}]")
            h, w = sizes.get(int(a["image_id"]), (0, 0))
            segm.append(_to_rle(a["segmentation"], h, w, mu))
    if has_box:
        xywh = _boxes(anns, source)
    elif segm is not None:
        xywh = np.asarray(mask_utils("boxes from masks").toBbox(segm), dtype=np.float64).reshape(-1, 4)
    else:
        xywh = _boxes(anns, source)
    if all("area" in a for a in anns):
        area = np.fromiter((a["area"] for a in anns), dtype=np.float64, count=n)
    else:
        area = np.array(
            [a["area"] if "area" in a else float(xywh[i, 2] * xywh[i, 3]) for i, a in enumerate(anns)],
            dtype=np.float64,
        ).reshape(n)
    arrays = EvalArrays(
        image_id=image_id,
        category_id=category_id,
        xywh=xywh,
        area=area,
        iscrowd=iscrowd,
        ann_id=ann_id,
        segmentation=segm,
    )
    return GroundTruth(
        arrays=arrays,
        image_ids=np.unique(image_ids),
        image_sizes_hw=sizes,
        categories=categories,
        file_names=names,
        source=source,
    )


def predictions_from_coco(
    results: Any, gt: GroundTruth, *, iou_type: str, source: str = "<predictions>"
) -> Predictions:
    """COCO results list (``image_id``, ``category_id``, ``bbox`` and/or ``segmentation``, ``score``).

    Reproduces ``COCO.loadRes``: if the first result has a box, every area is ``w * h`` of the
    box; otherwise areas and boxes come from the RLE masks.
    """
    if isinstance(results, Mapping) and "annotations" in results:
        results = results["annotations"]  # a COCO-style file holding predictions with scores
    if not isinstance(results, list):
        raise AnnotationParseError(source, f"expected a list of COCO results, got {type(results).__name__}")
    n = len(results)
    try:
        image_id = np.fromiter((r["image_id"] for r in results), dtype=np.int64, count=n)
        category_id = np.fromiter((r["category_id"] for r in results), dtype=np.int64, count=n)
        score = np.fromiter((r["score"] for r in results), dtype=np.float64, count=n)
    except KeyError as exc:
        bad = next(i for i, r in enumerate(results) if any(k not in r for k in ("image_id", "category_id", "score")))
        raise AnnotationParseError(source, f"result has no {exc.args[0]!r}", record=f"[{bad}]") from None
    except (TypeError, ValueError) as exc:
        raise AnnotationParseError(source, f"malformed result: {exc!r}") from None
    box_mode = n > 0 and "bbox" in results[0] and results[0]["bbox"] != []
    segm: list[Any] | None = None
    if box_mode:
        xywh = _boxes(results, source)
        area = xywh[:, 2] * xywh[:, 3]
        if iou_type == "segm":
            mu = mask_utils("segmentation evaluation")
            segm = []
            for r, b in zip(results, xywh.tolist()):
                s = r.get("segmentation")
                if s is None:
                    x1, y1 = b[0], b[1]
                    x2, y2 = b[0] + b[2], b[1] + b[3]
                    s = [[x1, y1, x1, y2, x2, y2, x2, y1]]
                h, w = gt.image_sizes_hw.get(int(r["image_id"]), (0, 0))
                segm.append(_to_rle(s, h, w, mu))
    elif n > 0:
        if "segmentation" not in results[0]:
            raise AnnotationParseError(source, "results need 'bbox' or 'segmentation'", record="[0]")
        mu = mask_utils("segmentation results")
        rles = []
        for r in results:
            s = r["segmentation"]
            h, w = gt.image_sizes_hw.get(int(r["image_id"]), (0, 0))
            rles.append(_to_rle(s, h, w, mu))
        area = np.asarray(mu.area(rles), dtype=np.float64).reshape(n)
        xywh = np.array(
            [r["bbox"] if "bbox" in r else mu.toBbox(rle).tolist() for r, rle in zip(results, rles)], dtype=np.float64
        ).reshape(n, 4)
        segm = rles if iou_type == "segm" else None
    else:
        xywh = np.zeros((0, 4))
        area = np.zeros(0)
        segm = [] if iou_type == "segm" else None
    arrays = EvalArrays(
        image_id=image_id,
        category_id=category_id,
        xywh=xywh,
        area=area,
        iscrowd=np.zeros(n, dtype=bool),
        score=score,
        ann_id=np.arange(1, n + 1, dtype=np.int64),
        segmentation=segm,
    )
    return Predictions(arrays=arrays, source=source)


def load_ground_truth(obj: Any, *, iou_type: str) -> GroundTruth:
    """Ground truth from a COCO dict, a COCO JSON path, a ``Dataset`` or any path ``formats.read`` knows."""
    if isinstance(obj, GroundTruth):
        return obj
    if isinstance(obj, Mapping):
        return ground_truth_from_coco(obj, iou_type=iou_type)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if path.is_file() and path.suffix.lower() == ".json":
            data = _read_json(path, "ground truth")
            if isinstance(data, Mapping) and "images" in data:
                return ground_truth_from_coco(data, iou_type=iou_type, source=str(path))
        if not path.exists():
            raise InvalidInputError(f"ground_truth path does not exist: {path}")
        obj = _read_dataset(path, "ground_truth")
    if _is_dataset(obj):
        return ground_truth_from_dataset(obj, iou_type=iou_type)
    raise InvalidInputError(
        f"ground_truth must be a Dataset, a COCO dict or a path to an annotation file/folder, got {type(obj).__name__}"
    )


def load_predictions(obj: Any, gt: GroundTruth, *, iou_type: str) -> Predictions:
    """Predictions from a COCO results list or path, a ``Dataset`` with confidences, or another format."""
    if isinstance(obj, Predictions):
        return obj
    if isinstance(obj, list):
        return predictions_from_coco(obj, gt, iou_type=iou_type)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if path.is_file() and path.suffix.lower() == ".json":
            data = _read_json(path, "predictions")
            if isinstance(data, list):
                dt = predictions_from_coco(data, gt, iou_type=iou_type, source=str(path))
                dt.category_names = _sibling_category_names(path)
                return dt
            if isinstance(data, Mapping) and "annotations" in data:  # a COCO file whose annotations carry scores
                dt = predictions_from_coco(data["annotations"], gt, iou_type=iou_type, source=str(path))
                dt.category_names = _coco_category_names(data)
                return dt
        if not path.exists():
            raise InvalidInputError(f"predictions path does not exist: {path}")
        labels = _yolo_label_files(path)
        if labels:
            return predictions_from_yolo_labels(labels, gt, iou_type=iou_type, source=str(path))
        obj = _read_dataset(path, "predictions")
    if isinstance(obj, Mapping) and "annotations" in obj:
        dt = predictions_from_coco(obj["annotations"], gt, iou_type=iou_type)
        dt.category_names = _coco_category_names(obj)
        return dt
    if _is_dataset(obj):
        return predictions_from_dataset(obj, gt, iou_type=iou_type)
    raise InvalidInputError(
        "predictions must be a Dataset, a COCO results list or a path to a results file/folder, "
        f"got {type(obj).__name__}"
    )


def _coco_category_names(data: Any) -> dict[int, str]:
    """``id -> name`` of a COCO dict's ``categories`` ({} when absent or malformed)."""
    cats = data.get("categories") if isinstance(data, Mapping) else None
    if not isinstance(cats, list):
        return {}
    try:
        return {int(c["id"]): str(c["name"]) for c in cats if "name" in c}
    except (KeyError, TypeError, ValueError):
        return {}


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
    return _coco_category_names(data)


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
    files: list[Path], gt: GroundTruth, *, iou_type: str, source: str = "<predictions>"
) -> Predictions:
    """YOLO prediction label files (``class cx cy w h conf`` or ``class x1 y1 ... xn yn conf``, normalised).

    Each file ``<stem>.txt`` belongs to the ground-truth image with that file stem; its size
    turns the normalised coordinates into pixels. YOLO class index ``i`` is the ``i``-th
    ground-truth category in id order (the convention of ``detectkit.formats`` YOLO files).
    """
    cat_ids = sorted(gt.categories)
    mu = mask_utils("segmentation evaluation") if iou_type == "segm" else None
    img_l: list[int] = []
    cat_l: list[int] = []
    box_l: list[list[float]] = []
    score_l: list[float] = []
    segm: list[Any] | None = [] if mu is not None else None
    missing: list[str] = []
    for f in files:
        iid = gt.file_names.get(f.stem)
        text = f.read_text(encoding="utf-8")
        if iid is None:
            if text.strip():
                missing.append(f.name)
            continue
        h, w = gt.image_sizes_hw.get(iid, (0, 0))
        if h <= 0 or w <= 0:
            raise AnnotationParseError(f, "the ground truth does not give this image's size (needed for YOLO)")
        for lineno, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                values = [float(v) for v in parts]
            except ValueError:
                raise AnnotationParseError(f, f"expected numbers, got {line!r}", line=lineno) from None
            n = len(values)
            if n == 6:
                cls, cx, cy, bw, bh, conf = values
                x1, y1 = (cx - bw / 2) * w, (cy - bh / 2) * h
                box = [x1, y1, bw * w, bh * h]
                poly = None
            elif n >= 8 and n % 2 == 0:
                cls, conf = values[0], values[-1]
                xs = np.asarray(values[1:-1:2]) * w
                ys = np.asarray(values[2:-1:2]) * h
                box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())]
                poly = np.stack([xs, ys], 1).ravel().tolist()
            else:
                raise AnnotationParseError(
                    f,
                    f"expected 'class cx cy w h confidence' or a polygon with a confidence, got {n} numbers",
                    line=lineno,
                )
            idx = int(cls)
            if idx != cls or idx < 0:
                raise AnnotationParseError(f, f"class must be a non-negative integer, got {parts[0]}", line=lineno)
            img_l.append(iid)
            cat_l.append(cat_ids[idx] if idx < len(cat_ids) else -1 - idx)
            box_l.append(box)
            score_l.append(conf)
            if segm is not None:
                x1, y1, bw_, bh_ = box
                shape = poly if poly is not None else [x1, y1, x1, y1 + bh_, x1 + bw_, y1 + bh_, x1 + bw_, y1]
                segm.append(_to_rle([shape], h, w, mu))
    if missing:
        raise InvalidInputError(
            f"predictions hold {len(missing)} label file(s) for images not in the ground truth: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    n_all = len(img_l)
    xywh = np.asarray(box_l, dtype=np.float64).reshape(n_all, 4)
    arrays = EvalArrays(
        image_id=np.asarray(img_l, dtype=np.int64),
        category_id=np.asarray(cat_l, dtype=np.int64),
        xywh=xywh,
        area=xywh[:, 2] * xywh[:, 3],
        iscrowd=np.zeros(n_all, bool),
        score=np.asarray(score_l, dtype=np.float64),
        ann_id=np.arange(1, n_all + 1, dtype=np.int64),
        segmentation=segm,
    )
    return Predictions(arrays=arrays, source=source)


# ---------------------------------------------------------------------------- Dataset bridge
def _is_dataset(obj: Any) -> bool:
    return hasattr(obj, "images") and hasattr(obj, "categories") and hasattr(obj, "__iter__")


def _read_dataset(path: Path, argument: str) -> Any:
    try:
        from detectkit import formats
    except ImportError:  # pragma: no cover - formats not available
        raise InvalidInputError(f"{argument}: cannot read {path}: only COCO JSON is supported here") from None
    return formats.read(path)


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
