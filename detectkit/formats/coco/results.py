"""COCO results lists (``image_id``, ``category_id``, ``bbox``, ``score``): read and write."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from detectkit._progress import Progress
from detectkit.dataset import Dataset, Issue
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    IssueLog,
    atomic_file,
    pauses_gc,
    warn_skipped,
)
from detectkit.formats.coco import _fast
from detectkit.formats.coco.read import annotations_table, decode_plain, finished, is_int, read_bytes
from detectkit.formats.coco.write import category_lut, coco_boxes, dump_list, plain_rows
from detectkit.table import ObjectTable

__all__ = ["Results", "read_results", "results_table", "write_results"]


class Results(NamedTuple):
    """A results list read as a table (see :func:`results_table`)."""

    table: ObjectTable
    category_names: dict[int, str]  # id -> name from a COCO object's ``categories`` ({} for a list)
    issues: list[Issue]  # the bad records skipped (none when strict)


class _ImageIds(Mapping[int, int]):
    """Every int64 image id maps to itself (``image_index`` then holds the image ids)."""

    def __getitem__(self, key: int) -> int:
        if is_int(key) and -(1 << 63) <= key < 1 << 63:
            return key
        raise KeyError(key)

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


@pauses_gc
def results_table(
    source: str | os.PathLike[str] | list[Any] | Mapping[str, Any],
    *,
    images: Mapping[int, int] | None = None,
    categories: Collection[int] | None = None,
    strict: bool = False,
    name: str = "<results>",
) -> Results:
    """COCO results as one table: a results file, a results list, or a COCO object whose
    ``annotations`` carry ``score`` s, read by the rules of :func:`read_results`.

    This is the reader :func:`detectkit.evaluate` uses. Rows keep the file's order. Scores
    as given (float64) are in ``table.extras["coco"]["score"]`` and the boxes as given in
    ``extras["coco"]["bbox"]``; a result with a mask and no box takes its box from the mask
    (``extras["coco"]["box_from_mask"]``), as pycocotools' ``loadRes`` does.

    Args:
        source: a path, or the decoded document.
        images: image id -> position for ``table.image_index``; an id not in it is a bad
            record. ``None``: ``image_index`` holds the image ids themselves, unchecked.
        categories: the known category ids (others are bad records); ``None``: not checked.
        strict: raise :class:`AnnotationParseError` at the first bad record instead of
            skipping it (every skipped record is in ``issues``; one warning counts them).
        name: how an in-memory ``source`` is named in messages.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     r = results_table([{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.25},
    ...                        {"image_id": 7, "category_id": 1, "bbox": [1, 2], "score": 0.5}])
    >>> r.table.image_index.tolist(), r.table.extras["coco"]["score"].tolist(), str(r.issues[0])
    ([7], [0.25], '<results> [[1]]: error: malformed annotation: bbox must have 4 numbers [x, y, w, h], got [1, 2]')
    >>> len(seen)
    1
    """
    names: dict[int, str] = {}
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        doc: Any = _fast.read_results(path)  # the fast path: typed structs; None = it declines
        typed = doc is not None
        if doc is None:
            doc = decode_plain(path, read_bytes(path))
    else:
        path, doc, typed = Path(name), source, False
    if isinstance(doc, Mapping) and "annotations" in doc:  # a COCO file whose annotations carry scores
        names = category_names(doc)
        doc = doc["annotations"]
    if not isinstance(doc, list):
        raise AnnotationParseError(
            path, f"expected a list of COCO results (image_id, category_id, bbox, score), got {type(doc).__name__}"
        )
    log = IssueLog(strict)
    table, _ = annotations_table(
        path, doc, _ImageIds() if images is None else images, set(categories or ()), log, results=True, typed=typed
    )
    warn_skipped(log.issues, os.fspath(path))
    return Results(finished(table, path, ""), names, log.issues)


def category_names(doc: Any) -> dict[int, str]:
    """``id -> name`` of a COCO object's ``categories`` ({} when absent or malformed).

    >>> category_names({"categories": [{"id": 3, "name": "cat"}, {"id": 4}]})
    {3: 'cat'}
    >>> category_names([1, 2])
    {}
    """
    cats = doc.get("categories") if isinstance(doc, Mapping) else None
    if not isinstance(cats, list):
        return {}
    try:
        return {int(c["id"]): str(c["name"]) for c in cats if "name" in c}
    except (KeyError, TypeError, ValueError):
        return {}


@pauses_gc
def read_results(path: str | os.PathLike[str], *, dataset: Dataset, strict: bool = False) -> Dataset:
    """Read a COCO *results* list (``image_id``, ``category_id``, ``bbox``, ``score``) as predictions.

    The images and categories come from ``dataset`` (the ground truth the results refer to).
    """
    path = Path(path)
    doc: Any = _fast.read_results(path)  # the fast path: typed structs; None = it declines
    typed = doc is not None
    if doc is None:
        doc = decode_plain(path, read_bytes(path))
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
