"""COCO JSON: ground truth (``images`` / ``annotations`` / ``categories``) and results lists.

Read and write keep what COCO carries: ``bbox`` exactly as given, polygon and RLE
segmentation (compressed or not) as given, ``iscrowd``, ``area``, annotation / image /
category ids (non-contiguous allowed), ``info``, ``licenses`` and any extra keys of images,
categories and annotations. Images without annotations stay. A dataset whose category ids
are 0-based (YOLO, VOC, LabelMe, CVAT sources) is written with ids starting at 1.

>>> import json, tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "gt.json").write_text(json.dumps({
...     "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
...     "categories": [{"id": 3, "name": "cat"}],
...     "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1.5, 2, 10, 20],
...                      "area": 200, "iscrowd": 0}]}))
>>> ds = read(tmp / "gt.json")
>>> ds.detections(7).xyxy.tolist(), ds.names
([[1.5, 2.0, 11.5, 22.0]], {3: 'cat'})
>>> summary = write(ds, tmp / "out.json")
>>> json.loads((tmp / "out.json").read_text())["annotations"][0]["bbox"]
[1.5, 2, 10, 20]
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import numpy as np

from detectkit._progress import Progress, track
from detectkit.dataset import NO_EXTRA, Category, Dataset, ImageRecord
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    IssueLog,
    atomic_file,
    image_size_of,
    parse_json,
    pauses_gc,
    plain_relpaths,
    safe_relpath,
    warn_skipped,
)
from detectkit.table import ObjectTable, Provenance, decode_values

__all__ = ["read", "read_results", "write", "write_results"]

_ANN_KEYS = frozenset({"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"})
_IMG_KEYS = frozenset({"id", "file_name", "width", "height"})
_CAT_KEYS = frozenset({"id", "name", "supercategory"})
_CHUNK = 2000


# Image keys of the COCO release besides the required ones; they decode on the typed fast path.
_IMG_OPTIONAL = ("license", "coco_url", "date_captured", "flickr_url")


@functools.cache
def _typed_decoders() -> _Decoders:
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
    img_fields += [(k, Any, unset) for k in _IMG_OPTIONAL]
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
    return _Decoders(
        msgspec.json.Decoder(doc),
        msgspec.json.Decoder(doc_text),
        msgspec.json.Decoder(annotations),
        msgspec.json.Decoder(list[res]),  # type: ignore[valid-type]
    )


class _Decoders(NamedTuple):
    doc: Any  # a ground-truth file, all of it
    doc_text: Any  # a ground-truth file, its annotation array as text
    annotations: Any  # an annotation array (a chunk of it)
    results: Any  # a results list


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"COCO file {os.fspath(path)} does not exist") from None


class _MappedFile:
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
            self.data = _read_bytes(path)
            self._dontneed = None

    def drop(self) -> None:
        """Let the OS take back the pages read so far (no-op without ``madvise``)."""
        if self._dontneed is not None:
            self.data.madvise(self._dontneed)


def _decode_plain(path: Path, data: bytes) -> Any:
    """The generic route: any JSON document (``AnnotationParseError`` with line and column)."""
    try:
        return parse_json(data)
    except json.JSONDecodeError as exc:
        raise AnnotationParseError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise AnnotationParseError(path, f"not UTF-8 text: {exc}") from None


def _decode_typed(data: bytes, which: str) -> Any:
    """Typed structs when the data has the common shape (decoder ``which``), else ``None``."""
    import msgspec

    try:
        return getattr(_typed_decoders(), which).decode(data)
    except msgspec.DecodeError:  # includes ValidationError: not the common shape
        return None


class _OtherShapeError(Exception):
    """An annotation chunk the typed decoder refuses: the file is read the generic way."""


# Annotation text decoded per msgspec call: the typed structs of one chunk (about 3x the
# text) are all that exists at a time besides the columns, so memory does not grow with
# them. A chunk ends where one object ends: ``}`` , ``{`` at the array's top level. A match
# inside a string or a nested value leaves the chunk invalid JSON (unclosed), never wrong.
_ANN_CHUNK_BYTES = 1 << 21
_WHOLE_DECODE_BYTES = 16 << 20  # files up to this size decode in one go (structs: about 3x the text)
_NEXT_OBJECT = re.compile(rb"\}\s*,\s*\{")
_SPACE = b" \t\r\n"


def _decoded_chunks(text: memoryview, decoder: Any) -> Iterator[tuple[list[Any], int]]:
    """``(structs, bytes of the text consumed)`` per chunk of a JSON array's text.

    Raises :class:`_OtherShapeError` when the text is not an array of the decoder's structs.
    """
    import msgspec

    a, b = 0, len(text)
    while a < b and text[a] in _SPACE:
        a += 1
    while b > a and text[b - 1] in _SPACE:
        b -= 1
    if b - a < 2 or text[a] != 0x5B or text[b - 1] != 0x5D:  # not "[...]"
        raise _OtherShapeError
    start, stop = a + 1, b - 1
    while start < stop and text[start] in _SPACE:
        start += 1
    while start < stop:
        end = nxt = stop
        if stop - start > _ANN_CHUNK_BYTES:
            m = _NEXT_OBJECT.search(text, start + _ANN_CHUNK_BYTES, stop)
            if m is not None:
                end, nxt = m.start() + 1, m.end() - 1
        try:
            rows = decoder.decode(b"".join((b"[", text[start:end], b"]")))
        except msgspec.DecodeError:
            if end == stop:
                raise _OtherShapeError from None
            end = nxt = stop  # the boundary was inside a value (rare): the rest in one piece
            try:
                rows = decoder.decode(b"".join((b"[", text[start:end], b"]")))
            except msgspec.DecodeError:
                raise _OtherShapeError from None
        yield rows, nxt
        start = nxt


def _image_root(path: Path, images: str | os.PathLike[str] | None, first_names: Sequence[str]) -> Path | None:
    if images is not None:
        return Path(images)
    candidates = [path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    for root in candidates:
        if first_names and all((root / n).is_file() for n in first_names[:3]):
            return root
    return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@pauses_gc
def read(
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a COCO ground-truth JSON file.

    Args:
        path: the JSON file.
        images: the folder image ``file_name`` s are relative to (default: guessed from
            the JSON's folder, its ``images/`` sibling, ...); used for ``ImageRecord.path``
            and for sizes missing from the JSON (read from the image header only).
        strict: raise :class:`AnnotationParseError` at the first bad record instead of
            skipping it with a warning.

    Raises:
        AnnotationParseError: invalid JSON or structure (with line / record), or any bad
            record when ``strict``.
    """
    path = Path(path)
    try:
        large = path.stat().st_size > _WHOLE_DECODE_BYTES
    except OSError:
        large = False  # _read_bytes names the problem
    # Small files are read into memory and decode in one go (fastest). Large ones are mapped
    # and keep the annotation array as text, decoded in chunks (an extra pass over that text,
    # a few % slower; memory stays low). Nothing read keeps referring to the map afterwards
    # (chunk rows refer to chunk copies), so a file changed in place later cannot reach
    # into a dataset.
    mapped = _MappedFile(path) if large else None
    data = mapped.data if mapped is not None else _read_bytes(path)
    doc = _decode_typed(data, "doc_text" if large else "doc")
    if doc is None:
        doc = _decode_plain(path, bytes(data))
        del data, mapped
        return _read_document(path, doc, images, strict)
    del data
    if mapped is not None:
        mapped.drop()  # the document's annotation text refers to the map until decoded
    try:
        return _read_document(path, doc, images, strict, drop_pages=mapped.drop if mapped is not None else None)
    except _OtherShapeError:  # an annotation of another shape than the typed structs': read it all the generic way
        return _read_document(path, _decode_plain(path, _read_bytes(path)), images, strict)


def _read_document(
    path: Path,
    doc: Any,
    images: str | os.PathLike[str] | None,
    strict: bool,
    drop_pages: Callable[[], None] | None = None,
) -> Dataset:
    """A dataset from a decoded document: typed structs (annotations still text) or plain JSON.

    ``drop_pages`` is called after each chunk of annotation text (see :class:`_MappedFile`).
    """
    typed = not isinstance(doc, (dict, list))
    if typed:
        raw_cats, raw_images, raw_anns = doc.categories, doc.images, []  # annotations: decoded below
        info, licenses = doc.info, doc.licenses
        doc.images = []
    else:
        if isinstance(doc, list):
            raise AnnotationParseError(path, "this is a COCO results list; use read_results(path, dataset=...)")
        if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
            raise AnnotationParseError(path, "expected a JSON object with an 'images' list (COCO format)")
        raw_cats, raw_images, raw_anns = doc.get("categories", []), doc["images"], doc.get("annotations", [])
        info, licenses = doc.get("info"), doc.get("licenses")
        del doc
    log = IssueLog(strict)
    if not isinstance(raw_cats, list) or not isinstance(raw_anns, list):
        raise AnnotationParseError(path, "'categories' and 'annotations' must be lists")

    categories: list[Category] = []
    seen_cat: set[int] = set()
    for k, c in enumerate(raw_cats):
        if not isinstance(c, dict) or not _is_int(c.get("id")) or not isinstance(c.get("name"), str):
            log.bad(path, "category needs an integer 'id' and a string 'name'", record=f"categories[{k}]")
            continue
        if c["id"] in seen_cat:
            log.bad(path, f"duplicate category id {c['id']}", record=f"categories[{k}]")
            continue
        seen_cat.add(c["id"])
        extra = {key: v for key, v in c.items() if key not in _CAT_KEYS}
        categories.append(Category(c["id"], c["name"], c.get("supercategory"), extra))

    entries = _typed_images(raw_images) if typed else _plain_images(raw_images)
    names = [e[1] for e in entries[:3] if e is not None and isinstance(e[1], str)]
    root = _image_root(path, images, names)
    records: list[ImageRecord] = []
    position: dict[int, int] = {}
    # typed entries have integer ids (or None sizes) already; plain names need no per-name check
    fast = typed and plain_relpaths([e[1] for e in entries if e is not None])
    if fast and entries:  # and when ids are unique and every size is given: no per-image checks at all
        ids, names, widths, heights, extras = zip(*entries)
        if (
            len(set(ids)) == len(ids)
            and None not in widths
            and None not in heights
            and min(widths) > 0
            and min(heights) > 0
        ):
            with Progress(total=len(ids), desc="read coco images", unit="img") as bar:
                position = dict(zip(ids, range(len(ids))))
                paths = [root / name for name in names] if root is not None else itertools.repeat(None)
                records = list(map(ImageRecord, ids, names, widths, heights, paths, itertools.repeat(None), extras))
                bar.update(len(records))
            entries = []
    for k, entry in enumerate(track(entries, total=len(entries), desc="read coco images", unit="img")):
        where = f"images[{k}]"
        if entry is None or not (fast or (_is_int(entry[0]) and isinstance(entry[1], str))):
            log.bad(path, "image needs an integer 'id' and a string 'file_name'", record=where)
            continue
        image_id, given_name, w, h, img_extra = entry
        if fast:
            fname = given_name
        else:
            try:
                fname = safe_relpath(given_name)
            except InvalidInputError as exc:
                log.bad(path, str(exc), record=where)
                continue
        if image_id in position:
            log.bad(path, f"duplicate image id {image_id}", record=where)
            continue
        img_path = root / fname if root is not None else None
        if not ((w is not None and h is not None if fast else _is_int(w) and _is_int(h)) and w > 0 and h > 0):
            if w is not None or h is not None:
                log.bad(path, f"width/height must be positive integers, got {w!r}x{h!r}", record=where)
                continue
            if img_path is None or not img_path.is_file():
                log.bad(path, f"no width/height and image file {fname!r} not found (pass images=)", record=where)
                continue
            try:
                w, h = image_size_of(img_path)
            except InvalidInputError as exc:
                log.bad(path, str(exc), record=where)
                continue
        position[image_id] = len(records)
        records.append(
            ImageRecord(image_id, given_name if fname == given_name else fname, w, h, img_path, None, img_extra)
        )

    del raw_images, entries
    if typed:
        table, table_issues = _typed_annotations_table(path, doc, position, seen_cat, log, drop_pages)
    else:
        table, table_issues = _annotations_table(path, raw_anns, position, seen_cat, log, results=False)
    issues = log.issues + table_issues
    warn_skipped([i for i in issues if i.severity == "error"], os.fspath(path))
    return Dataset.from_table(
        categories,
        records,
        _finished(table, path, "annotations"),
        info=info,
        licenses=licenses,
        issues=issues,
        source_format="coco",
    )


_ImageEntry = tuple[Any, Any, Any, Any, Mapping[str, Any]]


def _plain_images(raw: list[Any]) -> list[_ImageEntry | None]:
    """``(id, file_name, width, height, extra)`` per image dict (``None`` for a non-object)."""
    return [
        (im.get("id"), im.get("file_name"), im.get("width"), im.get("height"), _extra(im, _IMG_KEYS))
        if isinstance(im, dict)
        else None
        for im in raw
    ]


def _typed_images(raw: list[Any]) -> list[_ImageEntry | None]:
    """The same entries from the typed fast path's image structs."""
    import msgspec

    unset = msgspec.UNSET
    fields = attrgetter("id", "file_name", "width", "height", *_IMG_OPTIONAL)
    out: list[_ImageEntry | None] = []
    absent = (unset,) * len(_IMG_OPTIONAL)
    for values in map(fields, raw):
        optional = values[4:]
        extra = NO_EXTRA if optional == absent else {k: v for k, v in zip(_IMG_OPTIONAL, optional) if v is not unset}
        out.append((values[0], values[1], values[2], values[3], extra))
    return out


def _extra(record: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    return {key: v for key, v in record.items() if key not in known} if not known.issuperset(record) else NO_EXTRA


def _typed_annotations_table(
    path: Path,
    doc: Any,
    position: Mapping[int, int],
    known_cats: set[int],
    log: IssueLog,
    drop_pages: Callable[[], None] | None = None,
) -> tuple[ObjectTable, list[Any]]:
    """The typed document's annotations as a column table: its structs, or its annotation text
    decoded chunk by chunk.

    Only one chunk's structs exist at a time. Raises :class:`_OtherShapeError` when a chunk does
    not decode into the typed structs.
    """
    import msgspec

    text, doc.annotations = doc.annotations, None
    if isinstance(text, list):  # decoded with the document
        return _annotations_table(path, text, position, known_cats, log, results=False, typed=True)
    view = memoryview(text)
    decoder = _typed_decoders().annotations
    # the shortest typed annotation, {"image_id":1,"category_id":1,"bbox":[1,2,3,4]} and a
    # comma, takes 48 bytes: an upper bound on the rows, allocated once (see _Columns)
    columns = _Columns(len(view) // 48 + 1)
    with Progress(total=len(view), desc="read coco annotations", unit="B") as bar:
        for rows, consumed in _decoded_chunks(view, decoder):
            table = _fast_table(rows, position, known_cats, results=False, typed=True)
            if table is None:  # well-typed but semantically bad: every record through the checking pass
                try:
                    rows = decoder.decode(view)
                except msgspec.DecodeError:
                    raise _OtherShapeError from None
                return _annotations_table(path, rows, position, known_cats, log, results=False, typed=True)
            table.data["_coco_index"] += columns.rows
            columns.add(table)
            bar.update(consumed - bar.done)
            if drop_pages is not None:
                drop_pages()
    del view, text  # box-only files: nothing refers to the file's bytes any more
    if not columns.rows:  # the same (empty) columns as a file with annotations
        empty = _fast_table([], position, known_cats, results=False, typed=True)
        return (empty if empty is not None else ObjectTable.empty()), []
    return columns.table(), []


class _Columns:
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


def _annotations_table(
    path: Path,
    raw: list[Any],
    position: Mapping[int, int],
    known_cats: set[int],
    log: IssueLog,
    *,
    results: bool,
    typed: bool = False,
) -> tuple[ObjectTable, list[Any]]:
    """The annotation list as a column table: a vectorised pass, or a checking pass on bad input.

    ``typed`` records are the fast path's structs (every field present, types checked).
    """
    fast = _fast_table(raw, position, known_cats, results=results, typed=typed)
    if fast is not None:
        return fast, []
    if typed:  # well-typed but semantically bad (unknown image id, negative size, ...): check as dicts
        fields = ("image_id", "category_id", "bbox", "score", "segmentation") if results else _ANN_FIELDS
        raw = [{k: getattr(a, k) for k in fields} for a in raw]
        import msgspec

        for a in raw:
            if isinstance(a["segmentation"], msgspec.Raw):
                a["segmentation"] = msgspec.json.decode(a["segmentation"])
    return _checked_table(path, raw, position, known_cats, log, results=results)


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


_ANN_FIELDS = ("image_id", "category_id", "bbox", "id", "iscrowd", "area", "segmentation")


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


def _fast_table(
    raw: list[Any], position: Mapping[int, int], known_cats: set[int], *, results: bool, typed: bool = False
) -> ObjectTable | None:
    """Column-wise extraction for well-formed input; ``None`` sends the caller to the checking pass."""
    m = len(raw)
    if results:
        keys: tuple[str, ...] = ("image_id", "category_id", "bbox", "score", "segmentation")
        defaults: tuple[Any, ...] = (None, None, None, None, None)
    else:
        keys = _ANN_FIELDS
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
            score = np.fromiter(scores, np.float64, m).astype(np.float32) if results else None
        else:
            if None in image_ids or None in cls_list or None in boxes or (results and None in scores):
                return None
            img = np.array(list(map(position.__getitem__, image_ids)), dtype=np.int64).reshape(m)
            bbox = np.array(boxes, dtype=np.float64).reshape(m, 4) if m else np.zeros((0, 4))
            score = np.array(scores, dtype=np.float32).reshape(m) if results else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    cls = np.fromiter(cls_list, np.int64, m) if typed else np.array(cls_list)
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
    if not results:
        try:
            ann_id = np.fromiter(ids, np.int64, m) if typed else np.array(ids, dtype=np.int64).reshape(m)
            iscrowd = np.fromiter(crowd, np.int64, m) if typed else np.array(crowd, dtype=np.int64).reshape(m)
            area_arr = np.fromiter(area, np.float64, m) if typed else np.array(area, dtype=np.float64).reshape(m)
        except (TypeError, ValueError):
            return None
        if not typed and (not set(map(type, ids)) <= {int} or not set(map(type, crowd)) <= {int, bool}):
            return None
        data = {"annotation_id": ann_id, "iscrowd": iscrowd, "area": area_arr, **data}
    present: set[str] = set().union(*raw) if m and not typed else set()
    allowed = _ANN_KEYS | {"score"} if results else _ANN_KEYS
    if not present <= allowed:
        extra = np.empty(m, dtype=object)
        extra[:] = [None if allowed.issuperset(a) else {k: v for k, v in a.items() if k not in allowed} for a in raw]
        data["_coco_extra"] = extra
    return ObjectTable(xyxy, cls, img, score, data)


def _checked_table(
    path: Path,
    raw: list[Any],
    position: Mapping[int, int],
    known_cats: set[int],
    log: IssueLog,
    *,
    results: bool,
) -> tuple[ObjectTable, list[Any]]:
    """Record-by-record parse that reports (or, when strict, raises on) every bad annotation."""
    m = len(raw)
    img = np.empty(m, np.int64)
    cls = np.empty(m, np.int64)
    bbox = np.empty((m, 4), np.float64)
    ann_id = np.full(m, -1, np.int64)
    crowd = np.zeros(m, np.int64)
    area = np.full(m, np.nan)
    score = np.zeros(m, np.float32)
    seg = np.empty(m, dtype=object)
    extra = np.empty(m, dtype=object)
    keep = np.ones(m, bool)
    any_extra = False
    for k, a in enumerate(raw):
        where = f"annotations[{k}]" if not results else f"[{k}]"
        try:
            ip = position[a["image_id"]]
            cid = a["category_id"]
            b = a["bbox"]
            if not _is_int(cid):
                raise TypeError(f"category_id must be an integer, got {cid!r}")
            if len(b) != 4:
                raise TypeError(f"bbox must have 4 numbers [x, y, w, h], got {b!r}")
            bbox[k] = b
            if results:
                score[k] = a["score"]
            else:
                aid = a.get("id")
                if aid is not None:
                    if not _is_int(aid):
                        raise TypeError(f"id must be an integer, got {aid!r}")
                    ann_id[k] = aid
                c = a.get("iscrowd", 0)
                crowd[k] = int(c)
                if "area" in a:
                    area[k] = float(a["area"])
        except KeyError as exc:
            key = exc.args[0]
            if key in ("image_id", "category_id", "bbox", "score"):
                msg = (
                    f"missing '{key}'"
                    if isinstance(a, dict) and key not in a
                    else f"unknown image_id {a.get('image_id')!r}"
                )
            else:
                msg = f"unknown image_id {key!r}"
            log.bad(path, msg, record=where)
            keep[k] = False
            continue
        except (TypeError, ValueError, AttributeError) as exc:
            log.bad(path, f"malformed annotation: {exc}", record=where)
            keep[k] = False
            continue
        img[k] = ip
        cls[k] = cid
        seg[k] = a.get("segmentation")
        if not _ANN_KEYS.issuperset(a):
            ex = {key: v for key, v in a.items() if key not in _ANN_KEYS and not (results and key == "score")}
            if ex:
                extra[k] = ex
                any_extra = True
    bad_box = keep & ~(np.isfinite(bbox).all(axis=1) & (bbox[:, 2] >= 0) & (bbox[:, 3] >= 0))
    for k in np.flatnonzero(bad_box).tolist():
        log.bad(
            path, f"bbox must be finite with non-negative width/height, got {list(bbox[k])}", record=f"annotations[{k}]"
        )
        keep[k] = False
    if known_cats:
        unknown = keep & ~np.isin(cls, list(known_cats))
        for k in np.flatnonzero(unknown).tolist():
            log.bad(path, f"unknown category_id {int(cls[k])}", record=f"annotations[{k}]")
            keep[k] = False
    rows = np.flatnonzero(keep) if not keep.all() else slice(None)
    xyxy = bbox[rows].copy()
    xyxy[:, 2:] += xyxy[:, :2]
    index = np.arange(m, dtype=np.int64)
    data: dict[str, np.ndarray] = {"segmentation": seg[rows], "_coco_bbox": bbox[rows], "_coco_index": index[rows]}
    if not results:
        data = {"annotation_id": ann_id[rows], "iscrowd": crowd[rows], "area": area[rows], **data}
    if any_extra:
        data["_coco_extra"] = extra[rows]
    table = ObjectTable(xyxy, cls[rows], img[rows], score[rows] if results else None, data)
    return table, []


def _finished(table: ObjectTable, path: Path, record_list: str) -> ObjectTable:
    """The reader's table with its bookkeeping columns moved where they belong: the source
    boxes and unknown keys into the ``"coco"`` extras, the record index into the provenance;
    ``segmentation`` marked as possibly still JSON text (decoded on access)."""
    data = table.data
    index = data.pop("_coco_index")
    extras = {"bbox": data.pop("_coco_bbox")}
    if "_coco_extra" in data:
        extras["extra"] = data.pop("_coco_extra")
    data.mark_encoded("segmentation")
    table.extras["coco"] = extras
    table.provenance = Provenance.of_records(os.fspath(path), record_list, index)
    return table


# ---------------------------------------------------------------------------------------- write
def _category_lut(ds: Dataset, category_ids: str) -> dict[int, int]:
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
        p = np.asarray(poly, dtype=np.float64)
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


@functools.cache
def _annotation_struct() -> Any:
    """A msgspec struct for one written annotation, keys in COCO's usual order; ``UNSET``
    fields (a segmentation or score the object does not have) are left out. Encoding
    structs built by ``map`` is about 2x faster than building a dict per object."""
    import msgspec

    unset: Any = msgspec.UNSET
    fields: list[Any] = [("id", Any), ("image_id", Any), ("category_id", Any), ("bbox", Any)]
    fields += [(k, Any, unset) for k in ("segmentation", "area", "iscrowd", "score")]
    return msgspec.defstruct("AnnotationOut", fields, gc=False)


def _encode(value: Any) -> bytes:
    return _encoder().encode(value)  # type: ignore[no-any-return]


def _dump_list(fh: IO[bytes], items: Iterable[Any], progress: Progress | None = None) -> None:
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


def _plain_rows(values: np.ndarray) -> list[list[float | int]]:
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
    return [row[0] for row in _plain_rows(out.reshape(n, 1))]


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


def _coco_boxes(ds: Dataset) -> np.ndarray:
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
    lut = _category_lut(ds, category_ids)
    if any(k != v for k, v in lut.items()):
        summary.notes.append("category ids shifted to start at 1 (COCO reserves 0)")
    t = ds.table
    unknown = sorted(set(np.unique(t.class_id).tolist()) - set(lut))
    for k in unknown:
        lut[k] = k
        summary.notes.append(f"class id {k} has no category entry; written as is")
    ann_ids = _annotation_ids(ds, summary)
    boxes = _coco_boxes(ds)
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
        box_list = _plain_rows(boxes_o)
        area_l = _areas(boxes_o, None if area is None else area[order], seg_o)
        crowd_l = crowd[order].astype(np.int64).tolist() if crowd is not None else [0] * n
        conf_l = [round(c, 6) for c in conf[order].tolist()] if conf is not None else [unset] * n
        seg_l = seg_o.tolist() if seg_o is not None else [None] * n
        coco_l = np.asarray(from_coco, dtype=bool)[order].tolist() if n else []
        empty: list[Any] = []
        # a 'segmentation' as given; none for objects read from COCO without one, else []
        seg_l = [v if v is not None else unset if c else empty for v, c in zip(seg_l, coco_l)]
        if extra is None and not attribute_columns:  # the common case: straight from columns
            yield from map(_annotation_struct(), ids_l, img_l, cls_l, box_list, seg_l, area_l, crowd_l, conf_l)
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
        _dump_list(fh, image_dicts())
        fh.write(b',"annotations":')
        with Progress(total=len(ds.table), desc="write coco", unit="obj") as bar:
            _dump_list(fh, annotations(), bar)
        fh.write(b',"categories":' + _encode(cats) + b"}")
    return summary


# ---------------------------------------------------------------------------------------- results
@pauses_gc
def read_results(path: str | os.PathLike[str], *, dataset: Dataset, strict: bool = False) -> Dataset:
    """Read a COCO *results* list (``image_id``, ``category_id``, ``bbox``, ``score``) as predictions.

    The images and categories come from ``dataset`` (the ground truth the results refer to).
    """
    path = Path(path)
    data = _read_bytes(path)
    doc = _decode_typed(data, "results")
    typed = doc is not None
    if doc is None:
        doc = _decode_plain(path, data)
    del data
    if not isinstance(doc, list):
        raise AnnotationParseError(path, "expected a JSON list of results (image_id, category_id, bbox, score)")
    log = IssueLog(strict)
    position = {r.id: i for i, r in enumerate(dataset.images)}
    cats = {c.id for c in dataset.categories}
    table, _ = _annotations_table(path, doc, position, cats, log, results=True, typed=typed)
    warn_skipped(log.issues, os.fspath(path))
    return Dataset.from_table(
        list(dataset.categories),
        list(dataset.images),
        _finished(table, path, ""),
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
    lut = _category_lut(ds, category_ids)
    t = ds.table
    boxes = _plain_rows(_coco_boxes(ds))
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
        _dump_list(fh, items(), bar)
    return summary
