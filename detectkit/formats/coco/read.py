"""Reading COCO ground truth: the rules (required keys, ids, sizes, bad records)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._progress import Progress, track
from detectkit.dataset import NO_EXTRA, Category, Dataset, ImageRecord
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    FOLDER_SPLITS,
    IssueLog,
    image_size_of,
    parse_json,
    pauses_gc,
    plain_relpaths,
    safe_relpath,
    warn_skipped,
)
from detectkit.formats.coco import _fast
from detectkit.formats.coco.layout import ANN_FIELDS, ANN_KEYS, CAT_KEYS, IMG_KEYS, Document, ImageEntry
from detectkit.table import ObjectTable, Provenance

__all__ = [
    "annotations_table",
    "decode_plain",
    "finished",
    "from_dict",
    "is_int",
    "plain_document",
    "read",
    "read_bytes",
]


def decode_plain(path: Path, data: bytes) -> Any:
    """The generic route: any JSON document (``AnnotationParseError`` with line and column)."""
    try:
        return parse_json(data)
    except json.JSONDecodeError as exc:
        raise AnnotationParseError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise AnnotationParseError(path, f"not UTF-8 text: {exc}") from None


def _image_root(path: Path, images: str | os.PathLike[str] | None, first_names: Sequence[str]) -> Path | None:
    if images is not None:
        return Path(images)
    candidates = [path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    split = _split_of(path)
    if split:  # annotations/instances_val2017.json -> images/val2017, val2017/
        up = path.parent.parent
        candidates += [up / "images" / split, up / split, path.parent / "images" / split, path.parent / split]
    for root in candidates:
        if first_names and all((root / n).is_file() for n in first_names[:3]):
            return root
    return None


def _split_of(path: Path) -> str | None:
    """The split a COCO file name names: ``instances_val2017.json`` -> ``val2017``, else None.

    >>> _split_of(Path("annotations/instances_val.json")), _split_of(Path("coco.json"))
    ('val', None)
    """
    stem = path.stem
    for prefix in ("instances_", "person_keypoints_", "panoptic_"):
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix) :].strip("_.") or None
    return None


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@pauses_gc
def read(
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
    require_files: bool = True,
) -> Dataset:
    """Read a COCO ground-truth JSON file.

    A bad record (an image, category or annotation that breaks the rules) is skipped, and
    one warning counts the skipped records and names the first (file and record, e.g.
    ``annotations[5]``); they are also in ``Dataset.issues``. ``strict`` raises at the first
    one instead. ``detectkit convert`` and ``detectkit eval`` both read this way.

    Args:
        path: the JSON file; or a folder holding one JSON file, itself or in ``annotations/``
            (e.g. a Roboflow split folder with its ``_annotations.coco.json``); or a folder of
            split folders with one JSON each (a Roboflow COCO export: ``train/``, ``valid/``,
            ``test/``), read as one dataset whose records have ``split`` set (``valid`` ->
            ``val``; categories unified by name, colliding ids renumbered, as ``Dataset.merge``).
        images: the folder image ``file_name`` s are relative to (default: guessed from
            the JSON's folder, its ``images/`` sibling, ...); used for ``ImageRecord.path``
            and for sizes missing from the JSON (read from the image header only).
        strict: raise :class:`AnnotationParseError` at the first bad record instead of
            skipping it with a warning.
        require_files: an image needs a string ``file_name`` and a size (from the JSON or
            the image file). ``False`` (evaluation, as pycocotools reads ground truth): an
            image needs only an integer ``id``; a missing ``file_name`` reads as ``""`` and
            a missing size as ``0 x 0`` (no image file is looked for).

    Raises:
        AnnotationParseError: invalid JSON or structure (with line / record), or any bad
            record when ``strict``.
    """
    splits = split_jsons(Path(path))
    if splits:  # a Roboflow-style export: train/ valid/ test/, one JSON in each
        parts = []
        for split, file in splits:
            part = read(file, images=images, strict=strict, require_files=require_files)
            parts.append(part.with_images([r._replace(split=split) for r in part.images]))
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part)
        return merged
    path = json_in(Path(path))

    def build(doc: Document) -> Dataset:
        return _dataset(path, doc, images, strict, require_files)

    ds = _fast.read(path, build)  # the fast path: typed structs; None = it declines the file
    if ds is None:
        ds = build(plain_document(path, decode_plain(path, read_bytes(path))))
    return ds


def split_jsons(path: Path) -> list[tuple[str, Path]]:
    """``(split, JSON file)`` of a folder whose only JSON files are one per split sub-folder
    (``train/``, ``valid``/``val/``, ``test/``), in that order; ``[]`` for anything else.

    >>> split_jsons(Path("no/such/folder"))
    []
    """
    if not path.is_dir() or any(path.glob("*.json")) or (path / "annotations").is_dir():
        return []
    found: list[tuple[str, Path]] = []
    for name, split in FOLDER_SPLITS.items():
        sub = path / name
        if sub.is_dir():
            files = [f for f in sorted(sub.glob("*.json")) if not f.name.startswith(".")]
            if len(files) == 1:
                found.append((split, files[0]))
    return found


def json_in(path: Path) -> Path:
    """``path`` itself, or the one JSON file of the folder ``path`` (or of its ``annotations/``).

    Raises:
        InvalidInputError: the folder holds no JSON file, or several (they are named).
    """
    if not path.is_dir():
        return path
    found = [f for d in (path, path / "annotations") if d.is_dir() for f in sorted(d.glob("*.json"))]
    found = [f for f in found if not f.name.startswith(".")]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidInputError(f"COCO path {os.fspath(path)} is a folder holding no JSON file; pass the COCO file")
    names = ", ".join(os.fspath(f.relative_to(path)) for f in found[:5]) + (", ..." if len(found) > 5 else "")
    raise InvalidInputError(
        f"COCO path {os.fspath(path)} is a folder with {len(found)} JSON files ({names}); pass the one to read"
    )


def read_bytes(path: Path) -> bytes:
    """The file's bytes (``InvalidInputError`` naming a missing file)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"COCO file {os.fspath(path)} does not exist") from None


def plain_document(path: Path, doc: Any) -> Document:
    """A ground-truth document decoded by ``json`` (dicts and lists), checked for its shape."""
    if isinstance(doc, list):
        raise AnnotationParseError(path, "this is a COCO results list; use read_results(path, dataset=...)")
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise AnnotationParseError(path, "expected a JSON object with an 'images' list (COCO format)")
    raw_cats, raw_anns = doc.get("categories", []), doc.get("annotations", [])
    if not isinstance(raw_cats, list) or not isinstance(raw_anns, list):
        raise AnnotationParseError(path, "'categories' and 'annotations' must be lists")
    return Document(raw_cats, _plain_images(doc["images"]), doc.get("info"), doc.get("licenses"), lambda: raw_anns)


def from_dict(
    doc: Mapping[str, Any],
    *,
    source: str | os.PathLike[str] = "<COCO dict>",
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
    require_files: bool = True,
) -> Dataset:
    """A COCO ground-truth document already in memory (a ``dict``), read by the rules of :func:`read`.

    ``source`` names the document in warnings and errors. ``doc`` is not modified.

    >>> ds = from_dict({"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
    ...                 "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 3]}]},
    ...                require_files=False)
    >>> ds.images[0].file_name, ds.images[0].width, ds.detections(1).xyxy.tolist()
    ('', 0, [[0.0, 0.0, 2.0, 3.0]])
    """
    if not isinstance(doc, dict) and isinstance(doc, Mapping):
        doc = dict(doc)
    path = Path(source)
    return _dataset(path, plain_document(path, doc), images, strict, require_files)


def _dataset(
    path: Path,
    doc: Document,
    images: str | os.PathLike[str] | None,
    strict: bool,
    require_files: bool = True,
) -> Dataset:
    """The rules: a dataset from a decoded document (plain dicts or the fast path's structs)."""
    raw_cats, info, licenses = doc.categories, doc.info, doc.licenses
    log = IssueLog(strict)
    if not isinstance(raw_cats, list):
        raise AnnotationParseError(path, "'categories' and 'annotations' must be lists")

    categories: list[Category] = []
    seen_cat: set[int] = set()
    for k, c in enumerate(raw_cats):
        if not isinstance(c, dict) or not is_int(c.get("id")) or not isinstance(c.get("name"), str):
            log.bad(path, "category needs an integer 'id' and a string 'name'", record=f"categories[{k}]")
            continue
        if c["id"] in seen_cat:
            log.bad(path, f"duplicate category id {c['id']}", record=f"categories[{k}]")
            continue
        seen_cat.add(c["id"])
        extra = {key: v for key, v in c.items() if key not in CAT_KEYS}
        categories.append(Category(c["id"], c["name"], c.get("supercategory"), extra))

    typed = doc.typed
    entries = doc.images
    names = [e[1] for e in entries[:3] if e is not None and isinstance(e[1], str)]
    root = _image_root(path, images, names) if require_files or images is not None else None
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
        nameless = not require_files and entry is not None and entry[1] is None
        if entry is None or not (fast or (is_int(entry[0]) and (isinstance(entry[1], str) or nameless))):
            log.bad(path, "image needs an integer 'id' and a string 'file_name'", record=where)
            continue
        image_id, given_name, w, h, img_extra = entry
        if nameless:
            fname = given_name = ""
        elif fast:
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
        if not ((w is not None and h is not None if fast else is_int(w) and is_int(h)) and w > 0 and h > 0):
            if w is not None or h is not None:
                log.bad(path, f"width/height must be positive integers, got {w!r}x{h!r}", record=where)
                continue
            if not require_files:
                w = h = 0
            elif img_path is None or not img_path.is_file():
                log.bad(path, f"no width/height and image file {fname!r} not found (pass images=)", record=where)
                continue
            else:
                try:
                    w, h = image_size_of(img_path)
                except InvalidInputError as exc:
                    log.bad(path, str(exc), record=where)
                    continue
        position[image_id] = len(records)
        records.append(
            ImageRecord(image_id, given_name if fname == given_name else fname, w, h, img_path, None, img_extra)
        )

    del entries
    table = doc.columns(position, seen_cat) if doc.columns is not None else None
    table_issues: list[Any] = []
    if table is None:  # no column pass over the fast path's structs, or it declined: check the records
        anns = doc.records()
        table, table_issues = annotations_table(path, anns, position, seen_cat, log, results=False, typed=typed)
    issues = log.issues + table_issues
    warn_skipped([i for i in issues if i.severity == "error"], os.fspath(path))
    return Dataset.from_table(
        categories,
        records,
        finished(table, path, "annotations"),
        info=info,
        licenses=licenses,
        issues=issues,
        source_format="coco",
    )


def _plain_images(raw: list[Any]) -> list[ImageEntry | None]:
    """``(id, file_name, width, height, extra)`` per image dict (``None`` for a non-object)."""
    return [
        (im.get("id"), im.get("file_name"), im.get("width"), im.get("height"), _extra(im, IMG_KEYS))
        if isinstance(im, dict)
        else None
        for im in raw
    ]


def _extra(record: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    return {key: v for key, v in record.items() if key not in known} if not known.issuperset(record) else NO_EXTRA


def annotations_table(
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
    fast = _fast.fast_table(raw, position, known_cats, results=results, typed=typed)
    if fast is not None:
        return fast, []
    if typed:  # well-typed but semantically bad (unknown image id, negative size, ...): check as dicts
        fields = ("image_id", "category_id", "bbox", "score", "segmentation") if results else ANN_FIELDS
        raw = [{k: getattr(a, k) for k in fields} for a in raw]
        import msgspec

        for a in raw:
            if isinstance(a["segmentation"], msgspec.Raw):
                a["segmentation"] = msgspec.json.decode(a["segmentation"])
    return _checked_table(path, raw, position, known_cats, log, results=results)


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
    score = np.zeros(m, np.float64)
    from_mask = np.zeros(m, bool)
    seg = np.empty(m, dtype=object)
    extra = np.empty(m, dtype=object)
    keep = np.ones(m, bool)
    any_extra = False
    for k, a in enumerate(raw):
        where = f"annotations[{k}]" if not results else f"[{k}]"
        try:
            ip = position[a["image_id"]]
            cid = a["category_id"]
            if results and a.get("bbox", []) == [] and isinstance(a.get("segmentation"), dict):
                b = box_of_rle(a["segmentation"])  # a segmentation-only result (pycocotools' loadRes)
                from_mask[k] = True
            else:
                b = a["bbox"]
            if not is_int(cid) or not -(1 << 63) <= cid < 1 << 63:  # beyond int64: found by tests/fuzz
                raise TypeError(f"category_id must be an integer (int64), got {cid!r}")
            if len(b) != 4:
                raise TypeError(f"bbox must have 4 numbers [x, y, w, h], got {b!r}")
            bbox[k] = b
            if results:
                score[k] = a["score"]
            else:
                aid = a.get("id")
                if aid is not None:
                    if not is_int(aid):
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
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            log.bad(path, f"malformed annotation: {exc}", record=where)
            keep[k] = False
            continue
        img[k] = ip
        cls[k] = cid
        seg[k] = a.get("segmentation")
        if not ANN_KEYS.issuperset(a):
            ex = {key: v for key, v in a.items() if key not in ANN_KEYS and not (results and key == "score")}
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
    else:
        data["_coco_score"] = score[rows]
        if from_mask.any():
            data["_coco_box_from_mask"] = from_mask[rows]
    if any_extra:
        data["_coco_extra"] = extra[rows]
    table = ObjectTable(xyxy, cls[rows], img[rows], score[rows].astype(np.float32) if results else None, data)
    return table, []


def box_of_rle(segmentation: Mapping[str, Any]) -> list[float]:
    """``[x, y, w, h]`` of an RLE mask (``size`` + ``counts``), as pycocotools' ``toBbox``.

    COCO results may give a mask without a box; pycocotools' ``loadRes`` takes the box from
    the mask then (pycocotools is needed only for such files).
    """
    from detectkit.errors import MissingDependencyError

    try:
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - pycocotools is a dependency of evaluation
        raise MissingDependencyError("pycocotools", extra="dev", purpose="results without boxes") from None
    h, w = segmentation["size"]
    rle = mask_utils.frPyObjects(dict(segmentation), h, w) if isinstance(segmentation["counts"], list) else segmentation
    return [float(v) for v in mask_utils.toBbox(rle).tolist()]


def finished(table: ObjectTable, path: Path, record_list: str) -> ObjectTable:
    """The reader's table with its bookkeeping columns moved where they belong: the source
    boxes and unknown keys into the ``"coco"`` extras, the record index into the provenance;
    ``segmentation`` marked as possibly still JSON text (decoded on access). Results keep
    their scores as given (float64; ``confidence`` is float32) and, for results given as a
    mask only, which boxes came from the mask."""
    data = table.data
    index = data.pop("_coco_index")
    extras = {"bbox": data.pop("_coco_bbox")}
    for name in ("score", "box_from_mask"):
        if f"_coco_{name}" in data:
            extras[name] = data.pop(f"_coco_{name}")
    if "_coco_extra" in data:
        extras["extra"] = data.pop("_coco_extra")
    data.mark_encoded("segmentation")
    table.extras["coco"] = extras
    table.provenance = Provenance.of_records(os.fspath(path), record_list, index)
    return table
