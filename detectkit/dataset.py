"""``Dataset``: categories, image records and per-image annotations, format independent.

A dataset holds what annotation formats carry: categories (``id``, ``name``,
``supercategory``), image records (``id``, ``file_name``, ``width``, ``height``, optional
``path``) and per-image objects as :class:`~detectkit.detections.Detections`. Ground truth
has ``confidence=None``; predictions carry scores. ``class_id`` is the dataset's category
id (non-contiguous ids allowed). What formats carry beyond boxes lives in
``Detections.data``: ``"iscrowd"`` int64, ``"area"`` float64 (NaN = not given),
``"annotation_id"`` int64 (-1 = not assigned), ``"segmentation"`` object (COCO polygons
``[[x, y, ...], ...]`` or an RLE dict, or ``None``), VOC ``"difficult"`` / ``"truncated"`` /
``"occluded"`` int64 and ``"pose"`` object, and ``"attributes"`` object (a dict per object).

Internally the objects of all images are one column table (float64 boxes) so readers,
writers and filters run vectorised; ``Detections`` are built on access.

>>> from detectkit import Detections
>>> ds = Dataset(
...     categories=[Category(1, "cat"), Category(3, "dog")],
...     images=[ImageRecord(1, "a.jpg", 640, 480), ImageRecord(2, "b.jpg", 320, 240)],
...     annotations={1: Detections(xyxy=[[10, 10, 50, 60]], class_id=[3])},
... )
>>> len(ds), ds.num_objects, ds.names
(2, 1, {1: 'cat', 3: 'dog'})
>>> [(rec.file_name, len(dets)) for rec, dets in ds]
[('a.jpg', 1), ('b.jpg', 0)]
>>> ds.annotations[1].labels
['dog']
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from detectkit import registry
from detectkit._checks import check_fraction
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.table import ObjectTable

if TYPE_CHECKING:
    from detectkit.formats import ConvertSummary

__all__ = ["Category", "Dataset", "ImageRecord", "Issue"]

#: The shared empty ``extra`` mapping of records that carry no extra keys.
NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class Category(NamedTuple):
    """One class of a dataset.

    Attributes:
        id: the dataset's category id (COCO ids may be non-contiguous; YOLO ids are 0-based).
        name: the class name.
        supercategory: COCO supercategory, if any.
        extra: other keys the source format carried (e.g. COCO ``keypoints``), kept as given.
    """

    id: int
    name: str
    supercategory: str | None = None
    extra: Mapping[str, Any] = NO_EXTRA


class ImageRecord(NamedTuple):
    """One image of a dataset.

    Attributes:
        id: the image id (unique in the dataset).
        file_name: path relative to the image root, ``/``-separated (never absolute or ``..``).
        width: width in pixels.
        height: height in pixels.
        path: where the image file is, when known.
        split: ``"train"`` / ``"val"`` / ``"test"`` or ``None``.
        extra: other keys the source format carried (e.g. COCO ``license``), kept as given.
    """

    id: int
    file_name: str
    width: int
    height: int
    path: Path | None = None
    split: str | None = None
    extra: Mapping[str, Any] = NO_EXTRA

    @property
    def image_size_wh(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)


class Issue(NamedTuple):
    """A problem found while reading or validating a dataset.

    >>> str(Issue("error", "labels/a.txt", "expected 5 numbers, got 3", line=4))
    'labels/a.txt:4: error: expected 5 numbers, got 3'
    """

    severity: Literal["error", "warning"]
    path: str
    message: str
    line: int | None = None
    record: str | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.record is not None:
            where += f" [{self.record}]"
        return f"{where}: {self.severity}: {self.message}"


def _object_rows(name: str, values: np.ndarray) -> np.ndarray:
    """A data column as given, except per-object structures (polygons, attributes) as 1-D object arrays."""
    arr = np.array(values, copy=True)
    if name in _OBJECT_COLUMNS and (arr.dtype != object or arr.ndim != 1):
        out = np.empty(len(arr), dtype=object)
        out[:] = [v.tolist() if isinstance(v, np.ndarray) else v for v in arr]
        return out
    return arr


_OBJECT_COLUMNS = frozenset({"segmentation", "attributes", "pose"})


class _AnnotationsView(Mapping[int, Detections]):
    """Read-only mapping image id -> ``Detections`` (built on access)."""

    def __init__(self, dataset: Dataset) -> None:
        self._ds = dataset

    def __getitem__(self, image_id: int) -> Detections:
        return self._ds.detections(image_id)

    def __iter__(self) -> Iterator[int]:
        return (rec.id for rec in self._ds.images)

    def __len__(self) -> int:
        return len(self._ds.images)


class Dataset:
    """Categories + image records + per-image objects. See the module docstring.

    Args:
        categories: the classes.
        images: the image records (ids unique).
        annotations: image id -> ``Detections``; images without an entry have no objects.
        info: dataset-level metadata (COCO ``info``).
        licenses: COCO ``licenses``.
        issues: problems found while reading (kept for ``validate``).

    A ``Dataset`` is never changed in place: every operation returns a new one.
    """

    def __init__(
        self,
        *,
        categories: Iterable[Category],
        images: Iterable[ImageRecord],
        annotations: Mapping[int, Detections] | None = None,
        info: Mapping[str, Any] | None = None,
        licenses: Sequence[Any] | None = None,
        issues: Iterable[Issue] | None = None,
    ) -> None:
        images = list(images)
        index = {rec.id: i for i, rec in enumerate(images)}
        parts: list[ObjectTable] = []
        for image_id, dets in (annotations or {}).items():
            if image_id not in index:
                raise InvalidInputError(f"annotations: image id {image_id} is not among the image records")
            if not isinstance(dets, Detections):
                raise InvalidInputError(f"annotations[{image_id}] must be Detections, got {type(dets).__name__}")
            if len(dets):
                parts.append(
                    ObjectTable(
                        dets.xyxy.astype(np.float64),
                        dets.class_id.copy(),
                        np.full(len(dets), index[image_id], np.int64),
                        None if dets.confidence is None else dets.confidence.copy(),
                        {k: _object_rows(k, v) for k, v in dets.data.items()},
                    )
                )
        self._init(list(categories), images, ObjectTable.concat(parts).sorted(), info, licenses, issues)

    def _init(
        self,
        categories: list[Category],
        images: list[ImageRecord],
        table: ObjectTable,
        info: Mapping[str, Any] | None,
        licenses: Sequence[Any] | None,
        issues: Iterable[Issue] | None,
        source_format: str | None = None,
    ) -> None:
        ids = [c.id for c in categories]
        if len(set(ids)) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise InvalidInputError(f"categories must have unique ids, got id {dup} twice")
        image_ids = [r.id for r in images]
        if len(set(image_ids)) != len(image_ids):
            dup = next(i for i, n in Counter(image_ids).items() if n > 1)
            raise InvalidInputError(f"images must have unique ids, got id {dup} twice")
        self.categories: list[Category] = categories
        self.images: list[ImageRecord] = images
        self._table = table
        self.info: dict[str, Any] = dict(info or {})
        self.licenses: list[Any] = list(licenses or [])
        self.issues: list[Issue] = list(issues or [])
        self.source_format = source_format
        self._offsets = table.row_offsets(len(images))
        self._index = {rid: i for i, rid in enumerate(image_ids)}

    @classmethod
    def from_table(
        cls,
        categories: Iterable[Category],
        images: Iterable[ImageRecord],
        table: ObjectTable,
        *,
        info: Mapping[str, Any] | None = None,
        licenses: Sequence[Any] | None = None,
        issues: Iterable[Issue] | None = None,
        source_format: str | None = None,
    ) -> Dataset:
        """A dataset of ``images`` whose objects are the rows of ``table`` (used as given, not copied).

        ``table.image_index`` refers to positions in ``images``; rows are grouped by it.
        This is how format readers build datasets without per-object Python objects.

        >>> import numpy as np
        >>> t = ObjectTable(np.array([[1.0, 2, 3, 4]]), np.array([7]), np.array([1]))
        >>> ds = Dataset.from_table([Category(7, "kite")], [ImageRecord(5, "a.jpg", 8, 8),
        ...                          ImageRecord(6, "b.jpg", 8, 8)], t)
        >>> ds.detections(6).labels, ds.row_offsets.tolist()
        (['kite'], [0, 0, 1])
        """
        if not isinstance(table, ObjectTable):
            raise InvalidInputError(f"table must be an ObjectTable, got {type(table).__name__}")
        images = list(images)
        if len(table) and (int(table.image_index.min()) < 0 or int(table.image_index.max()) >= len(images)):
            raise InvalidInputError(f"table.image_index must lie in [0, {len(images)}), the positions of images")
        ds = cls.__new__(cls)
        ds._init(list(categories), images, table.sorted(), info, licenses, issues, source_format)
        return ds

    @classmethod
    def concat(cls, datasets: Sequence[Dataset]) -> Dataset:
        """The images and objects of ``datasets`` one after another, ids kept as they are.

        For parts of one dataset (e.g. the splits of :meth:`split`): the categories must be
        the same and image ids must not repeat (use :meth:`merge` to combine datasets with
        their own categories and ids). Info, licenses and source format come from the first.

        >>> ds = Dataset(categories=[], images=[ImageRecord(i, f"{i}.jpg", 4, 4) for i in range(5)])
        >>> parts = ds.split(train=0.6, val=0.4, seed=0)
        >>> sorted(r.id for r in Dataset.concat(list(parts.values())).images)
        [0, 1, 2, 3, 4]
        """
        datasets = list(datasets)
        if not datasets:
            raise InvalidInputError("datasets must hold at least one Dataset, got none")
        for i, d in enumerate(datasets):
            if not isinstance(d, Dataset):
                raise InvalidInputError(f"datasets[{i}] must be a Dataset, got {type(d).__name__}")
            if d.categories != datasets[0].categories:
                raise InvalidInputError(f"datasets[{i}] has other categories than datasets[0] (use merge)")
        tables = []
        offset = 0
        for d in datasets:
            tables.append(d._table.replace(image_index=d._table.image_index + offset))
            offset += len(d.images)
        first = datasets[0]
        return cls.from_table(
            first.categories,
            [r for d in datasets for r in d.images],
            ObjectTable.concat(tables),
            info=first.info,
            licenses=first.licenses,
            issues=list(dict.fromkeys(i for d in datasets for i in d.issues)),
            source_format=first.source_format,
        )

    def _derive(
        self,
        *,
        categories: list[Category] | None = None,
        images: list[ImageRecord] | None = None,
        table: ObjectTable | None = None,
    ) -> Dataset:
        return Dataset.from_table(
            self.categories if categories is None else categories,
            self.images if images is None else images,
            self._table if table is None else table,
            info=self.info,
            licenses=self.licenses,
            issues=self.issues,
            source_format=self.source_format,
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        kind = "predictions" if self.is_predictions else "ground truth"
        return f"Dataset({len(self.images)} images, {self.num_objects} objects, {len(self.categories)} classes, {kind})"

    @property
    def num_objects(self) -> int:
        """Total number of objects over all images."""
        return len(self._table)

    @property
    def is_predictions(self) -> bool:
        """True when the objects carry confidence scores."""
        return self._table.confidence is not None

    @property
    def table(self) -> ObjectTable:
        """The objects of all images as one column table (shared: do not change it in place)."""
        return self._table

    @property
    def row_offsets(self) -> np.ndarray:
        """int64 ``(len(images) + 1,)``: the objects of ``images[i]`` are table rows ``[i]`` to ``[i + 1]``."""
        return self._offsets

    def rows_of(self, position: int) -> slice:
        """The table rows of ``images[position]`` as a slice."""
        return slice(int(self._offsets[position]), int(self._offsets[position + 1]))

    @property
    def names(self) -> dict[int, str]:
        """Category id -> name."""
        return {c.id: c.name for c in self.categories}

    @property
    def annotations(self) -> Mapping[int, Detections]:
        """Read-only mapping image id -> ``Detections`` (every image, empty ones included)."""
        return _AnnotationsView(self)

    def image(self, image_id: int) -> ImageRecord:
        """The record of ``image_id``."""
        try:
            return self.images[self._index[image_id]]
        except KeyError:
            raise InvalidInputError(f"image_id {image_id} is not in the dataset") from None

    def _detections_at(self, position: int, names: Mapping[int, str]) -> Detections:
        sl = self.rows_of(position)
        t = self._table
        rec = self.images[position]
        size = (rec.width, rec.height) if rec.width > 0 and rec.height > 0 else None
        return Detections(
            xyxy=t.xyxy[sl],
            confidence=None if t.confidence is None else t.confidence[sl],
            class_id=t.class_id[sl],
            data={k: t.data.rows(k, sl) for k in t.data if k[0] != "_" and k != "tracker_id"},
            tracker_id=t.data.rows("tracker_id", sl) if "tracker_id" in t.data else None,
            names=names,
            image_size_wh=size,
        )

    def detections(self, image_id: int) -> Detections:
        """The objects of one image as ``Detections`` (float32 boxes; the dataset keeps float64)."""
        if image_id not in self._index:
            raise InvalidInputError(f"image_id {image_id} is not in the dataset")
        return self._detections_at(self._index[image_id], self.names)

    def __iter__(self) -> Iterator[tuple[ImageRecord, Detections]]:
        """Yield ``(ImageRecord, Detections)`` for every image, empty ones included."""
        names = self.names
        for i, rec in enumerate(self.images):
            yield rec, self._detections_at(i, names)

    def boxes(self, image_id: int) -> np.ndarray:
        """float64 ``(N, 4)`` xyxy boxes of one image at full precision (a copy)."""
        return self._table.xyxy[self.rows_of(self._index[image_id])].copy()

    def load_image(self, image_id: int) -> np.ndarray:
        """Decode one image (BGR uint8) from its ``path``; images are only read on request."""
        from detectkit.image import load_image

        rec = self.image(image_id)
        if rec.path is None and isinstance(rec.extra.get("imageData"), str):  # embedded (LabelMe imageData)
            import base64

            return load_image(base64.b64decode(rec.extra["imageData"]), name=rec.file_name)
        if rec.path is None:
            raise InvalidInputError(f"image {rec.file_name!r} has no path; pass images= when reading the dataset")
        return load_image(rec.path)

    # ------------------------------------------------------------------ class operations
    def _class_ids(self, classes: Iterable[int | str], argument: str) -> list[int]:
        by_name = {c.name: c.id for c in self.categories}
        known = set(self.names)
        out = []
        for c in classes:
            if isinstance(c, str) and not c.lstrip("-").isdigit():
                if c not in by_name:
                    raise InvalidInputError(f"{argument}: unknown class name {c!r}; known: {sorted(by_name)}")
                out.append(by_name[c])
            else:
                cid = int(c)
                if cid not in known and isinstance(c, str) and c in by_name:
                    cid = by_name[c]
                if cid not in known:
                    raise InvalidInputError(f"{argument}: unknown class id {cid}; known: {sorted(known)}")
                out.append(cid)
        return out

    def filter(self, *, classes: Iterable[int | str], drop_empty_categories: bool = True) -> Dataset:
        """Keep only the objects (and categories) of ``classes`` (ids or names); images all stay.

        >>> ds = Dataset(categories=[Category(1, "a"), Category(2, "b")], images=[ImageRecord(1, "x.jpg", 10, 10)],
        ...              annotations={1: Detections(xyxy=[[0, 0, 1, 1], [0, 0, 2, 2]], class_id=[1, 2])})
        >>> ds.filter(classes=["b"]).names, ds.filter(classes=["b"]).num_objects
        ({2: 'b'}, 1)
        """
        keep_ids = self._class_ids(classes, "classes")
        rows = np.isin(self._table.class_id, keep_ids)
        cats = [c for c in self.categories if c.id in keep_ids] if drop_empty_categories else self.categories
        return self._derive(categories=cats, table=self._table.take(np.flatnonzero(rows)))

    def remap(self, mapping: Mapping[int | str, str | None]) -> Dataset:
        """Rename, merge or drop classes: ``{old id or name: new name, or None to drop}``.

        Classes mapped to the same name are merged into one category (the id of an existing
        category of that name, else the smallest id among the merged ones). Unlisted classes
        are kept as they are.

        >>> ds = Dataset(categories=[Category(1, "car"), Category(2, "truck"), Category(3, "dog")],
        ...              images=[ImageRecord(1, "x.jpg", 10, 10)],
        ...              annotations={1: Detections(xyxy=[[0, 0, 1, 1]] * 3, class_id=[1, 2, 3])})
        >>> out = ds.remap({"car": "vehicle", "truck": "vehicle", "dog": None})
        >>> out.names, out.detections(1).class_id.tolist()
        ({1: 'vehicle'}, [1, 1])
        """
        if not isinstance(mapping, Mapping):
            raise InvalidInputError(f"mapping must be a dict old class -> new name, got {type(mapping).__name__}")
        target: dict[int, str | None] = {}
        for old, new in mapping.items():
            (cid,) = self._class_ids([old], "mapping")
            if new is not None and not isinstance(new, str):
                raise InvalidInputError(f"mapping[{old!r}] must be a class name or None, got {new!r}")
            target[cid] = new
        new_name = {c.id: target.get(c.id, c.name) for c in self.categories}
        existing = {c.name: c.id for c in self.categories if c.id not in target}
        name_to_id: dict[str, int] = {}
        for cid in sorted(new_name):
            name = new_name[cid]
            if name is None:
                continue
            name_to_id.setdefault(name, existing.get(name, cid))
        cats: list[Category] = []
        seen: set[str] = set()
        for c in self.categories:
            name = new_name[c.id]
            if name is None or name in seen:
                continue
            seen.add(name)
            new_id = name_to_id[name]
            base = next(x for x in self.categories if x.id == new_id)
            cats.append(base._replace(id=new_id, name=name))
        lut = {cid: (name_to_id[n] if n is not None else None) for cid, n in new_name.items()}
        old_ids = self._table.class_id
        keep = np.array([lut.get(int(k)) is not None for k in old_ids.tolist()], dtype=bool).reshape(-1)
        table = self._table.take(np.flatnonzero(keep))
        table.class_id = np.array([lut[int(k)] for k in table.class_id], dtype=np.int64)
        return self._derive(categories=sorted(cats, key=lambda c: c.id), table=table)

    def rename(self, mapping: Mapping[int | str, str]) -> Dataset:
        """Rename classes ``{old id or name: new name}`` (a :meth:`remap` without drops)."""
        return self.remap(dict(mapping.items()))

    # ------------------------------------------------------------------ image operations
    def select(self, images: Iterable[int] | Callable[[ImageRecord], bool]) -> Dataset:
        """A dataset of the given image ids (in that order), or of the images a predicate accepts.

        >>> ds = Dataset(categories=[], images=[ImageRecord(i, f"{i}.jpg", 4, 4) for i in (1, 2, 3)])
        >>> [r.id for r in ds.select([3, 1]).images], len(ds.select(lambda r: r.id > 1))
        ([3, 1], 2)
        """
        if callable(images):
            positions = [i for i, rec in enumerate(self.images) if images(rec)]
        else:
            positions = []
            for image_id in images:
                if image_id not in self._index:
                    raise InvalidInputError(f"images: image id {image_id} is not in the dataset")
                positions.append(self._index[image_id])
        return self._subset(positions)

    def _subset(self, positions: Sequence[int], split: str | None = None) -> Dataset:
        if len(set(positions)) != len(positions):
            raise InvalidInputError("images: an image id is listed twice")
        recs = [self.images[p] for p in positions]
        if split is not None:
            recs = [r._replace(split=split) for r in recs]
        counts = np.diff(self._offsets)
        pos = np.asarray(positions, dtype=np.int64)
        rows = (
            np.concatenate([np.arange(self._offsets[p], self._offsets[p + 1]) for p in pos])
            if len(pos) and counts[pos].sum()
            else np.zeros(0, np.int64)
        )
        table = self._table.take(rows.astype(np.int64))
        table.image_index = (
            np.repeat(np.arange(len(pos), dtype=np.int64), counts[pos]) if len(pos) else table.image_index
        )
        return self._derive(images=recs, table=table)

    def with_images(self, records: Sequence[ImageRecord]) -> Dataset:
        """The same objects with replaced image records (same length and order, e.g. new paths)."""
        if len(records) != len(self.images):
            raise InvalidInputError(f"records must have {len(self.images)} items, got {len(records)}")
        return self._derive(images=list(records))

    def split(
        self,
        *,
        train: float = 0.8,
        val: float = 0.2,
        test: float = 0.0,
        stratify: bool = True,
        seed: int = 0,
    ) -> dict[str, Dataset]:
        """Split images into ``train`` / ``val`` / ``test`` datasets (records get ``split`` set).

        Fractions are normalised to sum to 1. With ``stratify`` images are grouped by their
        rarest class (empty images form their own group) and each group is split in
        proportion, so every class appears in every split when it can.

        >>> ds = Dataset(categories=[], images=[ImageRecord(i, f"{i}.jpg", 4, 4) for i in range(10)])
        >>> {k: len(v) for k, v in ds.split(train=0.7, val=0.3, seed=1).items()}
        {'train': 7, 'val': 3}
        """
        fractions = {
            "train": check_fraction(train, "train"),
            "val": check_fraction(val, "val"),
            "test": check_fraction(test, "test"),
        }
        total = sum(fractions.values())
        if total <= 0:
            raise InvalidInputError(f"train + val + test must be > 0, got {total}")
        names = [k for k, v in fractions.items() if v > 0]
        weights = np.array([fractions[k] / total for k in names])
        rng = np.random.default_rng(seed)
        groups: dict[int, list[int]] = {}
        if stratify and len(self._table):
            freq = Counter(self._table.class_id.tolist())
            for i in range(len(self.images)):
                cls_here = set(self._table.class_id[self.rows_of(i)].tolist())
                key = min(cls_here, key=lambda k: (freq[k], k)) if cls_here else -(2**62)
                groups.setdefault(key, []).append(i)
        else:
            groups[0] = list(range(len(self.images)))
        assigned: dict[str, list[int]] = {k: [] for k in names}
        carry = np.zeros(len(names))
        for key in sorted(groups):
            members = np.array(groups[key])
            rng.shuffle(members)
            # largest-remainder allocation, carrying rounding error across groups
            want = weights * len(members) + carry
            counts = np.floor(want).astype(int)
            rest = len(members) - counts.sum()
            order = np.argsort(-(want - counts), kind="stable")
            counts[order[:rest]] += 1
            carry = want - counts
            start = 0
            for name, n in zip(names, counts.tolist()):
                assigned[name].extend(members[start : start + n].tolist())
                start += n
        return {name: self._subset(sorted(assigned[name]), split=name) for name in names}

    def merge(self, other: Dataset) -> Dataset:
        """Combine two datasets; categories are unified by *name*.

        Categories of ``other`` whose name exists here take this dataset's id; new names get
        new ids after the largest one. Image and annotation ids of ``other`` are renumbered
        when they collide.

        >>> a = Dataset(categories=[Category(1, "cat")], images=[ImageRecord(1, "a.jpg", 8, 8)],
        ...             annotations={1: Detections(xyxy=[[0, 0, 1, 1]], class_id=[1])})
        >>> b = Dataset(categories=[Category(1, "dog"), Category(2, "cat")], images=[ImageRecord(1, "b.jpg", 8, 8)],
        ...             annotations={1: Detections(xyxy=[[0, 0, 2, 2], [0, 0, 3, 3]], class_id=[1, 2])})
        >>> m = a.merge(b)
        >>> m.names, [r.id for r in m.images], m.detections(2).labels
        ({1: 'cat', 2: 'dog'}, [1, 2], ['dog', 'cat'])
        """
        if not isinstance(other, Dataset):
            raise InvalidInputError(f"other must be a Dataset, got {type(other).__name__}")
        cats = list(self.categories)
        by_name = {c.name: c.id for c in cats}
        next_id = max([c.id for c in cats], default=0) + 1
        lut: dict[int, int] = {}
        for c in other.categories:
            if c.name in by_name:
                lut[c.id] = by_name[c.name]
            else:
                cats.append(c._replace(id=next_id))
                by_name[c.name] = next_id
                lut[c.id] = next_id
                next_id += 1
        used = set(self._index)
        next_image = max(used, default=0) + 1
        recs = list(self.images)
        issues = list(self.issues) + list(other.issues)
        names_here = {r.file_name for r in self.images}
        for r in other.images:
            new = r
            if r.id in used:
                new = r._replace(id=next_image)
                next_image += 1
            used.add(new.id)
            if r.file_name in names_here:
                issues.append(Issue("warning", r.file_name, "file name present in both merged datasets"))
            recs.append(new)
        t = other._table
        moved = t.replace(
            class_id=np.array([lut[int(k)] for k in t.class_id], dtype=np.int64),
            image_index=t.image_index + len(self.images),
        )
        if "annotation_id" in moved.data and "annotation_id" in self._table.data and len(self._table):
            mine = self._table.data["annotation_id"]
            theirs = moved.data["annotation_id"]
            if np.isin(theirs[theirs >= 0], mine[mine >= 0]).any():
                start = int(max(mine.max(), 0)) + 1
                moved.data["annotation_id"] = np.arange(start, start + len(theirs), dtype=np.int64)
        table = ObjectTable.concat([self._table, moved])
        return Dataset.from_table(
            sorted(cats, key=lambda c: c.id),
            recs,
            table,
            info=self.info or other.info,
            licenses=self.licenses or other.licenses,
            issues=issues,
            source_format=self.source_format if self.source_format == other.source_format else None,
        )

    # ------------------------------------------------------------------ statistics
    def stats(self) -> dict[str, Any]:
        """Counts: images, objects, empty images, per class boxes/images, crowd objects, box sizes.

        ``box_sizes`` counts boxes by COCO size (small < 32², medium < 96², large) and
        ``size_histogram`` by ``sqrt(area)`` in power-of-two pixel bins (``"<4"``, ``"4-8"``, ...).

        >>> ds = Dataset(categories=[Category(0, "a")], images=[ImageRecord(1, "x.jpg", 99, 99),
        ...              ImageRecord(2, "y.jpg", 9, 9)], annotations={1: Detections(xyxy=[[0, 0, 40, 40]])})
        >>> s = ds.stats()
        >>> s["images"], s["objects"], s["empty_images"], s["classes"]["a"], s["box_sizes"]
        (2, 1, 1, {'id': 0, 'boxes': 1, 'images': 1}, {'small': 0, 'medium': 1, 'large': 0})
        """
        t = self._table
        counts = np.diff(self._offsets)
        per_class_boxes = Counter(t.class_id.tolist())
        pairs = set(zip(t.image_index.tolist(), t.class_id.tolist()))
        per_class_images = Counter(k for _, k in pairs)
        classes = {
            c.name: {"id": c.id, "boxes": per_class_boxes.get(c.id, 0), "images": per_class_images.get(c.id, 0)}
            for c in self.categories
        }
        unknown = sorted(set(per_class_boxes) - set(self.names))
        wh = t.xyxy[:, 2:] - t.xyxy[:, :2]
        area = wh[:, 0] * wh[:, 1]
        side = np.sqrt(np.maximum(area, 0))
        hist: dict[str, int] = {}
        if len(side):
            edges = [0.0, 4.0] + [2.0**k for k in range(3, 14)] + [math.inf]
            binned = np.histogram(side, bins=edges)[0]
            for lo, hi, n in zip(edges[:-1], edges[1:], binned.tolist()):
                label = f"<{int(hi)}" if lo == 0 else (f">={int(lo)}" if hi == math.inf else f"{int(lo)}-{int(hi)}")
                if n:
                    hist[label] = n
        crowd = int((t.data["iscrowd"] > 0).sum()) if "iscrowd" in t.data else 0
        return {
            "images": len(self.images),
            "objects": len(t),
            "empty_images": int((counts == 0).sum()),
            "classes": classes,
            "unknown_class_ids": unknown,
            "crowd": crowd,
            "box_sizes": {
                "small": int((area < 32**2).sum()),
                "medium": int(((area >= 32**2) & (area < 96**2)).sum()),
                "large": int((area >= 96**2).sum()),
            },
            "size_histogram": hist,
            "splits": dict(Counter(r.split for r in self.images if r.split is not None)),
        }

    # ------------------------------------------------------------------ validation
    def validate(self, *, check_images: bool = True, tolerance: float = 1.0) -> list[Issue]:
        """List problems: the records skipped while reading, plus boxes outside the image or
        of zero area, missing / unreadable images or sizes that differ from the file,
        duplicate annotation ids and file names, and unknown class ids.

        Args:
            check_images: check that every image file exists and its header is readable
                (header only, nothing is decoded) and matches the recorded size.
            tolerance: pixels a box may extend past the image border before it is reported.

        >>> ds = Dataset(categories=[Category(0, "a")], images=[ImageRecord(1, "x.jpg", 10, 10)],
        ...              annotations={1: Detections(xyxy=[[0, 0, 0, 5], [5, 5, 30, 9]])})
        >>> for issue in ds.validate(check_images=False):
        ...     print(issue)
        x.jpg [object 0]: error: box has zero area: [0.0, 0.0, 0.0, 5.0]
        x.jpg [object 1]: error: box extends outside the 10x10 image: [5.0, 5.0, 30.0, 9.0]
        """
        issues = list(self.issues)
        t = self._table
        ann_ids = t.data.get("annotation_id")
        names = self.names
        provenance = t.provenance

        def where(i: int) -> tuple[str, str | None, int | None]:
            if provenance is not None:
                path, record, line = provenance.where(i)
                if path is not None:
                    return path, record, line
            rec = self.images[int(t.image_index[i])]
            label = f"annotation id {int(ann_ids[i])}" if ann_ids is not None and ann_ids[i] >= 0 else None
            if label is None:
                label = f"object {i - int(self._offsets[int(t.image_index[i])])}"
            return rec.file_name, label, None

        def add(i: int, message: str) -> None:
            path, rec, line = where(i)
            issues.append(Issue("error", path, message, line=line, record=rec))

        sizes = np.array([[r.width, r.height] for r in self.images], dtype=np.float64).reshape(-1, 2)
        wh = sizes[t.image_index] if len(t) else np.zeros((0, 2))
        x = t.xyxy
        for i in range(len(t)):
            box = x[i]
            if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
                add(i, f"box has zero area: {box.tolist()}")
            elif (
                box[0] < -tolerance
                or box[1] < -tolerance
                or box[2] > wh[i, 0] + tolerance
                or box[3] > wh[i, 1] + tolerance
            ):
                add(i, f"box extends outside the {int(wh[i, 0])}x{int(wh[i, 1])} image: {box.tolist()}")
            if int(t.class_id[i]) not in names:
                add(i, f"unknown class id {int(t.class_id[i])}; known: {sorted(names)}")
        if ann_ids is not None:
            valid = ann_ids[ann_ids >= 0]
            dup = [int(v) for v, n in Counter(valid.tolist()).items() if n > 1]
            for v in dup[:50]:
                first = int(np.flatnonzero(ann_ids == v)[1])
                add(first, f"duplicate annotation id {v}")
        counts = Counter((r.split, r.file_name) for r in self.images)  # names are per split (CVAT subsets)
        for (split, name), n in counts.items():
            if n > 1:
                in_split = f" of split {split!r}" if split else ""
                issues.append(Issue("error", name, f"file name used by {n} image records{in_split}"))
        if check_images:
            for rec in self.images:
                if rec.path is None:
                    issues.append(Issue("error", rec.file_name, "image file not found (pass the image folder)"))
                    continue
                if not rec.path.is_file():
                    issues.append(Issue("error", os.fspath(rec.path), "image file is missing"))
                    continue
                from detectkit.image import image_size_wh

                try:
                    size = image_size_wh(rec.path)
                except InvalidInputError as exc:
                    issues.append(Issue("error", os.fspath(rec.path), f"unreadable image: {exc}"))
                    continue
                if size != (rec.width, rec.height):
                    issues.append(
                        Issue(
                            "error",
                            os.fspath(rec.path),
                            f"image is {size[0]}x{size[1]} but annotated as {rec.width}x{rec.height}",
                        )
                    )
        return issues

    # ------------------------------------------------------------------ construction from predictions
    @classmethod
    def from_predictions(
        cls,
        items: Iterable[tuple[ImageRecord | str | os.PathLike[str], Detections]],
        *,
        names: Mapping[int, str] | Sequence[str] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> Dataset:
        """A dataset from per-image predictions, e.g. for auto-labelling a folder.

        Args:
            items: ``(image, Detections)`` pairs; the image is an ``ImageRecord`` or a path
                (its size then comes from ``Detections.image_size_wh`` or the file header).
            names: class id -> name; defaults to the union of the ``Detections.names``.
            root: file names are stored relative to this folder (default: the file name only).

        >>> d = Detections(xyxy=[[1, 2, 30, 40]], confidence=[0.9], class_id=[0], names={0: "cat"},
        ...                image_size_wh=(64, 48))
        >>> ds = Dataset.from_predictions([("imgs/a.jpg", d)])
        >>> ds.images[0].file_name, ds.names, ds.is_predictions
        ('a.jpg', {0: 'cat'}, True)
        """
        from detectkit.image import image_size_wh

        records: list[ImageRecord] = []
        annotations: dict[int, Detections] = {}
        name_map: dict[int, str] = {} if names is None else dict(Detections.empty(names=names).names)
        root_path = None if root is None else Path(root)
        for i, (image, dets) in enumerate(items, start=1):
            if isinstance(image, ImageRecord):
                rec = image
            else:
                path = Path(image)
                if root_path is not None:
                    try:
                        fname = path.relative_to(root_path).as_posix()
                    except ValueError:
                        fname = path.name
                else:
                    fname = path.name
                if dets.image_size_wh is not None:
                    w, h = dets.image_size_wh
                else:
                    w, h = image_size_wh(path)
                rec = ImageRecord(i, fname, w, h, path=path)
            records.append(rec)
            if names is None:
                for k, v in dets.names.items():
                    name_map.setdefault(k, v)
            annotations[rec.id] = dets
        used = set()
        for d in annotations.values():
            used.update(d.class_id.tolist())
        for k in used:
            name_map.setdefault(k, str(k))
        cats = [Category(k, v) for k, v in sorted(name_map.items())]
        ds = cls(categories=cats, images=records, annotations=annotations)
        if ds._table.confidence is None and any(d.confidence is not None for d in annotations.values()):
            ds._table.confidence = np.zeros(0, np.float32)  # predictions, all images empty
        return ds

    def as_ground_truth(self) -> Dataset:
        """The same objects without confidence (scores kept in the ``"score"`` data column).

        >>> d = Detections(xyxy=[[0, 0, 1, 1]], confidence=[0.5])
        >>> gt = Dataset.from_predictions([(ImageRecord(1, "a.jpg", 4, 4), d)]).as_ground_truth()
        >>> gt.is_predictions, gt.detections(1).data["score"].tolist()
        (False, [0.5])
        """
        t = self._table
        if t.confidence is None:
            return self
        data = t.data.copy()
        data["score"] = t.confidence.copy()
        return self._derive(table=t.replace(confidence=None, data=data))

    # ------------------------------------------------------------------ formats
    # Formats are reached through detectkit.registry (filled by detectkit.formats): this
    # module never imports a format module.
    @classmethod
    def read(cls, path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> Dataset:
        """Read any supported format (auto-detected when ``format`` is None); see :mod:`detectkit.formats`."""
        return registry.read_dataset(path, format=format, **options)  # type: ignore[no-any-return]

    def write(self, path: str | os.PathLike[str], *, format: str, **options: Any) -> ConvertSummary:
        """Write in ``format``; returns a summary of what the format could not hold."""
        return registry.write_dataset(self, path, format=format, **options)  # type: ignore[no-any-return]

    @classmethod
    def from_coco(cls, path: str | os.PathLike[str], **options: Any) -> Dataset:
        """Read a COCO JSON file (see :func:`detectkit.formats.coco.read`)."""
        return registry.format_module("coco").read(path, **options)  # type: ignore[no-any-return]

    def to_coco(self, path: str | os.PathLike[str], **options: Any) -> ConvertSummary:
        """Write a COCO JSON file (see :func:`detectkit.formats.coco.write`)."""
        return registry.format_module("coco").write(self, path, **options)  # type: ignore[no-any-return]

    @classmethod
    def from_yolo(cls, path: str | os.PathLike[str], **options: Any) -> Dataset:
        """Read a YOLO dataset folder or its ``data.yaml`` (see :func:`detectkit.formats.yolo.read`)."""
        return registry.format_module("yolo").read(path, **options)  # type: ignore[no-any-return]

    def to_yolo(self, path: str | os.PathLike[str], **options: Any) -> ConvertSummary:
        """Write a YOLO dataset folder (see :func:`detectkit.formats.yolo.write`)."""
        return registry.format_module("yolo").write(self, path, **options)  # type: ignore[no-any-return]

    @classmethod
    def from_voc(cls, path: str | os.PathLike[str], **options: Any) -> Dataset:
        """Read Pascal VOC XML files (see :func:`detectkit.formats.voc.read`)."""
        return registry.format_module("voc").read(path, **options)  # type: ignore[no-any-return]

    def to_voc(self, path: str | os.PathLike[str], **options: Any) -> ConvertSummary:
        """Write Pascal VOC XML files (see :func:`detectkit.formats.voc.write`)."""
        return registry.format_module("voc").write(self, path, **options)  # type: ignore[no-any-return]

    @classmethod
    def from_labelme(cls, path: str | os.PathLike[str], **options: Any) -> Dataset:
        """Read LabelMe JSON files (see :func:`detectkit.formats.labelme.read`)."""
        return registry.format_module("labelme").read(path, **options)  # type: ignore[no-any-return]

    def to_labelme(self, path: str | os.PathLike[str], **options: Any) -> ConvertSummary:
        """Write LabelMe JSON files (see :func:`detectkit.formats.labelme.write`)."""
        return registry.format_module("labelme").write(self, path, **options)  # type: ignore[no-any-return]

    @classmethod
    def from_cvat(cls, path: str | os.PathLike[str], **options: Any) -> Dataset:
        """Read a CVAT for images 1.1 XML file (see :func:`detectkit.formats.cvat.read`)."""
        return registry.format_module("cvat").read(path, **options)  # type: ignore[no-any-return]

    def to_cvat(self, path: str | os.PathLike[str], **options: Any) -> ConvertSummary:
        """Write a CVAT for images 1.1 XML file (see :func:`detectkit.formats.cvat.write`)."""
        return registry.format_module("cvat").write(self, path, **options)  # type: ignore[no-any-return]
