"""Writing a dataset as one COCO JSON file (ids, boxes as given, source order, extras)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from detectkit._progress import Progress
from detectkit.dataset import Dataset
from detectkit.errors import InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    atomic_file,
    pauses_gc,
)
from detectkit.formats.coco import _fast_write
from detectkit.table import ObjectTable, decode_values

__all__ = ["category_lut", "coco_boxes", "dump_list", "plain_rows", "write"]


_CHUNK = 2000


def category_lut(ds: Dataset, category_ids: str) -> dict[int, int]:
    ids = [c.id for c in ds.categories]
    if category_ids not in ("auto", "keep", "one_based"):
        raise InvalidInputError(f"category_ids must be one of ['auto', 'keep', 'one_based'], got {category_ids!r}")
    if category_ids == "one_based":
        return {cid: i + 1 for i, cid in enumerate(sorted(ids))}
    if category_ids == "auto" and ids and min(ids) == 0 and ds.source_format != "coco":
        return {cid: cid + 1 for cid in ids}
    return {cid: cid for cid in ids}


def _polygon_area(seg: Any) -> float | None:
    if not isinstance(seg, list) or not seg:
        return None
    total = 0.0
    for poly in seg:
        try:
            p = np.asarray(poly, dtype=np.float64)
        except (TypeError, ValueError):  # not a list of numbers (e.g. objects in it): no polygon area
            return None
        if p.ndim != 1 or len(p) < 6 or len(p) % 2:
            return None
        x, y = p[0::2], p[1::2]
        total += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return total


def _annotation_ids(ds: Dataset, summary: ConvertSummary) -> np.ndarray:
    """Unique annotation ids: given ones kept, missing or repeated ones renumbered after the max."""
    t = ds.table
    n = len(t)
    given = t.data.get("annotation_id")
    if given is None:
        return np.arange(1, n + 1, dtype=np.int64)
    ids = given.astype(np.int64).copy()
    valid = ids >= 0
    _, first = np.unique(ids, return_index=True)
    is_first = np.zeros(n, bool)
    is_first[first] = True
    redo = ~valid | ~is_first
    if redo.any():
        start = int(ids[valid].max()) + 1 if valid.any() else 1
        start = max(start, 1)
        ids[redo] = np.arange(start, start + int(redo.sum()), dtype=np.int64)
        dup = int((valid & ~is_first).sum())
        if dup:
            summary.notes.append(f"{dup} repeated annotation id(s) renumbered so ids are unique")
    return ids


def _numpy_to_python(value: Any) -> Any:
    """msgspec ``enc_hook``: numpy scalars and arrays (e.g. in user-made extras) as Python values."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


@functools.cache
def _encoder() -> Any:
    """A msgspec JSON encoder (UTF-8 as is; NaN/inf become null, which JSON has)."""
    import msgspec

    return msgspec.json.Encoder(enc_hook=_numpy_to_python)


def _encode(value: Any) -> bytes:
    return _encoder().encode(value)  # type: ignore[no-any-return]


def dump_list(fh: IO[bytes], items: Iterable[Any], progress: Progress | None = None) -> None:
    """Stream a JSON list in chunks (memory stays flat), counting them on ``progress``."""
    fh.write(b"[")
    first = True
    chunk: list[Any] = []
    encode = _encoder().encode

    def flush() -> None:
        nonlocal first
        if chunk:
            text = encode(chunk)[1:-1]
            fh.write(text if first else b"," + text)
            first = False
            if progress is not None:
                progress.update(len(chunk))
            chunk.clear()

    for item in items:
        chunk.append(item)
        if len(chunk) >= _CHUNK:
            flush()
    flush()
    fh.write(b"]")


def plain_rows(values: np.ndarray) -> list[list[float | int]]:
    """Rows as Python lists with integral values as ints (so ``[30, 10, 15, 10]`` stays that way)."""
    rows: list[list[float | int]] = values.tolist()
    integral = (values == np.round(values)) & (np.abs(values) < 2**53)
    for i in np.flatnonzero(integral.any(axis=1)).tolist():
        rows[i] = [_plain(v) for v in rows[i]]
    return rows


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _areas(boxes: np.ndarray, given: np.ndarray | None, seg: np.ndarray | None) -> list[float | int]:
    """``area`` per object: as given, else the polygon's area, else the box's (6 decimals)."""
    n = len(boxes)
    out = np.array(given, dtype=np.float64) if given is not None else np.full(n, np.nan)
    missing = np.flatnonzero(np.isnan(out))
    if len(missing):
        out[missing] = np.round(boxes[missing, 2] * boxes[missing, 3], 6)  # the box's, all at once
        if seg is not None:  # then the polygon's, where there is one
            for i, s in zip(missing.tolist(), decode_values(seg[missing]).tolist()):
                poly = _polygon_area(s) if type(s) is list and s else None
                if poly is not None:
                    out[i] = round(poly, 6)
    return [row[0] for row in plain_rows(out.reshape(n, 1))]


def _source_order(t: ObjectTable) -> Any:
    """Row order of the objects in their COCO source files (files in order of first use),
    when every object was read from a COCO annotation or results list; else all rows as they are."""
    p = t.provenance
    n = len(t)
    if p is None or not n or (p.record < 0).any() or not set(p.record_list.tolist()) <= {"annotations", ""}:
        return slice(None)
    files = p.file
    if bool((files == files[0]).all()):
        return np.argsort(p.record, kind="stable")
    names, first, inverse = np.unique(files.astype(str), return_index=True, return_inverse=True)
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(names))
    return np.lexsort((p.record, rank[inverse.reshape(-1)]))


def coco_boxes(ds: Dataset) -> np.ndarray:
    t = ds.table
    wh = t.xyxy[:, 2:] - t.xyxy[:, :2]
    derived = np.concatenate([t.xyxy[:, :2], wh], axis=1)
    given = t.extras.get("coco", {}).get("bbox")
    if given is None:
        return np.round(derived, 6)
    ok = np.isfinite(given).all(axis=1) & (np.abs(given - derived) <= 1e-6 * np.maximum(1, np.abs(derived))).all(axis=1)
    return np.where(ok[:, None], given, np.round(derived, 6))


@pauses_gc
def write(
    ds: Dataset,
    path: str | os.PathLike[str],
    *,
    category_ids: Literal["auto", "keep", "one_based"] = "auto",
    indent: int | None = None,
) -> ConvertSummary:
    """Write ``ds`` as one COCO JSON file (atomically: temp file beside it, then rename).

    Args:
        ds: the dataset (ground truth; predictions are written with ``score`` kept as an
            extra key — use :func:`write_results` for a results list).
        path: the JSON file to write.
        category_ids: ``"auto"`` keeps ids unless they are 0-based from a non-COCO source
            (then they start at 1), ``"keep"`` keeps them as they are, ``"one_based"``
            renumbers them 1..K in id order.
        indent: pretty-print with this indent (default compact, streamed).

    Returns:
        A :class:`~detectkit.formats.ConvertSummary`.
    """
    path = Path(path)
    summary = ConvertSummary(path=path, format="coco", images=len(ds.images), objects=ds.num_objects)
    lut = category_lut(ds, category_ids)
    if any(k != v for k, v in lut.items()):
        summary.notes.append("category ids shifted to start at 1 (COCO reserves 0)")
    t = ds.table
    unknown = sorted(set(np.unique(t.class_id).tolist()) - set(lut))
    for k in unknown:
        lut[k] = k
        summary.notes.append(f"class id {k} has no category entry; written as is")
    ann_ids = _annotation_ids(ds, summary)
    boxes = coco_boxes(ds)
    image_ids = [r.id for r in ds.images]
    img_of = np.asarray(image_ids, dtype=np.int64)[t.image_index] if len(t) else np.zeros(0, np.int64)
    cls = np.array([lut[k] for k in t.class_id.tolist()], dtype=np.int64) if len(t) else t.class_id
    seg = t.data.raw("segmentation") if "segmentation" in t.data else None  # copied as given, never decoded
    crowd = t.data.get("iscrowd")
    area = t.data.get("area")
    coco = t.extras.get("coco", {})
    extra = coco.get("extra")
    conf = t.confidence
    attribute_columns = [
        (k, t.data[k].tolist()) for k in ("difficult", "truncated", "occluded", "pose", "attributes") if k in t.data
    ]
    given_bbox = coco.get("bbox")
    # objects read from COCO without a 'segmentation' key are written without one
    from_coco = np.isfinite(given_bbox).all(axis=1).tolist() if given_bbox is not None else [False] * len(t)

    def annotations() -> Iterable[Any]:
        import msgspec

        unset = msgspec.UNSET
        n = len(t)
        order = _source_order(t)
        ids_l, img_l, cls_l = ann_ids[order].tolist(), img_of[order].tolist(), cls[order].tolist()
        boxes_o, seg_o = boxes[order], None if seg is None else seg[order]
        box_list = plain_rows(boxes_o)
        area_l = _areas(boxes_o, None if area is None else area[order], seg_o)
        crowd_l = crowd[order].astype(np.int64).tolist() if crowd is not None else [0] * n
        conf_l = [round(c, 6) for c in conf[order].tolist()] if conf is not None else [unset] * n
        seg_l = seg_o.tolist() if seg_o is not None else [None] * n
        coco_l = np.asarray(from_coco, dtype=bool)[order].tolist() if n else []
        empty: list[Any] = []
        # a 'segmentation' as given; none for objects read from COCO without one, else []
        seg_l = [v if v is not None else unset if c else empty for v, c in zip(seg_l, coco_l)]
        columns = (ids_l, img_l, cls_l, box_list, seg_l, area_l, crowd_l, conf_l)
        fast = _fast_write.annotation_rows(columns, per_object_keys=extra is not None or bool(attribute_columns))
        if fast is not None:  # the fast path: the same rows as structs
            yield from fast
            return
        rows = np.arange(n)[order].tolist()
        for k, i in enumerate(rows):
            a: dict[str, Any] = {"id": ids_l[k], "image_id": img_l[k], "category_id": cls_l[k], "bbox": box_list[k]}
            if seg_l[k] is not unset:
                a["segmentation"] = seg_l[k]
            a["area"] = area_l[k]
            a["iscrowd"] = crowd_l[k]
            if conf_l[k] is not unset:
                a["score"] = conf_l[k]
            if extra is not None and extra[i]:
                a.update(extra[i])
            elif attribute_columns and not from_coco[i]:
                for key, column in attribute_columns:  # VOC / CVAT / LabelMe per-object attributes
                    value = column[i]
                    if value is not None and not (key in ("pose", "attributes") and not value):
                        a[key] = int(value) if key in ("difficult", "truncated", "occluded") else value
            yield a

    def image_dicts() -> Iterable[dict[str, Any]]:
        for r in ds.images:
            d = {"id": r.id, "file_name": r.file_name, "width": r.width, "height": r.height}
            d.update(r.extra)
            yield d

    cats = []
    for c in sorted(ds.categories, key=lambda c: lut[c.id]):
        d: dict[str, Any] = {"id": lut[c.id], "name": c.name}
        if c.supercategory is not None:
            d["supercategory"] = c.supercategory
        d.update(c.extra)
        cats.append(d)
    with atomic_file(path, "wb") as fh:
        if indent is not None:
            doc = {
                "info": ds.info,
                "licenses": ds.licenses,
                "images": list(image_dicts()),
                "annotations": list(annotations()),
                "categories": cats,
            }
            import msgspec

            fh.write(msgspec.json.format(_encode(doc), indent=indent))
            return summary
        fh.write(b'{"info":' + _encode(ds.info))
        fh.write(b',"licenses":' + _encode(ds.licenses))
        fh.write(b',"images":')
        dump_list(fh, image_dicts())
        fh.write(b',"annotations":')
        with Progress(total=len(ds.table), desc="write coco", unit="obj") as bar:
            dump_list(fh, annotations(), bar)
        fh.write(b',"categories":' + _encode(cats) + b"}")
    return summary
