"""COCO results lists (``image_id``, ``category_id``, ``bbox``, ``score``): read and write."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from detectkit._progress import Progress
from detectkit.dataset import Dataset
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    IssueLog,
    atomic_file,
    pauses_gc,
    warn_skipped,
)
from detectkit.formats.coco import _fast
from detectkit.formats.coco.read import annotations_table, decode_plain, finished
from detectkit.formats.coco.write import category_lut, coco_boxes, dump_list, plain_rows

__all__ = ["read_results", "write_results"]


@pauses_gc
def read_results(path: str | os.PathLike[str], *, dataset: Dataset, strict: bool = False) -> Dataset:
    """Read a COCO *results* list (``image_id``, ``category_id``, ``bbox``, ``score``) as predictions.

    The images and categories come from ``dataset`` (the ground truth the results refer to).
    """
    path = Path(path)
    data = _fast.read_bytes(path)
    doc = _fast.decode_typed(data, "results")
    typed = doc is not None
    if doc is None:
        doc = decode_plain(path, data)
    del data
    if not isinstance(doc, list):
        raise AnnotationParseError(path, "expected a JSON list of results (image_id, category_id, bbox, score)")
    log = IssueLog(strict)
    position = {r.id: i for i, r in enumerate(dataset.images)}
    cats = {c.id for c in dataset.categories}
    table, _ = annotations_table(path, doc, position, cats, log, results=True, typed=typed)
    warn_skipped(log.issues, os.fspath(path))
    return Dataset.from_table(
        list(dataset.categories),
        list(dataset.images),
        finished(table, path, ""),
        info=dataset.info,
        licenses=dataset.licenses,
        issues=log.issues,
        source_format="coco",
    )


@pauses_gc
def write_results(
    ds: Dataset, path: str | os.PathLike[str], *, category_ids: Literal["auto", "keep", "one_based"] = "auto"
) -> ConvertSummary:
    """Write predictions as a COCO results list (``score`` per box), atomically.

    Category ids follow the same rule as :func:`write`, so a results file matches the ground
    truth written from the same dataset.
    """
    path = Path(path)
    if not ds.is_predictions:
        raise InvalidInputError("ds must hold predictions (confidence scores) to write a COCO results file")
    summary = ConvertSummary(path=path, format="coco-results", images=len(ds.images), objects=ds.num_objects)
    lut = category_lut(ds, category_ids)
    t = ds.table
    boxes = plain_rows(coco_boxes(ds))
    image_ids = [r.id for r in ds.images]
    img_l = [image_ids[i] for i in t.image_index.tolist()]
    cls_l = [lut.get(k, k) for k in t.class_id.tolist()]
    conf_l = t.confidence.tolist() if t.confidence is not None else []
    seg = t.data.raw("segmentation") if "segmentation" in t.data else None  # as given

    def items() -> Iterable[dict[str, Any]]:
        for i, b in enumerate(boxes):
            d: dict[str, Any] = {
                "image_id": img_l[i],
                "category_id": cls_l[i],
                "bbox": b,
                "score": round(conf_l[i], 6),
            }
            if seg is not None and seg[i] is not None:
                d["segmentation"] = seg[i]
            yield d

    with atomic_file(path, "wb") as fh, Progress(total=len(t), desc="write results", unit="obj") as bar:
        dump_list(fh, items(), bar)
    return summary
