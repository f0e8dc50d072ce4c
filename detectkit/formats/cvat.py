"""CVAT for images / for video 1.1 XML: one ``annotations.xml`` with ``<image>`` or ``<track>`` elements.

CVAT for video: each ``<track>`` of boxes or polygons becomes one object per frame it is on
(``outside`` ends it, boxes between listed frames are interpolated as CVAT does), with the
track id in the ``tracker_id`` column (``Detections.tracker_id``); frames are images whose id
is the frame number (``frame_000010.png``, sized by ``<original_size>``). A dataset with track
ids is written back in the video layout.

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

import itertools
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
    find_image,
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
    if root_el.find("track") is not None:
        frames, tracked = _read_tracks(root_el, p, image_dir, log)
        return dataset_from_named_objects(tracked, frames, log, path=path, source_format="cvat", names=names)
    records: list[ImageRecord] = []
    objects: list[NamedObject] = []
    used_ids: set[tuple[str | None, int]] = set()  # ids are per subset (CVAT project exports)
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
        if im.get("subset") and (image_dir / im.get("subset", "") / fname).is_file():
            img_path = image_dir / im.get("subset", "") / fname  # project export: images/<subset>/<name>
        if img_path is not None and not img_path.is_file():
            img_path = None
        if w <= 0 or h <= 0:
            if img_path is None:
                log.bad(p, "no width/height and the image file is not found", record=where)
                continue
            w, h = image_size_of(img_path)
        subset = im.get("subset")
        if (subset, rid) in used_ids:
            log.bad(p, f"duplicate image id {rid}" + (f" in subset {subset!r}" if subset else ""), record=where)
            continue
        used_ids.add((subset, rid))
        pos = len(records)
        if subset:
            extra = {"subset": subset, "cvat_id": rid}
            records.append(ImageRecord(rid, fname, w, h, path=img_path, split=_split_of(subset), extra=extra))
        else:
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
                    objects.append((pos, label, _box_of(shape), cols))
                elif shape.tag == "polygon":
                    flat = _polygon_of(shape)
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
    if len({r.id for r in records}) < len(records):  # ids restart in each subset: number images in order
        records = [r._replace(id=k) for k, r in enumerate(records)]
    return dataset_from_named_objects(objects, records, log, path=path, source_format="cvat", names=names)


_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_SUBSETS = {"train": "Train", "val": "Validation", "test": "Test"}


def _split_of(subset: str) -> str | None:
    """The dataset split of a CVAT subset name (``"Validation"`` -> ``"val"``; ``"default"`` -> None)."""
    key = subset.strip().lower()
    if key in ("", "default"):
        return None
    return _SPLITS.get(key, key)


def _image_ids(ds: Dataset) -> tuple[list[int], list[str | None]]:
    """CVAT image ids and subset names: ids as given, or per subset when the images have subsets."""
    subsets: list[str | None] = []
    for rec in ds.images:
        given = rec.extra.get("subset")
        subsets.append(str(given) if given else _SUBSETS.get(rec.split, rec.split) if rec.split else None)
    if not any(subsets):
        return [rec.id for rec in ds.images], subsets
    ids: list[int] = []
    used: dict[str | None, set[int]] = {}
    for rec, sub in zip(ds.images, subsets):
        taken = used.setdefault(sub, set())
        want = rec.extra.get("cvat_id", rec.id)
        rid = want if isinstance(want, int) and want not in taken else max(taken, default=-1) + 1
        taken.add(rid)
        ids.append(rid)
    return ids, subsets


Box = tuple[float, float, float, float]


def _box_of(shape: ET.Element) -> Box:
    box = tuple(float(shape.get(a, "nan")) for a in ("xtl", "ytl", "xbr", "ybr"))
    if not all(v == v for v in box) or box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"box needs xtl <= xbr and ytl <= ybr, got {box}")
    return box  # type: ignore[return-value]


def _polygon_of(shape: ET.Element) -> list[float]:
    pts = [tuple(float(c) for c in xy.split(",")) for xy in (shape.get("points") or "").split(";") if xy]
    if len(pts) < 3 or any(len(q) != 2 for q in pts):
        raise ValueError(f"polygon needs >= 3 'x,y' points, got {shape.get('points')!r:.60}")
    return [c for q in pts for c in q]


#: Frames a video's start..stop range may list (an hour at 30 fps is 108,000); beyond it only
#: frames with shapes are kept.
_MAX_FRAMES = 1_000_000


def _frames_of(root_el: ET.Element, seen: set[int]) -> list[int]:
    """The frame numbers of a CVAT for video file: start..stop by the filter's step, plus any seen."""
    task = root_el.find("./meta/task")
    frames = set(seen)
    if task is not None:
        try:
            start = int(task.findtext("start_frame") or "")
            stop = int(task.findtext("stop_frame") or "")
        except ValueError:
            start, stop = 0, -1
        step = 1
        filt = (task.findtext("frame_filter") or "").strip()
        if filt.startswith("step="):
            try:
                step = max(1, int(filt[5:]))
            except ValueError:
                step = 1
        if 0 <= start <= stop and (stop - start) // step < _MAX_FRAMES:
            frames.update(range(start, stop + 1, step))
    return sorted(frames)


def _read_tracks(
    root_el: ET.Element, p: Path, image_dir: Path, log: IssueLog
) -> tuple[list[ImageRecord], list[NamedObject]]:
    """CVAT for video 1.1: ``<track>`` elements of per-frame shapes into per-frame objects.

    A track's shape holds from its frame to the next listed shape of the track (boxes are
    interpolated linearly in between, as CVAT does); a shape with ``outside="1"`` ends the
    track there; the last shape inside holds to the last frame. Objects get the track id as
    ``tracker_id``.
    """
    # (track id, label, [(frame, outside, geometry kind, box, polygon, cols)])
    tracks: list[tuple[int, str, list[tuple[int, bool, Box, list[float] | None, dict[str, Any]]]]] = []
    seen: set[int] = set()
    for k, tr in enumerate(root_el.iterfind("track")):
        where = f"track[{k}]"
        label = tr.get("label")
        try:
            tid = int(tr.get("id", k))
        except ValueError:
            log.bad(p, f"bad track id {tr.get('id')!r}", record=where)
            continue
        if not label:
            log.bad(p, "track without a label", record=where)
            continue
        shapes: list[tuple[int, bool, Box, list[float] | None, dict[str, Any]]] = []
        for j, shape in enumerate(tr):
            swhere = f"{where}/{shape.tag}[{j}]"
            if shape.tag not in ("box", "polygon"):
                if shape.tag not in ("attribute", "track"):
                    log.warn(p, f"<{shape.tag}> track is not boxes or polygons; skipped", record=swhere)
                    break
                continue
            try:
                frame = int(shape.get("frame", ""))
                if shape.tag == "box":
                    box, poly = _box_of(shape), None
                else:
                    poly = _polygon_of(shape)
                    box = (min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2]))
            except ValueError as exc:
                log.bad(p, str(exc), record=swhere)
                continue
            attributes = {a.get("name", ""): (a.text or "") for a in shape.iter("attribute")}
            cols: dict[str, Any] = {
                "attributes": attributes or None,
                "origin": (str(p), f"{where}/{shape.tag}", j),
                "occluded": 1 if shape.get("occluded") in ("1", "true", "True") else 0,
                "tracker_id": tid,
            }
            outside = shape.get("outside") in ("1", "true", "True")
            shapes.append((frame, outside, box, poly, cols))
            seen.add(frame)
        if shapes:
            shapes.sort(key=lambda s: s[0])
            tracks.append((tid, label, shapes))
    frames = _frames_of(root_el, seen)
    task = root_el.find("./meta/task")
    size = (0, 0)
    if task is not None:
        try:
            size = (int(task.findtext("original_size/width") or 0), int(task.findtext("original_size/height") or 0))
        except ValueError:
            size = (0, 0)
    records: list[ImageRecord] = []
    position: dict[int, int] = {}
    for f in frames:
        stem = f"frame_{f:06d}"
        img_path = find_image(image_dir, stem)
        fname = img_path.name if img_path is not None else stem + ".png"
        w, h = size
        if (w <= 0 or h <= 0) and img_path is not None:
            w, h = image_size_of(img_path)
        if w <= 0 or h <= 0:
            log.bad(p, "no <original_size> and no image file to read the frame size from", record=f"frame {f}")
            continue
        position[f] = len(records)
        records.append(ImageRecord(f, fname, w, h, path=img_path))
    objects: list[NamedObject] = []
    for _tid, label, shapes in tracks:
        for n, (f0, outside, box, poly, cols) in enumerate(shapes):
            if outside:
                continue
            f1, box1 = (shapes[n + 1][0], shapes[n + 1][2]) if n + 1 < len(shapes) else (None, box)
            for f in frames:
                if f < f0 or (f1 is not None and f >= f1) or f not in position:
                    continue
                c = dict(cols)
                if poly is not None:
                    c["segmentation"] = [poly]
                    b = box
                elif f == f0 or f1 is None:
                    b = box
                else:
                    r = (f - f0) / (f1 - f0)
                    b = tuple(a + (z - a) * r for a, z in zip(box, box1))  # type: ignore[assignment]
                objects.append((position[f], label, b, c))
    objects.sort(key=lambda o: o[0])
    return records, objects


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
    flag_cols = {k: t.data[k].tolist() for k in _FLAG_ATTRIBUTES if k in t.data}
    occl = t.data["occluded"].tolist() if "occluded" in t.data else None
    offsets = ds.row_offsets.tolist()
    xyxy = t.xyxy.tolist()
    cats = sorted(ds.categories, key=lambda c: c.id)
    tids = t.data.get("tracker_id", None)
    if tids is not None and len(tids) and bool((tids >= 0).any()):
        return _write_tracks(ds, out, summary, cats)
    written = 0
    with atomic_file(out) as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n')
        ids, subsets = _image_ids(ds)
        kind = "project" if any(subsets) else "task"
        fh.write(f"  <meta>\n    <{kind}>\n      <size>{len(ds.images)}</size>\n")
        if kind == "project":
            names_of_subsets = list(dict.fromkeys(x for x in subsets if x))
            fh.write(f"      <subsets>{_esc(chr(10).join(names_of_subsets))}</subsets>\n")
        fh.write("      <labels>\n")
        for c in cats:
            fh.write(
                f"        <label>\n          <name>{_esc(c.name)}</name>\n          <attributes/>\n        </label>\n"
            )
        fh.write(f"      </labels>\n    </{kind}>\n  </meta>\n")
        for pos, rec in enumerate(track(ds.images, total=len(ds.images), desc="write cvat", unit="img")):
            name = safe_relpath(rec.file_name)
            sub = f" subset={quoteattr(subsets[pos] or 'default')}" if kind == "project" else ""
            fh.write(
                f"  <image id={quoteattr(str(ids[pos]))} name={quoteattr(name)}{sub} "
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
                a = _row_attributes(i, attrs, flag_cols)
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


#: Per-object columns of other formats (VOC) written as CVAT attributes.
_FLAG_ATTRIBUTES = ("pose", "truncated", "difficult")


def _row_attributes(i: int, attrs: list[Any] | None, flag_cols: dict[str, list[Any]]) -> dict[str, Any]:
    """Object ``i``'s CVAT attributes: its ``attributes`` (LabelMe ``flags`` spread out) plus VOC flags."""
    a = attrs[i] if attrs is not None and isinstance(attrs[i], dict) else {}
    out: dict[str, Any] = {}
    for k, v in a.items():
        if k == "flags" and isinstance(v, dict):
            out.update({str(fk): fv for fk, fv in v.items()})
        elif k == "description" and not v:
            continue
        else:
            out[k] = v
    for k, col in flag_cols.items():
        v = col[i]
        if v is not None and k not in out:
            out[k] = v
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _write_tracks(ds: Dataset, out: Path, summary: ConvertSummary, cats: list[Any]) -> ConvertSummary:
    """CVAT for video 1.1: one ``<track>`` per (track id, class), a shape per frame it is on.

    Frames are the image ids when they are ``start, start + step, ...`` (as read from a
    video export), else the image positions (noted in the summary). A track that is absent
    from the next frame gets an ``outside="1"`` shape there. Objects without a track id get
    a one-frame track each.
    """
    t = ds.table
    names = ds.names
    order = sorted(range(len(ds.images)), key=lambda i: ds.images[i].id)
    ids = [ds.images[i].id for i in order]
    step = ids[1] - ids[0] if len(ids) > 1 else 1
    if ids and ids[0] >= 0 and step > 0 and all(b - a == step for a, b in itertools.pairwise(ids)):
        frames = ids
    else:
        frames, step = list(range(len(ids))), 1
        summary.notes.append("image ids are not evenly spaced frame numbers: frames numbered by image order")
    frame_at = {pos: k for k, pos in enumerate(order)}  # image position -> frame index
    crowd = t.data.get("iscrowd")
    seg = t.data["segmentation"].tolist() if "segmentation" in t.data else None
    attrs = t.data["attributes"].tolist() if "attributes" in t.data else None
    flag_cols = {k: t.data[k].tolist() for k in _FLAG_ATTRIBUTES if k in t.data}
    occl = t.data["occluded"].tolist() if "occluded" in t.data else None
    tids = t.data["tracker_id"].tolist()
    xyxy = t.xyxy.tolist()
    next_id = max(tids) + 1
    tracks: dict[tuple[int, int], dict[int, int]] = {}  # (track id, class) -> frame index -> row
    for i in range(len(t)):
        where = locate(ds, i)
        if crowd is not None and crowd[i] > 0:
            summary.drop("crowd", where)
            continue
        if seg is not None and isinstance(seg[i], dict):
            summary.drop("RLE-mask", where)
            continue
        tid = int(tids[i])
        if tid < 0:
            tid, next_id = next_id, next_id + 1
        rows = tracks.setdefault((tid, int(t.class_id[i])), {})
        k = frame_at[int(t.image_index[i])]
        if k in rows:
            summary.drop("second object of one track in one frame", where)
            continue
        rows[k] = i
    used: set[int] = set()
    written = 0
    w, h = (ds.images[order[0]].width, ds.images[order[0]].height) if order else (0, 0)
    with atomic_file(out) as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n')
        fh.write(f"  <meta>\n    <task>\n      <size>{len(frames)}</size>\n      <mode>interpolation</mode>\n")
        if frames:
            fh.write(f"      <start_frame>{frames[0]}</start_frame>\n      <stop_frame>{frames[-1]}</stop_frame>\n")
            fh.write(f"      <frame_filter>{f'step={step}' if step > 1 else ''}</frame_filter>\n")
        fh.write("      <labels>\n")
        for c in cats:
            fh.write(
                f"        <label>\n          <name>{_esc(c.name)}</name>\n          <attributes/>\n        </label>\n"
            )
        fh.write("      </labels>\n")
        fh.write(f"      <original_size>\n        <width>{w}</width>\n        <height>{h}</height>\n")
        fh.write("      </original_size>\n    </task>\n  </meta>\n")
        for (tid, cid), rows in sorted(tracks.items()):
            if tid in used:
                tid, next_id = next_id, next_id + 1
            used.add(tid)
            label = quoteattr(names.get(cid, str(cid)))
            fh.write(f'  <track id="{tid}" label={label} source="manual">\n')
            for k in sorted(rows):
                i = rows[k]
                occ = int(occl[i]) if occl is not None else 0
                a = _row_attributes(i, attrs, flag_cols)
                body = "".join(
                    f"      <attribute name={quoteattr(str(n))}>{_esc(str(v))}</attribute>\n" for n, v in a.items()
                )
                polys = split_polygons(seg[i] if seg is not None else None)
                if polys and len(polys) > 1:
                    summary.notes.append(f"{locate(ds, i)}: multi-part polygon written as its box in a track")
                    polys = None
                if polys:
                    pts = ";".join(f"{number_text(x)},{number_text(y)}" for x, y in zip(polys[0][0::2], polys[0][1::2]))
                    geom = f'<polygon frame="{frames[k]}" %s occluded="{occ}" keyframe="1" points="{pts}" z_order="0">'
                    close = "</polygon>"
                else:
                    x1, y1, x2, y2 = (number_text(v) for v in xyxy[i])
                    geom = (
                        f'<box frame="{frames[k]}" %s occluded="{occ}" keyframe="1" xtl="{x1}" ytl="{y1}" '
                        f'xbr="{x2}" ybr="{y2}" z_order="0">'
                    )
                    close = "</box>"
                fh.write("    " + geom % 'outside="0"' + f"\n{body}    {close}\n")
                written += 1
                if k + 1 < len(frames) and k + 1 not in rows:
                    nxt = geom.replace(f'frame="{frames[k]}"', f'frame="{frames[k + 1]}"', 1)
                    fh.write("    " + nxt % 'outside="1"' + f"\n{body}    {close}\n")
            fh.write("  </track>\n")
        fh.write("</annotations>\n")
    summary.objects = written
    return summary
