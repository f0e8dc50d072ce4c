"""The COCO reader's fast path: typed msgspec decoding, memory-mapped chunked reading, and
the vectorised column pass over well-formed annotations.

The reader reaches it through one call per operation, and each may only decline (return
``None``), never decide differently (as sahi's postprocess backends and torchvision's ops):

- :func:`read` ``(path, build)``: the file decoded into typed structs and handed to ``build``
  (the reader's rules, ``read._dataset``) as a :class:`~detectkit.formats.coco.layout.Document`;
  ``None`` when the file is not of the typed shape (the caller decodes it with ``json``);
- :func:`read_results` ``(path)``: a results list as typed structs, or ``None``;
- :func:`fast_table` ``(records, ...)``: the column pass over records, or ``None`` (the rules
  then check every record, ``read._checked_table``, which defines the behaviour).

``tests/formats/test_coco.py`` reads a table of edge-case files both ways and requires identical
datasets (table, extras and provenance included).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from detectkit._progress import Progress
from detectkit.dataset import NO_EXTRA
from detectkit.errors import InvalidInputError
from detectkit.formats.coco.layout import ANN_FIELDS, ANN_KEYS, IMG_OPTIONAL, Document, ImageEntry
from detectkit.table import ObjectTable

if TYPE_CHECKING:
    from detectkit.dataset import Dataset

__all__ = [
    "ANN_CHUNK_BYTES",
    "WHOLE_DECODE_BYTES",
    "Columns",
    "Decoders",
    "MappedFile",
    "OtherShapeError",
    "decode_typed",
    "decoded_chunks",
    "fast_table",
    "read",
    "read_results",
    "typed_decoders",
    "typed_images",
]


def read(path: Path, build: Callable[[Document], Dataset]) -> Dataset | None:
    """``build`` (the reader's rules) applied to the file decoded into typed structs, or ``None``:
    the file is not of the typed shape (or an annotation chunk is not), read it the plain way.

    Small files are read into memory and decode in one go (fastest). Large ones are mapped
    and keep the annotation array as text, decoded in chunks (an extra pass over that text,
    a few % slower; memory stays low). Nothing read keeps referring to the map afterwards
    (chunk rows refer to chunk copies), so a file changed in place later cannot reach into
    a dataset.
    """
    try:
        large = path.stat().st_size > WHOLE_DECODE_BYTES
        mapped = MappedFile(path) if large else None
        data = mapped.data if mapped is not None else path.read_bytes()
    except (OSError, InvalidInputError):
        return None  # the plain path names the problem
    doc = decode_typed(data, "doc_text" if large else "doc")
    del data
    if doc is None:
        return None
    if mapped is not None:
        mapped.drop()  # the document's annotation text refers to the map until decoded
    raw_images, doc.images = doc.images, []
    entries = typed_images(raw_images)
    del raw_images
    annotations = _TypedAnnotations(doc.annotations, mapped.drop if mapped is not None else None)
    doc.annotations = None
    typed = Document(
        doc.categories, entries, doc.info, doc.licenses, annotations.records, annotations.columns, typed=True
    )
    del doc, entries
    try:
        return build(typed)
    except OtherShapeError:  # an annotation chunk of another shape than the typed structs'
        return None


def read_results(path: Path) -> list[Any] | None:
    """A results list as typed structs, or ``None`` (not of the typed shape, or not readable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    rows: list[Any] | None = decode_typed(data, "results")
    return rows


class _TypedAnnotations:
    """The typed document's annotations: structs decoded with the document, or its annotation
    text (large files), decoded chunk by chunk by :meth:`columns`."""

    def __init__(self, value: Any, drop_pages: Callable[[], None] | None) -> None:
        self.value = value
        self.drop_pages = drop_pages

    def records(self) -> list[Any]:
        """Every annotation struct (``OtherShapeError`` when the text does not decode into them)."""
        import msgspec

        value, self.value = self.value, None
        if isinstance(value, list):
            return value
        try:
            rows: list[Any] = typed_decoders().annotations.decode(value)
        except msgspec.DecodeError:
            raise OtherShapeError from None
        return rows

    def columns(self, position: Mapping[int, int], known_cats: set[int]) -> ObjectTable | None:
        """The column table, or ``None`` (a record the column pass does not take: see :meth:`records`).

        Only one chunk's structs exist at a time. Raises :class:`OtherShapeError` when a chunk
        does not decode into the typed structs.
        """
        value = self.value
        if isinstance(value, list):  # decoded with the document
            table = fast_table(value, position, known_cats, results=False, typed=True)
            if table is not None:
                self.value = None
            return table
        view = memoryview(value)
        decoder = typed_decoders().annotations
        # the shortest typed annotation, {"image_id":1,"category_id":1,"bbox":[1,2,3,4]} and a
        # comma, takes 48 bytes: an upper bound on the rows, allocated once (see Columns)
        columns = Columns(len(view) // 48 + 1)
        with Progress(total=len(view), desc="read coco annotations", unit="B") as bar:
            for rows, consumed in decoded_chunks(view, decoder):
                table = fast_table(rows, position, known_cats, results=False, typed=True)
                if table is None:  # well-typed but semantically bad: every record through the checking pass
                    return None
                table.data["_coco_index"] += columns.rows
                columns.add(table)
                bar.update(consumed - bar.done)
                if self.drop_pages is not None:
                    self.drop_pages()
        del view, value
        self.value = None  # box-only files: nothing refers to the file's bytes any more
        if not columns.rows:  # the same (empty) columns as a file with annotations
            empty = fast_table([], position, known_cats, results=False, typed=True)
            return empty if empty is not None else ObjectTable.empty()
        return columns.table()


@functools.cache
def typed_decoders() -> Decoders:
    """msgspec decoders for the common shape of a COCO ground-truth file (the document, then its
    annotations) and a results list.

    Decoding straight into typed structs is about 2x faster than ``json.loads`` and holds
    far less memory than a dict per record. Unknown keys are forbidden, so a file with keys
    these structs do not name (kept losslessly) or with values of other types takes the
    generic ``json`` path, which reports bad records one by one.
    """
    import msgspec

    unset: Any = msgspec.UNSET
    box: Any = tuple[float, float, float, float]
    img_fields: list[Any] = [("id", int), ("file_name", str), ("width", int | None, None), ("height", int | None, None)]
    img_fields += [(k, Any, unset) for k in IMG_OPTIONAL]
    ann_fields: list[Any] = [("image_id", int), ("category_id", int), ("bbox", box), ("id", int, -1)]
    ann_fields += [("iscrowd", int, 0), ("area", float, float("nan")), ("segmentation", msgspec.Raw, None)]
    res_fields: list[Any] = [("image_id", int), ("category_id", int), ("bbox", box), ("score", float)]
    res_fields += [("segmentation", msgspec.Raw, None)]
    img = msgspec.defstruct("Img", img_fields, forbid_unknown_fields=True, gc=False)
    ann = msgspec.defstruct("Ann", ann_fields, forbid_unknown_fields=True, gc=False)
    res = msgspec.defstruct("Res", res_fields, forbid_unknown_fields=True, gc=False)
    images: Any = list[img]  # type: ignore[valid-type]
    annotations: Any = list[ann]  # type: ignore[valid-type]
    rest: list[Any] = [("categories", Any, []), ("info", Any, None), ("licenses", Any, None)]
    doc = msgspec.defstruct("Doc", [("images", images), ("annotations", annotations, []), *rest])
    # for large files: the annotation array kept as text, then decoded chunk by chunk
    doc_text = msgspec.defstruct(
        "DocText", [("images", images), ("annotations", msgspec.Raw, msgspec.Raw(b"[]")), *rest]
    )
    return Decoders(
        msgspec.json.Decoder(doc),
        msgspec.json.Decoder(doc_text),
        msgspec.json.Decoder(annotations),
        msgspec.json.Decoder(list[res]),  # type: ignore[valid-type]
    )


class Decoders(NamedTuple):
    doc: Any  # a ground-truth file, all of it
    doc_text: Any  # a ground-truth file, its annotation array as text
    annotations: Any  # an annotation array (a chunk of it)
    results: Any  # a results list


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"COCO file {os.fspath(path)} does not exist") from None


class MappedFile:
    """A file's bytes through a read-only memory map, where the OS offers one.

    The typed reader decodes large files straight from the map; :meth:`drop` returns its
    resident pages (the page cache keeps them, a later read faults them back in), so the
    file's size does not stay in the process's memory while its annotations are decoded
    chunk by chunk.
    """

    def __init__(self, path: Path) -> None:
        self.data: Any = None
        try:
            import mmap

            with open(path, "rb") as fh:
                self.data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._dontneed = getattr(mmap, "MADV_DONTNEED", None) if hasattr(self.data, "madvise") else None
        except FileNotFoundError:
            raise InvalidInputError(f"COCO file {os.fspath(path)} does not exist") from None
        except (OSError, ValueError):  # empty file, pipe, no mmap here: plain bytes
            self.data = read_bytes(path)
            self._dontneed = None

    def drop(self) -> None:
        """Let the OS take back the pages read so far (no-op without ``madvise``)."""
        if self._dontneed is not None:
            self.data.madvise(self._dontneed)


def decode_typed(data: bytes, which: str) -> Any:
    """Typed structs when the data has the common shape (decoder ``which``), else ``None``."""
    import msgspec

    try:
        return getattr(typed_decoders(), which).decode(data)
    except msgspec.DecodeError:  # includes ValidationError: not the common shape
        return None


class OtherShapeError(Exception):
    """An annotation chunk the typed decoder refuses: the file is read the generic way."""


# Annotation text decoded per msgspec call: the typed structs of one chunk (about 3x the
# text) are all that exists at a time besides the columns, so memory does not grow with
# them. A chunk ends where one object ends: ``}`` , ``{`` at the array's top level. A match
# inside a string or a nested value leaves the chunk invalid JSON (unclosed), never wrong.
ANN_CHUNK_BYTES = 1 << 21


WHOLE_DECODE_BYTES = 16 << 20  # files up to this size decode in one go (structs: about 3x the text)


_NEXT_OBJECT = re.compile(rb"\}\s*,\s*\{")


_SPACE = b" \t\r\n"


def decoded_chunks(text: memoryview, decoder: Any) -> Iterator[tuple[list[Any], int]]:
    """``(structs, bytes of the text consumed)`` per chunk of a JSON array's text.

    Raises :class:`OtherShapeError` when the text is not an array of the decoder's structs.
    """
    import msgspec

    a, b = 0, len(text)
    while a < b and text[a] in _SPACE:
        a += 1
    while b > a and text[b - 1] in _SPACE:
        b -= 1
    if b - a < 2 or text[a] != 0x5B or text[b - 1] != 0x5D:  # not "[...]"
        raise OtherShapeError
    start, stop = a + 1, b - 1
    while start < stop and text[start] in _SPACE:
        start += 1
    while start < stop:
        end = nxt = stop
        if stop - start > ANN_CHUNK_BYTES:
            m = _NEXT_OBJECT.search(text, start + ANN_CHUNK_BYTES, stop)
            if m is not None:
                end, nxt = m.start() + 1, m.end() - 1
        try:
            rows = decoder.decode(b"".join((b"[", text[start:end], b"]")))
        except msgspec.DecodeError:
            if end == stop:
                raise OtherShapeError from None
            end = nxt = stop  # the boundary was inside a value (rare): the rest in one piece
            try:
                rows = decoder.decode(b"".join((b"[", text[start:end], b"]")))
            except msgspec.DecodeError:
                raise OtherShapeError from None
        yield rows, nxt
        start = nxt


def typed_images(raw: list[Any]) -> list[ImageEntry | None]:
    """The same entries from the typed fast path's image structs."""
    import msgspec

    unset = msgspec.UNSET
    fields = attrgetter("id", "file_name", "width", "height", *IMG_OPTIONAL)
    out: list[ImageEntry | None] = []
    absent = (unset,) * len(IMG_OPTIONAL)
    for values in map(fields, raw):
        optional = values[4:]
        extra = NO_EXTRA if optional == absent else {k: v for k, v in zip(IMG_OPTIONAL, optional) if v is not unset}
        out.append((values[0], values[1], values[2], values[3], extra))
    return out


class Columns:
    """Chunk tables' rows copied into columns allocated once for an upper bound of rows.

    Pages of the bound that are never written cost no memory, and each chunk's table is freed
    right after its copy, so reading leaves no trail of freed pieces (which the allocator
    keeps) and needs no second copy to join them.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows = 0
        self._cols: dict[str, Any] = {}

    def add(self, t: ObjectTable) -> None:
        parts = {"\0xyxy": t.xyxy, "\0class_id": t.class_id, "\0image_index": t.image_index}
        parts.update((k, t.data.raw(k)) for k in t.data)
        k = len(t)
        if not self._cols:
            self._cols = {
                name: [] if v.dtype == object else np.empty((self.capacity, *v.shape[1:]), v.dtype)
                for name, v in parts.items()
            }
        if self.rows + k > self.capacity:  # never with the bound above; kept correct regardless
            self.capacity = max(2 * self.capacity, self.rows + k)
            for name, col in self._cols.items():
                if not isinstance(col, list):
                    grown = np.empty((self.capacity, *col.shape[1:]), col.dtype)
                    grown[: self.rows] = col[: self.rows]
                    self._cols[name] = grown
        for name, v in parts.items():
            col = self._cols[name]
            if isinstance(col, list):
                col.extend(v.tolist())
            else:
                col[self.rows : self.rows + k] = v
        self.rows += k

    def table(self) -> ObjectTable:
        n = self.rows
        cols = {
            name: np.fromiter(col, dtype=object, count=n) if isinstance(col, list) else col[:n]
            for name, col in self._cols.items()
        }
        return ObjectTable(cols.pop("\0xyxy"), cols.pop("\0class_id"), cols.pop("\0image_index"), None, cols)


# One shared ``[]`` for the empty ``segmentation`` of box-only annotations (never mutated): a
# list per annotation would cost 56 bytes each and pin the parser's freed memory in place.
_EMPTY_SEGMENTATION: list[Any] = []


def _share_empty(segs: list[Any], *, typed: bool = False) -> list[Any]:
    """``segs`` with every empty list replaced by the shared one.

    From the typed path each value is still the JSON text (``msgspec.Raw``; decoded when
    needed, see :class:`detectkit.table.Columns`); ``[]`` and ``null`` are resolved here so
    box-only files keep no reference to the file's bytes.
    """
    empty = _EMPTY_SEGMENTATION
    if typed:
        import msgspec

        empty_raw, null_raw = msgspec.Raw(b"[]"), msgspec.Raw(b"null")
        return [empty if v == empty_raw else None if v is None or v == null_raw else v for v in segs]
    return [empty if type(v) is list and not v else v for v in segs]


def _columns(raw: list[Any], keys: tuple[str, ...], defaults: tuple[Any, ...], *, typed: bool = False) -> list[Any]:
    """Per-key values over all records: one C-level pass when every record has every key.

    For ``typed`` structs each column is a one-shot iterator (read once, straight into an array).
    """
    if typed:
        return [map(attrgetter(k), raw) for k in keys]
    try:
        return [list(map(itemgetter(k), raw)) for k in keys]
    except KeyError:
        return [[a.get(k, d) for a in raw] for k, d in zip(keys, defaults)]


def fast_table(
    raw: list[Any], position: Mapping[int, int], known_cats: set[int], *, results: bool, typed: bool = False
) -> ObjectTable | None:
    """Column-wise extraction for well-formed input; ``None`` sends the caller to the checking pass."""
    m = len(raw)
    if results:
        keys: tuple[str, ...] = ("image_id", "category_id", "bbox", "score", "segmentation")
        defaults: tuple[Any, ...] = (None, None, None, None, None)
    else:
        keys = ANN_FIELDS
        defaults = (None, None, None, -1, 0, np.nan, None)
    try:
        cols = _columns(raw, keys, defaults, typed=typed)
        if results:
            image_ids, cls_list, boxes, scores, segs = cols
        else:
            image_ids, cls_list, boxes, ids, crowd, area, segs = cols
        if typed:  # every field present with its type: straight into arrays
            img = np.fromiter(map(position.__getitem__, image_ids), np.int64, m)
            bbox = np.fromiter(itertools.chain.from_iterable(boxes), np.float64, 4 * m).reshape(m, 4)
            score = np.fromiter(scores, np.float64, m) if results else None
        else:
            if None in image_ids or None in cls_list or None in boxes or (results and None in scores):
                return None
            img = np.array(list(map(position.__getitem__, image_ids)), dtype=np.int64).reshape(m)
            bbox = np.array(boxes, dtype=np.float64).reshape(m, 4) if m else np.zeros((0, 4))
            score = np.array(scores, dtype=np.float64).reshape(m) if results else None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return None
    try:  # ragged or beyond-int64 category ids (found by tests/fuzz): the checking pass reports them
        cls = np.fromiter(cls_list, np.int64, m) if typed else np.array(cls_list)
    except (TypeError, ValueError, OverflowError):
        return None
    if m and (cls.dtype.kind != "i" or (not typed and set(map(type, cls_list)) != {int})):
        return None
    cls = cls.astype(np.int64).reshape(m)
    if not np.isfinite(bbox).all() or (bbox[:, 2:] < 0).any():
        return None
    if known_cats and m and not np.isin(cls, list(known_cats)).all():
        return None
    if score is not None and not np.isfinite(score).all():
        return None
    xyxy = bbox.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    # fromiter: a slice assignment probes every value as a sequence (90 ms for 50k msgspec.Raw)
    seg = np.fromiter(_share_empty(segs, typed=typed), dtype=object, count=m)
    data: dict[str, np.ndarray] = {"segmentation": seg, "_coco_bbox": bbox, "_coco_index": np.arange(m, dtype=np.int64)}
    if score is not None:
        data["_coco_score"] = score
        score = score.astype(np.float32)
    if not results:
        try:
            ann_id = np.fromiter(ids, np.int64, m) if typed else np.array(ids, dtype=np.int64).reshape(m)
            iscrowd = np.fromiter(crowd, np.int64, m) if typed else np.array(crowd, dtype=np.int64).reshape(m)
            area_arr = np.fromiter(area, np.float64, m) if typed else np.array(area, dtype=np.float64).reshape(m)
        except (TypeError, ValueError, OverflowError):
            return None
        if not typed and (not set(map(type, ids)) <= {int} or not set(map(type, crowd)) <= {int, bool}):
            return None
        data = {"annotation_id": ann_id, "iscrowd": iscrowd, "area": area_arr, **data}
    present: set[str] = set().union(*raw) if m and not typed else set()
    allowed = ANN_KEYS | {"score"} if results else ANN_KEYS
    if not present <= allowed:
        extra = np.empty(m, dtype=object)
        extra[:] = [None if allowed.issuperset(a) else {k: v for k, v in a.items() if k not in allowed} for a in raw]
        data["_coco_extra"] = extra
    return ObjectTable(xyxy, cls, img, score, data)
