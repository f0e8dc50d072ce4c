"""Pascal VOC XML: one ``<annotation>`` file per image with ``<object>`` boxes.

Read: a VOC root (``Annotations/``, ``JPEGImages/``, optional ``ImageSets/Main/<split>.txt``),
a folder of XML files, or one XML file. Per object ``difficult``, ``truncated``,
``occluded`` (ints), ``pose`` (text), person-layout ``parts`` (``[{"name", "bndbox"}]``) and
``actions`` (``{"jumping": 1, ...}``) are kept as data columns. A file without ``<size>``
takes the size from its image file, else it is skipped with a message; an ImageSets entry
without XML is reported; a folder where no file can be read is an error. Coordinates are taken as
written (VOC's 1-based pixel convention is not shifted). Classes get 0-based ids in
``labels.txt`` order when that file exists, else in sorted name order.

Write: ``Annotations/<stem>.xml`` per image, ``JPEGImages/`` (image files linked or copied
when available; one folder per split when two splits share a file name),
``ImageSets/Main/<split>.txt`` and ``labels.txt``. CVAT attributes named ``pose`` /
``difficult`` / ``truncated`` / ``occluded`` fill those fields. Integral coordinates
are written as integers, others as exact decimals (never truncated). Crowd regions and
masks cannot be held and are reported in the summary.

>>> import tempfile, pathlib
>>> from detectkit import Detections
>>> from detectkit.dataset import Category, Dataset, ImageRecord
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> ds = Dataset(categories=[Category(0, "dog")], images=[ImageRecord(1, "a.jpg", 64, 48)],
...              annotations={1: Detections(xyxy=[[1, 2, 30.5, 40]], data={"difficult": [1]})})
>>> _ = write(ds, tmp / "voc")
>>> back = read(tmp / "voc")
>>> back.detections(1).xyxy.tolist(), back.detections(1).data["difficult"].tolist()
([[1.0, 2.0, 30.5, 40.0]], [1])
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from detectkit._progress import track
from detectkit._xml import parse_xml
from detectkit.dataset import Dataset
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    ImagePlacer,
    IssueLog,
    atomic_dir,
    folder_split,
    image_size_of,
    locate,
    number_text,
    safe_relpath,
)
from detectkit.formats._per_file import (
    Assembler,
    FileMapper,
    FileObjects,
    ImageFinder,
    nothing_read,
    parsed_in_order,
    relative_stem,
    sorted_paths,
)

__all__ = ["iter_parsed", "parse_file", "parse_files", "read", "write"]

_FLAGS = ("difficult", "truncated", "occluded")
_VOC_KEYS = frozenset({*_FLAGS, "pose"})


def _flag_value(v: Any) -> int:
    """A VOC 0/1 flag from an attribute value (``"1"``, ``"true"``, ``True``, ...); 0 when absent or unclear."""
    if isinstance(v, str):
        return 1 if v.strip().lower() in ("1", "true", "yes") else 0
    return 1 if isinstance(v, (bool, int, float)) and v else 0


_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _parse_xml(path: str | Path) -> ET.Element:
    try:
        return parse_xml(path)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise AnnotationParseError(path, f"invalid XML: {exc}", line=line) from None
    except OSError as exc:
        raise AnnotationParseError(path, f"unreadable: {exc}") from None


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _xml_files(p: Path) -> tuple[Path, list[Path]]:
    if p.is_file():
        return p.parent, [p]
    ann = p / "Annotations" if (p / "Annotations").is_dir() else p
    return ann, sorted_paths(x for x in ann.rglob("*.xml") if not x.name.startswith("."))


def _split_of(root: Path) -> dict[str, str]:
    sets = root / "ImageSets" / "Main"
    out: dict[str, str] = {}
    if sets.is_dir():
        for s in ("train", "val", "test"):
            f = sets / f"{s}.txt"
            if f.is_file():
                for line in f.read_text(encoding="utf-8").split():
                    out.setdefault(line.strip(), s)
    return out


def read(
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    labels: list[str] | None = None,
    strict: bool = False,
    map_shards: FileMapper | None = None,
) -> Dataset:
    """Read Pascal VOC XML annotations.

    Args:
        path: VOC root, folder of XML files, or one XML file.
        images: image folder (default ``JPEGImages/`` beside ``Annotations/``, else ``images/``
            beside it, as Label Studio exports, else the XML folder).
        labels: class names in id order (default ``labels.txt`` / ``classes.txt``, else sorted names).
        strict: raise at the first bad record instead of skipping it with a warning.
        map_shards: parse the files in shards elsewhere (``detectkit.batch``'s process pool or
            Ray); the dataset is the same. None: here.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"VOC path {os.fspath(path)} does not exist")
    ann_dir, files = _xml_files(p)
    root = ann_dir.parent if ann_dir.name == "Annotations" else ann_dir
    if images is not None:
        image_dir = Path(images)
    elif (root / "JPEGImages").is_dir():
        image_dir = root / "JPEGImages"
    elif ann_dir.name == "Annotations" and (root / "images").is_dir():  # Label Studio's VOC export
        image_dir = root / "images"
    else:
        image_dir = ann_dir
    if labels is None:
        for name in ("labels.txt", "classes.txt"):
            if (root / name).is_file():
                labels = [s.strip() for s in (root / name).read_text(encoding="utf-8").splitlines() if s.strip()]
                break
    splits = _split_of(root)
    log = IssueLog(strict)
    assembler = Assembler(log, unreadable_stops=p.is_file())
    context = (os.fspath(ann_dir), os.fspath(image_dir))
    texts = [os.fspath(f) for f in files]
    results = parsed_in_order(iter_parsed, parse_files, context, texts, map_shards)
    read_stems: set[str] = set()
    for result in track(results, total=len(files), desc="read voc"):
        key = result.key
        split = None if key is None else splits.get(key)
        if key is not None and not splits and (split := folder_split(key)) is not None and result.record:
            folder = key.partition("/")[0] + "/"  # train/x.jpg in split train is x.jpg, as in ImageSets layouts
            if result.record[0].startswith(folder):
                result.record = (result.record[0][len(folder) :], *result.record[1:])
        assembler.add(result, split=split)
        read_stems.add(result.key or "")
    for stem, split in splits.items():
        if stem not in read_stems:
            log.warn(
                root / "ImageSets" / "Main" / f"{split}.txt",
                f"{stem} is listed but has no annotation file {stem}.xml in {ann_dir}",
                record=stem,
            )
    if files and not assembler.records:
        raise nothing_read("VOC", len(files), log.issues, p)
    return assembler.finish(path=path, source_format="voc", names=list(labels) if labels is not None else None)


def iter_parsed(context: tuple[str, str], files: list[str]) -> Iterator[FileObjects]:
    """:func:`parse_file` of each file in turn (sharing one :class:`ImageFinder`)."""
    finder = ImageFinder()
    for f in files:
        yield parse_file(context, f, finder)


def parse_files(task: tuple[tuple[str, str], list[str]]) -> list[FileObjects]:
    """The results of a shard ``(context, files)``: what a batch worker runs."""
    return list(iter_parsed(*task))


def parse_file(context: tuple[str, str], file: str, finder: ImageFinder | None = None) -> FileObjects:
    """One VOC XML file: its image record and objects (``context`` = annotation and image folders).

    Never raises for the file's content: problems are the result's issues (``fatal`` for a file
    that is not XML at all: skipped as an error unless it was the only file given), which the
    assembler reports in file order.
    """
    ann_dir, image_dir_s = context
    f = file
    log = IssueLog(False)
    stem_rel = relative_stem(file, ann_dir)
    try:
        el = _parse_xml(f)
    except AnnotationParseError as exc:
        result = FileObjects.failed(file, "object", [], key=stem_rel)
        result.fatal = exc
        return result
    if el.tag != "annotation":
        log.bad(f, f"expected an <annotation> root element, got <{el.tag}>")
        return FileObjects.failed(file, "object", log.issues, key=stem_rel)
    fname = _text(el, "filename") or (stem_rel + ".jpg")
    try:
        fname = safe_relpath(fname, argument="filename")
    except InvalidInputError as exc:
        log.bad(f, str(exc), record="filename")
        return FileObjects.failed(file, "object", log.issues, key=stem_rel)
    sub = stem_rel.rsplit("/", 1)[0] + "/" if "/" in stem_rel else ""
    rel = sub + fname if sub and "/" not in fname else fname
    finder = finder or ImageFinder()
    direct = f"{image_dir_s}/{rel}" if image_dir_s not in ("", ".", "/") else os.fspath(Path(image_dir_s) / rel)
    img_path: Path | str | None = direct if finder.is_file(direct) else finder.find(Path(image_dir_s), stem_rel)
    size = el.find("size")
    try:
        w = int(float(_text(size, "width") or 0))
        h = int(float(_text(size, "height") or 0))
    except (ValueError, OverflowError):  # OverflowError: "inf" (found by tests/fuzz)
        w = h = 0
    if w <= 0 or h <= 0:
        if img_path is None:
            log.bad(f, "no <size> and the image file is not found", record="size")
            return FileObjects.failed(file, "object", log.issues, key=stem_rel)
        try:
            w, h = image_size_of(img_path)
        except InvalidInputError as exc:
            log.bad(f, str(exc), record="size")
            return FileObjects.failed(file, "object", log.issues, key=stem_rel)
    objects: list[tuple[str, tuple[float, float, float, float], int, dict[str, Any]]] = []
    for k, obj in enumerate(el.iter("object")):
        where = f"object[{k}]"
        name = _text(obj, "name") or ""
        bb = obj.find("bndbox")
        if not name:
            log.bad(f, "object without <name>", record=where)
            continue
        try:
            x1, y1, x2, y2 = (float(_text(bb, t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            log.bad(f, f"bad <bndbox> number: {exc}", record=where)
            continue
        if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)) or (
            x2 < x1 or y2 < y1
        ):
            log.bad(f, f"<bndbox> must hold xmin <= xmax, ymin <= ymax, got {[x1, y1, x2, y2]}", record=where)
            continue
        cols: dict[str, Any] = {}
        for flag in _FLAGS:
            v = _text(obj, flag)
            if v is not None:
                try:
                    value = int(float(v))
                    if abs(value) >= 1 << 63:  # beyond int64 (found by tests/fuzz)
                        raise OverflowError(v)
                    cols[flag] = value
                except (ValueError, OverflowError):  # OverflowError: "inf" (found by tests/fuzz)
                    log.warn(f, f"<{flag}> is not a number: {v!r}", record=where)
        pose = _text(obj, "pose")
        if pose is not None:
            cols["pose"] = pose
        parts = _parts_of(obj, f, where, log)
        if parts:
            cols["parts"] = parts
        actions = _actions_of(obj, f, where, log)
        if actions is not None:
            cols["actions"] = actions
        objects.append((name, (x1, y1, x2, y2), k, cols))
    record = (rel, w, h, None if img_path is None else os.fspath(img_path), None)
    return FileObjects.of_objects(file, "object", record, objects, log.issues, key=stem_rel)


def _parts_of(obj: ET.Element, f: str | Path, where: str, log: IssueLog) -> list[dict[str, Any]]:
    """VOC person-layout ``<part>`` boxes: ``[{"name": "head", "bndbox": [x1, y1, x2, y2]}, ...]``."""
    out: list[dict[str, Any]] = []
    for j, part in enumerate(obj.findall("part")):
        name = _text(part, "name") or ""
        bb = part.find("bndbox")
        try:
            box = [float(_text(bb, t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            box = [float("nan")] * 4
        if not name or not all(np.isfinite(box)):
            log.warn(f, "<part> without a name or a numeric <bndbox>; skipped", record=f"{where}/part[{j}]")
            continue
        out.append({"name": name, "bndbox": box})
    return out


def _actions_of(obj: ET.Element, f: str | Path, where: str, log: IssueLog) -> dict[str, int] | None:
    """VOC action flags ``<actions><jumping>1</jumping>...</actions>`` as ``{"jumping": 1, ...}``."""
    el = obj.find("actions")
    if el is None:
        return None
    out: dict[str, int] = {}
    for a in el:
        try:
            out[a.tag] = int(float((a.text or "0").strip()))
        except (ValueError, OverflowError):
            log.warn(f, f"<actions>/<{a.tag}> is not a number: {a.text!r}", record=where)
    return out


def write(
    ds: Dataset,
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    link_images: bool = True,
    copy_images: bool = False,
    overwrite: bool = False,
) -> ConvertSummary:
    """Write ``ds`` as a VOC folder (atomically: temp folder beside ``path``, renamed at the end).

    Args:
        ds: the dataset.
        path: output folder (absent or empty unless ``overwrite``).
        images: folder image ``file_name`` s are relative to, when records have no ``path``.
        link_images: link the image files into ``JPEGImages/`` when available.
        copy_images: copy them instead.
        overwrite: replace an existing non-empty folder.
    """
    out = Path(path)
    summary = ConvertSummary(path=out, format="voc", images=len(ds.images))
    t = ds.table
    names = ds.names
    crowd = t.data.get("iscrowd")
    seg = t.data.get("segmentation")
    attrs = t.data.get("attributes")
    if seg is not None and any(s for s in seg.tolist() if s is not None):
        summary.notes.append("segmentation (polygons/RLE) not written: VOC holds boxes only")
    attr_list = attrs.tolist() if attrs is not None else None
    if attr_list is not None and any(isinstance(a, dict) and set(a) - _VOC_KEYS for a in attr_list):
        summary.notes.append("free-form object attributes not written: VOC holds difficult/truncated/occluded/pose")
    image_root = Path(images) if images is not None else None
    placer = ImagePlacer(image_root, copy=copy_images) if link_images or copy_images else None
    offsets = ds.row_offsets.tolist()
    xyxy = t.xyxy.tolist()
    flag_cols = {f: t.data[f].tolist() for f in _FLAGS if f in t.data}
    pose = t.data["pose"].tolist() if "pose" in t.data else None
    parts_col = t.data["parts"].tolist() if "parts" in t.data else None
    actions_col = t.data["actions"].tolist() if "actions" in t.data else None
    written = 0
    by_split: dict[str, list[str]] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "Annotations").mkdir()
        (tmp / "JPEGImages").mkdir()
        seen: set[str] = set()
        names_used = [safe_relpath(r.file_name) for r in ds.images]
        # the same file name in two splits (CVAT project subsets): one folder per split
        by_split_folder = len(set(names_used)) < len(names_used) and len(
            {(r.split, n) for r, n in zip(ds.images, names_used)}
        ) == len(names_used)
        for pos, rec in enumerate(track(ds.images, total=len(ds.images), desc="write voc", unit="img")):
            rel = safe_relpath(rec.file_name)
            if by_split_folder:
                rel = f"{rec.split or 'default'}/{rel}"
            stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
            if stem in seen:
                raise InvalidInputError(f"two images share the annotation file {stem}.xml; rename one of them")
            seen.add(stem)
            parts = [
                "<annotation>",
                "  <folder>JPEGImages</folder>",
                f"  <filename>{escape(rel.rsplit('/', 1)[-1])}</filename>",
                f"  <size><width>{rec.width}</width><height>{rec.height}</height><depth>3</depth></size>",
                "  <segmented>0</segmented>",
            ]
            for i in range(offsets[pos], offsets[pos + 1]):
                if crowd is not None and crowd[i] > 0:
                    summary.drop("crowd", locate(ds, i))
                    continue
                x1, y1, x2, y2 = xyxy[i]
                obj = [
                    "  <object>",
                    f"    <name>{escape(names.get(int(t.class_id[i]), str(int(t.class_id[i]))))}</name>",
                ]
                a = attr_list[i] if attr_list is not None and isinstance(attr_list[i], dict) else {}
                p = pose[i] if pose is not None else a.get("pose")  # CVAT attributes named like VOC fields
                obj.append(f"    <pose>{escape(str(p)) if p else 'Unspecified'}</pose>")
                for flag in _FLAGS:
                    v = flag_cols[flag][i] if flag in flag_cols else _flag_value(a.get(flag))
                    if flag != "occluded" or flag in flag_cols:
                        obj.append(f"    <{flag}>{int(v)}</{flag}>")
                obj.append(
                    f"    <bndbox><xmin>{number_text(x1)}</xmin><ymin>{number_text(y1)}</ymin>"
                    f"<xmax>{number_text(x2)}</xmax><ymax>{number_text(y2)}</ymax></bndbox>"
                )
                for part in parts_col[i] if parts_col is not None and isinstance(parts_col[i], list) else ():
                    px1, py1, px2, py2 = (number_text(v) for v in part["bndbox"])
                    obj.append(
                        f"    <part><name>{escape(str(part['name']))}</name><bndbox><xmin>{px1}</xmin>"
                        f"<ymin>{py1}</ymin><xmax>{px2}</xmax><ymax>{py2}</ymax></bndbox></part>"
                    )
                acts = actions_col[i] if actions_col is not None else None
                if isinstance(acts, dict):
                    body = "".join(f"<{k}>{int(v)}</{k}>" for k, v in acts.items() if _XML_NAME.fullmatch(str(k)))
                    obj.append(f"    <actions>{body}</actions>")
                obj.append("  </object>")
                parts += obj
                written += 1
            parts.append("</annotation>\n")
            target = tmp / "Annotations" / f"{stem}.xml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(parts), encoding="utf-8")
            if rec.split:
                by_split.setdefault(rec.split, []).append(stem)
            if placer is not None:
                placer.place(rec, f"{tmp}/JPEGImages/{rel}")
        if by_split:
            (tmp / "ImageSets" / "Main").mkdir(parents=True)
            for s, stems in by_split.items():
                (tmp / "ImageSets" / "Main" / f"{s}.txt").write_text("".join(x + "\n" for x in stems), encoding="utf-8")
        cats = sorted(ds.categories, key=lambda c: c.id)
        (tmp / "labels.txt").write_text("".join(c.name + "\n" for c in cats), encoding="utf-8")
    summary.objects = written
    summary.images_linked = placer.placed if placer is not None else 0
    return summary
