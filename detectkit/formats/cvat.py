"""CVAT for images 1.1 XML: one ``annotations.xml`` with ``<image>`` elements.

Read: ``<box>`` and ``<polygon>`` shapes with their ``<attribute>`` children (kept in the
``"attributes"`` data column as a dict) and ``occluded``; other shapes (polyline, points,
ellipse, mask, ...) are skipped with a warning. Classes come from ``<meta>/<labels>`` in
order (0-based ids), plus any label used but not declared.

Write: one XML file (atomically). Boxes as ``<box>``, polygon objects as ``<polygon>`` (one
per part of a multi-part polygon, sharing a ``group_id``). Crowd regions and RLE masks
cannot be held and are reported.

>>> import tempfile, pathlib
>>> from detectkit import Detections
>>> from detectkit.dataset import Category, Dataset, ImageRecord
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> ds = Dataset(categories=[Category(0, "car")], images=[ImageRecord(1, "a.jpg", 64, 48)],
...              annotations={1: Detections(xyxy=[[1, 2, 30.5, 40]], data={"attributes": [{"color": "red"}]})})
>>> _ = write(ds, tmp / "annotations.xml")
>>> back = read(tmp / "annotations.xml")
>>> back.detections(1).xyxy.tolist(), back.detections(1).data["attributes"][0]
([[1.0, 2.0, 30.5, 40.0]], {'color': 'red'})
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from detectkit._progress import track
from detectkit._xml import parse_xml
from detectkit.dataset import Dataset, ImageRecord
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    IssueLog,
    NamedObject,
    atomic_file,
    dataset_from_named_objects,
    image_size_of,
    locate,
    number_text,
    safe_relpath,
    split_polygons,
)

__all__ = ["read", "write"]


def read(
    path: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a CVAT for images 1.1 XML file.

    Args:
        path: the XML file (or a folder holding ``annotations.xml``).
        images: folder image names are relative to (default: the XML's folder, or its ``images/``).
        strict: raise at the first bad record instead of skipping it with a warning.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "annotations.xml"
    if not p.is_file():
        raise InvalidInputError(f"CVAT file {os.fspath(path)} does not exist")
    try:
        root_el = parse_xml(p)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise AnnotationParseError(p, f"invalid XML: {exc}", line=line) from None
    if root_el.tag != "annotations":
        raise AnnotationParseError(p, f"expected an <annotations> root element (CVAT 1.1), got <{root_el.tag}>")
    if images is not None:
        image_dir = Path(images)
    elif (p.parent / "images").is_dir():
        image_dir = p.parent / "images"
    else:
        image_dir = p.parent
    log = IssueLog(strict)
    names: list[str] = []
    for lab in root_el.iterfind("./meta//labels/label"):
        n = lab.findtext("name")
        if n and n not in names:
            names.append(n)
    records: list[ImageRecord] = []
    objects: list[NamedObject] = []
    used_ids: set[int] = set()
    for k, im in enumerate(track(root_el.iter("image"), total=None, desc="read cvat", unit="img")):
        where = f"image[{k}]"
        try:
            rid = int(im.get("id", k))
            w, h = int(im.get("width", 0)), int(im.get("height", 0))
        except ValueError as exc:
            log.bad(p, f"bad id/width/height: {exc}", record=where)
            continue
        try:
            fname = safe_relpath(im.get("name", ""), argument="name")
        except InvalidInputError as exc:
            log.bad(p, str(exc), record=where)
            continue
        img_path: Path | None = image_dir / fname
        if img_path is not None and not img_path.is_file():
            img_path = None
        if w <= 0 or h <= 0:
            if img_path is None:
                log.bad(p, "no width/height and the image file is not found", record=where)
                continue
            w, h = image_size_of(img_path)
        if rid in used_ids:
            log.bad(p, f"duplicate image id {rid}", record=where)
            continue
        used_ids.add(rid)
        pos = len(records)
        records.append(ImageRecord(rid, fname, w, h, path=img_path))
        groups: dict[tuple[str, str], int] = {}
        for j, shape in enumerate(im):
            swhere = f"{where}/{shape.tag}[{j}]"
            label = shape.get("label")
            if not label:
                log.bad(p, "shape without a label", record=swhere)
                continue
            attributes = {a.get("name", ""): (a.text or "") for a in shape.iter("attribute")}
            cols: dict[str, Any] = {"attributes": attributes or None, "origin": (str(p), f"{where}/{shape.tag}", j)}
            if shape.get("occluded") is not None:
                cols["occluded"] = 1 if shape.get("occluded") in ("1", "true", "True") else 0
            try:
                if shape.tag == "box":
                    box = tuple(float(shape.get(a, "nan")) for a in ("xtl", "ytl", "xbr", "ybr"))
                    if not all(v == v for v in box) or box[2] < box[0] or box[3] < box[1]:
                        raise ValueError(f"box needs xtl <= xbr and ytl <= ybr, got {box}")
                    objects.append((pos, label, box, cols))  # type: ignore[arg-type]
                elif shape.tag == "polygon":
                    pts = [
                        tuple(float(c) for c in xy.split(",")) for xy in (shape.get("points") or "").split(";") if xy
                    ]
                    if len(pts) < 3 or any(len(q) != 2 for q in pts):
                        raise ValueError(f"polygon needs >= 3 'x,y' points, got {shape.get('points')!r:.60}")
                    flat = [c for q in pts for c in q]
                    xs, ys = flat[0::2], flat[1::2]
                    box = (min(xs), min(ys), max(xs), max(ys))
                    gid = shape.get("group_id")
                    if gid and gid != "0" and (label, gid) in groups:
                        idx = groups[(label, gid)]
                        opos, olabel, obox, ocols = objects[idx]
                        ocols["segmentation"].append(flat)
                        merged = (
                            min(obox[0], box[0]),
                            min(obox[1], box[1]),
                            max(obox[2], box[2]),
                            max(obox[3], box[3]),
                        )
                        objects[idx] = (opos, olabel, merged, ocols)
                        continue
                    if gid and gid != "0":
                        groups[(label, gid)] = len(objects)
                    cols["segmentation"] = [flat]
                    objects.append((pos, label, box, cols))
                elif shape.tag in ("tag", "attribute"):
                    continue
                else:
                    log.warn(p, f"<{shape.tag}> is not a box or polygon; skipped", record=swhere)
            except ValueError as exc:
                log.bad(p, str(exc), record=swhere)
    return dataset_from_named_objects(objects, records, log, path=path, source_format="cvat", names=names)


def write(ds: Dataset, path: str | os.PathLike[str], **_: Any) -> ConvertSummary:
    """Write ``ds`` as one CVAT for images 1.1 XML file (atomically). Image files are not copied."""
    out = Path(path)
    if out.is_dir():
        out = out / "annotations.xml"
    summary = ConvertSummary(path=out, format="cvat", images=len(ds.images))
    t = ds.table
    names = ds.names
    crowd = t.data.get("iscrowd")
    seg = t.data["segmentation"].tolist() if "segmentation" in t.data else None
    attrs = t.data["attributes"].tolist() if "attributes" in t.data else None
    occl = t.data["occluded"].tolist() if "occluded" in t.data else None
    offsets = ds.row_offsets.tolist()
    xyxy = t.xyxy.tolist()
    cats = sorted(ds.categories, key=lambda c: c.id)
    written = 0
    with atomic_file(out) as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n')
        fh.write(f"  <meta>\n    <task>\n      <size>{len(ds.images)}</size>\n      <labels>\n")
        for c in cats:
            fh.write(
                f"        <label>\n          <name>{_esc(c.name)}</name>\n          <attributes/>\n        </label>\n"
            )
        fh.write("      </labels>\n    </task>\n  </meta>\n")
        for pos, rec in enumerate(track(ds.images, total=len(ds.images), desc="write cvat", unit="img")):
            name = safe_relpath(rec.file_name)
            fh.write(
                f"  <image id={quoteattr(str(rec.id))} name={quoteattr(name)} "
                f'width="{rec.width}" height="{rec.height}">\n'
            )
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
                label = quoteattr(names.get(int(t.class_id[i]), str(int(t.class_id[i]))))
                occ = int(occl[i]) if occl is not None else 0
                a = attrs[i] if attrs is not None and isinstance(attrs[i], dict) else {}
                body = "".join(
                    f"      <attribute name={quoteattr(str(k))}>{_esc(str(v))}</attribute>\n" for k, v in a.items()
                )
                polys = split_polygons(s)
                if polys:
                    gid = ""
                    if len(polys) > 1:
                        group += 1
                        gid = f' group_id="{group}"'
                    for poly in polys:
                        pts = ";".join(f"{number_text(x)},{number_text(y)}" for x, y in zip(poly[0::2], poly[1::2]))
                        fh.write(
                            f'    <polygon label={label} occluded="{occ}" source="manual" points="{pts}" '
                            f'z_order="0"{gid}>\n{body}    </polygon>\n'
                        )
                else:
                    x1, y1, x2, y2 = (number_text(v) for v in xyxy[i])
                    fh.write(
                        f'    <box label={label} occluded="{occ}" source="manual" xtl="{x1}" ytl="{y1}" '
                        f'xbr="{x2}" ybr="{y2}" z_order="0">\n{body}    </box>\n'
                    )
                written += 1
            fh.write("  </image>\n")
        fh.write("</annotations>\n")
    summary.objects = written
    return summary


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
