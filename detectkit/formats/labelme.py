"""LabelMe JSON: one file per image with ``shapes`` (rectangles and polygons).

Read: a folder of LabelMe JSON files (searched recursively) or one file. ``rectangle``
shapes become boxes; ``polygon`` shapes become boxes with a polygon segmentation;
polygons sharing a ``group_id`` and label form one multi-part object. Other shape types
(circle, line, point, ...) are skipped with a warning. Shape ``flags`` and
``description`` are kept in the ``"attributes"`` data column, image-level ``flags`` in the
record's ``extra["flags"]``. An image only embedded in ``imageData`` (``imagePath`` may name
the JSON itself) is decoded: its format names the file (``a.png``), ``load_image`` decodes it
and writers with image folders write it out; a file whose ``imagePath`` is not an image and
that embeds none is skipped with a message. Classes get 0-based ids in sorted name order.

Write: ``<stem>.json`` per image beside the image file (linked or copied when available),
rectangles for boxes and polygons for polygon objects (one shape per part, sharing a
``group_id``); VOC ``difficult`` / ``truncated`` / ``occluded`` become shape flags. An image
file is never placed over an annotation file of the same run. Crowd regions and RLE masks
cannot be held and are reported.

>>> import tempfile, pathlib
>>> from detectkit import Detections
>>> from detectkit.dataset import Category, Dataset, ImageRecord
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> seg = [[[1, 1, 9, 1, 9, 9], [20, 20, 30, 20, 30, 30]]]
>>> ds = Dataset(categories=[Category(0, "leaf")], images=[ImageRecord(1, "a.jpg", 64, 48)],
...              annotations={1: Detections(xyxy=[[1, 1, 30, 30]], data={"segmentation": seg})})
>>> _ = write(ds, tmp / "lm")
>>> back = read(tmp / "lm")
>>> back.detections(1).data["segmentation"][0]
[[1.0, 1.0, 9.0, 1.0, 9.0, 9.0], [20.0, 20.0, 30.0, 20.0, 30.0, 30.0]]
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detectkit._progress import track
from detectkit.dataset import Dataset
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    ImagePlacer,
    IssueLog,
    atomic_dir,
    image_size_of,
    locate,
    safe_relpath,
    split_polygons,
)
from detectkit.formats._per_file import (
    Assembler,
    FileMapper,
    FileObjects,
    nothing_read,
    parsed_in_order,
    sorted_paths,
)

__all__ = ["iter_parsed", "parse_file", "parse_files", "read", "write"]

LABELME_VERSION = "5.4.1"


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AnnotationParseError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationParseError(path, f"unreadable: {exc}") from None


def _embedded_image(data: Any) -> tuple[str, tuple[int, int]]:
    """``(".png", (width, height))`` of a base64 ``imageData`` (raises ValueError when it is not an image)."""
    import base64
    import binascii
    import io

    if not isinstance(data, str) or not data:
        raise ValueError("is empty")
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"is not base64: {exc}") from None
    from PIL import Image, UnidentifiedImageError

    from detectkit._limits import pil_open

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with pil_open(io.BytesIO(raw)) as im:
                fmt, size = (im.format or "png").lower(), im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ValueError(f"is not a decodable image: {exc}") from None
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, "." + fmt), (int(size[0]), int(size[1]))


CLASS_ORDER_FILE = ".detectkit.json"  # hidden: the LabelMe reader skips hidden files


def write_class_order(ds: Dataset, folder: str | os.PathLike[str]) -> None:
    """Record the category ids and order of ``ds`` beside a LabelMe folder (which cannot hold them).

    LabelMe files name their labels only, so a reader numbers classes by sorted name; this
    sidecar lets :func:`read` give them back the ids (and the YOLO class order) they had.
    """
    from detectkit.formats._common import atomic_file

    doc = {"categories": [{"id": int(c.id), "name": c.name} for c in ds.categories]}
    with atomic_file(Path(folder) / CLASS_ORDER_FILE) as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)


def apply_class_order(ds: Dataset, folder: str | os.PathLike[str]) -> Dataset:
    """Give ``ds`` the category ids recorded by :func:`write_class_order` in ``folder`` (if any).

    Names the sidecar does not list keep their order after the recorded ones.
    """
    side = Path(folder) / CLASS_ORDER_FILE
    if not side.is_file():
        return ds
    try:
        recorded = {str(c["name"]): int(c["id"]) for c in json.loads(side.read_text(encoding="utf-8"))["categories"]}
    except (OSError, ValueError, KeyError, TypeError):
        return ds  # a damaged sidecar: the reader's own order stands
    if len(set(recorded.values())) != len(recorded):
        return ds
    lut: dict[int, int] = {}
    next_id = max(recorded.values(), default=-1) + 1
    for c in ds.categories:
        if c.name in recorded:
            lut[c.id] = recorded[c.name]
        else:
            lut[c.id] = next_id
            next_id += 1
    if all(k == v for k, v in lut.items()):
        return ds
    import numpy as np

    t = ds.table
    cats = sorted((c._replace(id=lut[c.id]) for c in ds.categories), key=lambda c: c.id)
    table = t.replace(class_id=np.array([lut.get(int(k), int(k)) for k in t.class_id.tolist()], dtype=np.int64))
    return Dataset.from_table(
        cats,
        ds.images,
        table,
        info=ds.info,
        licenses=ds.licenses,
        issues=ds.issues,
        source_format=ds.source_format,
    )


def read(
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
    map_shards: FileMapper | None = None,
) -> Dataset:
    """Read LabelMe JSON files (a folder, searched recursively, or one file).

    Args:
        path: folder or file.
        images: folder the image files are in (default: resolved from each file's ``imagePath``).
        strict: raise at the first bad shape instead of skipping it with a warning.
        map_shards: parse the files in shards elsewhere (``detectkit.batch``'s process pool or
            Ray); the dataset is the same. None: here.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"LabelMe path {os.fspath(path)} does not exist")
    root = p.parent if p.is_file() else p
    files = [p] if p.is_file() else sorted_paths(x for x in p.rglob("*.json") if not x.name.startswith("."))
    log = IssueLog(strict)
    assembler = Assembler(log, unreadable_stops=p.is_file())
    context = (os.fspath(root), None if images is None else os.fspath(images), p.is_file())
    results = parsed_in_order(iter_parsed, parse_files, context, [os.fspath(f) for f in files], map_shards)
    for result in track(results, total=len(files), desc="read labelme"):
        assembler.add(result)
    errors = [i for i in log.issues if i.severity == "error" and i.record in ("imageWidth", "imageData", None)]
    if files and not assembler.records and errors:
        raise nothing_read("LabelMe", len(files), errors, p)
    ds = assembler.finish(path=path, source_format="labelme")
    return apply_class_order(ds, path) if Path(path).is_dir() else ds


def iter_parsed(context: tuple[str, str | None, bool], files: list[str]) -> Iterator[FileObjects]:
    """:func:`parse_file` of each file in turn."""
    for f in files:
        yield parse_file(context, f)


def parse_files(task: tuple[tuple[str, str | None, bool], list[str]]) -> list[FileObjects]:
    """The results of a shard ``(context, files)``: what a batch worker runs."""
    return list(iter_parsed(*task))


def parse_file(context: tuple[str, str | None, bool], file: str) -> FileObjects:
    """One LabelMe file: its image record and objects (``context`` = root folder, ``images``,
    whether the file was given alone).

    Never raises for the file's content: problems are the result's issues (``fatal`` for one
    that is not JSON at all: skipped as an error unless it was the only file given), which the
    assembler reports in file order.
    """
    root_s, images, single = context
    root = Path(root_s)
    f = Path(file)
    log = IssueLog(False)
    try:
        doc = _load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
            if single:
                raise AnnotationParseError(f, "expected a LabelMe object with a 'shapes' list")
            log.warn(f, "not a LabelMe file (no 'shapes' list); ignored")
            return FileObjects.failed(file, "shapes", log.issues)
    except AnnotationParseError as exc:
        result = FileObjects.failed(file, "shapes", [])
        result.fatal = exc
        return result
    image_path = doc.get("imagePath") or f.with_suffix(".jpg").name
    resolved = Path(os.path.normpath(os.path.abspath(f.parent / str(image_path).replace("\\", "/"))))
    if images is not None:
        resolved = Path(images) / Path(str(image_path).replace("\\", "/")).name
    try:
        fname = safe_relpath(resolved.relative_to(os.path.abspath(root)).as_posix())
    except (ValueError, InvalidInputError):
        fname = f.relative_to(root).with_name(resolved.name).as_posix()
    img_file: Path | None = resolved if resolved.is_file() else None
    extra: dict[str, Any] = {}
    if resolved.suffix.lower() == ".json" or (img_file is None and doc.get("imageData")):
        # the image is only embedded (imagePath may name the JSON itself): decode imageData
        try:
            ext, (ew, eh) = _embedded_image(doc.get("imageData"))
        except ValueError as exc:
            log.bad(f, f"imagePath {image_path!r} is not an image file and imageData {exc}", record="imageData")
            return FileObjects.failed(file, "shapes", log.issues)
        if resolved.suffix.lower() == ".json":
            fname = _stem(fname) + ext
        img_file = None
        extra = {"imageData": doc["imageData"]}
        doc["imageWidth"], doc["imageHeight"] = ew, eh  # the decoded image is the truth
    w, h = doc.get("imageWidth"), doc.get("imageHeight")
    if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
        if img_file is None:
            log.bad(f, "no imageWidth/imageHeight and the image file is not found", record="imageWidth")
            return FileObjects.failed(file, "shapes", log.issues)
        try:
            w, h = image_size_of(img_file)
        except InvalidInputError as exc:
            log.bad(f, str(exc))
            return FileObjects.failed(file, "shapes", log.issues)
    if isinstance(doc.get("flags"), dict) and doc["flags"]:
        extra["flags"] = doc["flags"]  # image-level flags
    objects: list[tuple[str, tuple[float, float, float, float], int, dict[str, Any]]] = []
    groups: dict[tuple[str, int], int] = {}
    for k, shape in enumerate(doc["shapes"]):
        where = f"shapes[{k}]"
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            log.bad(f, "shape needs a string 'label'", record=where)
            continue
        kind = shape.get("shape_type") or "polygon"
        try:
            pts = [(float(x), float(y)) for x, y in shape.get("points", [])]
        except (TypeError, ValueError):
            log.bad(f, "points must be [[x, y], ...] numbers", record=where)
            continue
        attributes: dict[str, Any] = {}
        if shape.get("flags"):
            attributes["flags"] = shape["flags"]
        if shape.get("description"):
            attributes["description"] = shape["description"]
        label = shape["label"]
        if kind == "rectangle":
            if len(pts) != 2:
                log.bad(f, f"rectangle needs 2 points, got {len(pts)}", record=where)
                continue
            (xa, ya), (xb, yb) = pts
            box = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
            objects.append((label, box, k, {"attributes": attributes or None}))
        elif kind == "polygon":
            if len(pts) < 3:
                log.bad(f, f"polygon needs at least 3 points, got {len(pts)}", record=where)
                continue
            flat = [c for xy in pts for c in xy]
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            box = (min(xs), min(ys), max(xs), max(ys))
            gid = shape.get("group_id")
            if isinstance(gid, int) and (label, gid) in groups:
                j = groups[(label, gid)]
                olabel, obox, ok, ocols = objects[j]
                ocols["segmentation"].append(flat)
                merged = (min(obox[0], box[0]), min(obox[1], box[1]), max(obox[2], box[2]), max(obox[3], box[3]))
                objects[j] = (olabel, merged, ok, ocols)
                continue
            if isinstance(gid, int):
                groups[(label, gid)] = len(objects)
            objects.append((label, box, k, {"segmentation": [flat], "attributes": attributes or None}))
        else:
            log.warn(f, f"shape_type {kind!r} is not a box or polygon; skipped", record=where)
    record = (fname, int(w), int(h), None if img_file is None else os.fspath(img_file), extra or None)
    return FileObjects.of_objects(file, "shapes", record, objects, log.issues)


def write(
    ds: Dataset,
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    link_images: bool = True,
    copy_images: bool = False,
    overwrite: bool = False,
) -> ConvertSummary:
    """Write ``ds`` as LabelMe JSON files (atomically: temp folder beside ``path``, renamed at the end).

    Args:
        ds: the dataset.
        path: output folder (absent or empty unless ``overwrite``).
        images: folder image ``file_name`` s are relative to, when records have no ``path``.
        link_images: link the image files beside their JSON when available.
        copy_images: copy them instead.
        overwrite: replace an existing non-empty folder.
    """
    out = Path(path)
    summary = ConvertSummary(path=out, format="labelme", images=len(ds.images))
    t = ds.table
    names = ds.names
    crowd = t.data.get("iscrowd")
    seg = t.data["segmentation"].tolist() if "segmentation" in t.data else None
    attrs = t.data["attributes"].tolist() if "attributes" in t.data else None
    flag_cols = {k: t.data[k].tolist() for k in ("difficult", "truncated", "occluded") if k in t.data}
    image_root = Path(images) if images is not None else None
    placer = ImagePlacer(image_root, copy=copy_images) if link_images or copy_images else None
    offsets = ds.row_offsets.tolist()
    xyxy = t.xyxy.tolist()
    written = 0
    rels = [safe_relpath(r.file_name) for r in ds.images]
    if len(set(rels)) < len(rels) and len({(r.split, n) for r, n in zip(ds.images, rels)}) == len(rels):
        rels = [f"{r.split or 'default'}/{n}" for r, n in zip(ds.images, rels)]  # same name in two splits
    outputs = {_stem(rel) + ".json" for rel in rels}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        seen: set[str] = set()
        for pos, rec in enumerate(track(ds.images, total=len(ds.images), desc="write labelme", unit="img")):
            rel = rels[pos]
            stem = _stem(rel)
            if stem in seen:
                raise InvalidInputError(f"two images share the LabelMe file {stem}.json; rename one of them")
            seen.add(stem)
            shapes: list[dict[str, Any]] = []
            group = 0
            for i in range(offsets[pos], offsets[pos + 1]):
                where = locate(ds, i)
                if crowd is not None and crowd[i] > 0:
                    summary.drop("crowd", where)
                    continue
                s = seg[i] if seg is not None else None
                if isinstance(s, dict):
                    summary.drop("RLE-mask", where)
                    continue
                label = names.get(int(t.class_id[i]), str(int(t.class_id[i])))
                a = attrs[i] if attrs is not None and isinstance(attrs[i], dict) else {}
                flags = dict(a.get("flags") or {})
                for flag, col in flag_cols.items():  # VOC difficult/truncated/occluded as LabelMe flags
                    if col[i] is not None and flag not in flags:
                        flags[flag] = bool(col[i])
                base = {
                    "label": label,
                    "description": a.get("description", ""),
                    "flags": flags,
                    "mask": None,
                }
                polys = split_polygons(s)
                if polys:
                    gid = None
                    if len(polys) > 1:
                        group += 1
                        gid = group
                    for poly in polys:
                        pts = [[round(x, 6), round(y, 6)] for x, y in zip(poly[0::2], poly[1::2])]
                        shapes.append({**base, "points": pts, "group_id": gid, "shape_type": "polygon"})
                else:
                    x1, y1, x2, y2 = (round(v, 6) for v in xyxy[i])
                    shapes.append({**base, "points": [[x1, y1], [x2, y2]], "group_id": None, "shape_type": "rectangle"})
                written += 1
            doc: dict[str, Any] = {
                "version": LABELME_VERSION,
                "flags": dict(rec.extra.get("flags") or {}),
                "shapes": shapes,
                "imagePath": rel.rsplit("/", 1)[-1],
                "imageData": None,
                "imageHeight": rec.height,
                "imageWidth": rec.width,
            }
            target = tmp / f"{stem}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
            if placer is not None:
                if rel in outputs:  # the image would replace an annotation file of this run
                    summary.notes.append(f"image {rel} not placed: it has the name of an annotation file written")
                else:
                    placer.place(rec, f"{tmp}/{rel}")
        write_class_order(ds, tmp)  # the class ids and order LabelMe files cannot hold
    summary.objects = written
    summary.images_linked = placer.placed if placer is not None else 0
    return summary


def _stem(rel: str) -> str:
    return rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
