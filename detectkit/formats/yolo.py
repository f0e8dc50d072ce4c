"""YOLO (Ultralytics) datasets: ``data.yaml`` + ``images/`` + ``labels/``, detect / segment / OBB.

A label file ``labels/<stem>.txt`` holds one object per line in normalised coordinates:
``class cx cy w h`` (detect, optionally a 6th ``confidence`` column for predictions),
``class x1 y1 x2 y2 ... xn yn`` (segment polygon) or ``class x1 y1 ... x4 y4`` (OBB).
Class indices are contiguous from 0; a dataset with other category ids (e.g. COCO's
1..90) is mapped in id order and the original ids are recorded in ``detectkit.json``
beside ``data.yaml`` together with the image list and sizes, so YOLO -> COCO gives back
the same ids, image ids, sizes and empty images even when no image files were copied.

Every image gets a label file (an empty one when it has no objects), so empty images
are never lost. Splits (``ImageRecord.split``) become ``images/<split>/`` folders.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectkit._progress import track
from detectkit.dataset import Category, Dataset, ImageRecord
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    ImagePlacer,
    IssueLog,
    atomic_dir,
    image_size_of,
    pauses_gc,
    plain_relpaths,
    safe_relpath,
    warn_skipped,
)
from detectkit.table import ObjectTable, Provenance

__all__ = ["META_FILE", "join_parts", "read", "split_parts", "write"]

META_FILE = "detectkit.json"
YOLOTask = Literal["detect", "segment", "obb"]
_SPLITS = ("train", "val", "test")
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


# ---------------------------------------------------------------------------------------- polygons
def join_parts(parts: list[list[float]]) -> list[float]:
    """Join a multi-part polygon into one YOLO polygon that :func:`split_parts` splits again.

    Each part is walked from its first vertex back to it; parts are linked through their
    first vertices and the links are walked back at the end, so the bridges enclose no area
    and the repeated vertices mark where the parts are.

    >>> join_parts([[0, 0, 4, 0, 4, 4], [10, 10, 12, 10, 12, 12]])
    [0, 0, 4, 0, 4, 4, 0, 0, 10, 10, 12, 10, 12, 12, 10, 10]
    >>> split_parts(join_parts([[0, 0, 4, 0, 4, 4], [10, 10, 12, 10, 12, 12]]))
    [[0, 0, 4, 0, 4, 4], [10, 10, 12, 10, 12, 12]]
    """
    if len(parts) == 1:
        return list(parts[0])
    out: list[float] = []
    for p in parts:
        out += list(p) + list(p[:2])
    for p in parts[-2:0:-1]:  # walk the bridges back to the first part
        out += list(p[:2])
    return out


def split_parts(flat: list[float]) -> list[list[float]]:
    """Split a polygon with repeated vertices into its closed parts (inverse of :func:`join_parts`).

    A polygon without repeated vertices is returned as its only part.

    >>> split_parts([0, 0, 4, 0, 4, 4])
    [[0, 0, 4, 0, 4, 4]]
    """
    points = list(zip(flat[0::2], flat[1::2]))
    if len(set(points)) == len(points):
        return [list(flat)]
    parts: list[list[tuple[float, float]]] = []
    stack: list[tuple[float, float]] = []
    where: dict[tuple[float, float], int] = {}
    for pt in points:
        j = where.get(pt)
        if j is None:
            where[pt] = len(stack)
            stack.append(pt)
            continue
        loop = stack[j:]
        for q in loop[1:]:
            where.pop(q, None)
        del stack[j + 1 :]
        if len(loop) >= 3:
            parts.append(loop)
    if len(stack) >= 3:
        parts.append(stack)
    if not parts:
        return [list(flat)]
    parts.sort(key=lambda loop: points.index(loop[0]))
    return [[c for xy in loop for c in xy] for loop in parts]


# ---------------------------------------------------------------------------------------- write
_RENDER_CHUNK = 16384  # rows rendered per vectorised pass
_DROP_REASONS = ("", "crowd", "unknown-class", "RLE-mask")


def render_rows(
    class_index: np.ndarray, values: np.ndarray, decimals: int, *, last_decimals: int | None = None
) -> tuple[bytes, np.ndarray]:
    """Label lines ``"<class> <v1> <v2> ..."`` for all rows at once, vectorised.

    The text equals ``"%d %.{decimals}f ...\\n" % row`` for every row (rounded, never
    truncated; ``-0.000000`` kept like printf) without a Python loop over objects.
    ``last_decimals`` formats the last column with other decimals (a confidence column).

    Returns:
        The lines as UTF-8 bytes and the byte length of each line (int64 ``(K,)``).

    >>> text, lengths = render_rows(np.array([3, 12]), np.array([[0.5, 0.25], [1.0, 0.1234567]]), 6)
    >>> text.decode(), lengths.tolist()
    ('3 0.500000 0.250000\\n12 1.000000 0.123457\\n', [20, 21])
    """
    k = len(class_index)
    if k == 0:
        return b"", np.zeros(0, np.int64)
    if k > _RENDER_CHUNK:  # bounded temporaries: about 1 KB of scratch per row at a time
        parts = [
            render_rows(
                class_index[a : a + _RENDER_CHUNK], values[a : a + _RENDER_CHUNK], decimals, last_decimals=last_decimals
            )
            for a in range(0, k, _RENDER_CHUNK)
        ]
        return b"".join(t for t, _ in parts), np.concatenate([n for _, n in parts])
    cls = np.asarray(class_index, dtype=np.int64)
    cd = max(1, len(str(int(cls.max()))))
    cpow = 10 ** np.arange(cd - 1, -1, -1, dtype=np.int64)
    c = np.empty((k, cd + 1), np.uint8)
    c[:, :cd] = 48 + (cls[:, None] // cpow) % 10
    c[:, cd] = 32
    ck = np.ones((k, cd + 1), bool)
    ck[:, : cd - 1] = cls[:, None] >= cpow[:-1]
    vals = np.asarray(values, dtype=np.float64).reshape(k, -1)
    if last_decimals is None:
        f, fk = _field_chars(vals, decimals, newline=True)
        chars = np.concatenate([c, f], axis=1)
        keep = np.concatenate([ck, fk], axis=1)
    else:
        f, fk = _field_chars(vals[:, :-1], decimals, newline=False)
        g, gk = _field_chars(vals[:, -1:], last_decimals, newline=True)
        chars = np.concatenate([c, f, g], axis=1)
        keep = np.concatenate([ck, fk, gk], axis=1)
    return chars[keep].tobytes(), keep.sum(axis=1).astype(np.int64)


@functools.cache
def _digit_triples() -> np.ndarray:
    """``(1000, 3)`` uint8: the ASCII digits of 000 ... 999."""
    n = np.arange(1000)
    return np.stack([48 + n // 100, 48 + n // 10 % 10, 48 + n % 10], axis=1).astype(np.uint8)


def _field_chars(vals: np.ndarray, decimals: int, *, newline: bool) -> tuple[np.ndarray, np.ndarray]:
    """Characters and keep-mask of ``%.{decimals}f`` fields, each followed by a space (or, for the
    last one with ``newline``, a line feed)."""
    k, ncol = vals.shape
    scale = 10**decimals
    q = np.rint(np.abs(vals) * scale).astype(np.int64)
    ip, fp = np.divmod(q, scale)
    nd = max(1, len(str(int(ip.max())))) if k else 1
    field = 1 + nd + 1 + decimals + 1  # sign, integer digits, '.', decimals, separator
    f = np.empty((k, ncol, field), np.uint8)
    fk = np.ones((k, ncol, field), bool)
    f[:, :, 0] = 45
    fk[:, :, 0] = np.signbit(vals)
    ipow = 10 ** np.arange(nd - 1, -1, -1, dtype=np.int64)
    f[:, :, 1 : 1 + nd] = 48 + (ip[:, :, None] // ipow) % 10
    fk[:, :, 1:nd] = ip[:, :, None] >= ipow[:-1]
    f[:, :, 1 + nd] = 46
    if decimals:
        # the fraction's digits three at a time from a table: one divmod per group of three
        # instead of a division and a modulo per digit
        groups = -(-decimals // 3)
        digits = np.empty((k, ncol, 3 * groups), np.uint8)
        table = _digit_triples()
        rest = fp
        for j in range(groups - 1, 0, -1):
            rest, group = np.divmod(rest, 1000)
            digits[:, :, 3 * j : 3 * j + 3] = table[group]
        digits[:, :, :3] = table[rest]  # rest < 1000: fp has at most 3 * groups digits
        f[:, :, 2 + nd : 2 + nd + decimals] = digits[:, :, 3 * groups - decimals :]
    else:
        fk[:, :, 1 + nd] = False
    f[:, :, -1] = 32
    if newline:
        f[:, -1, -1] = 10
    return f.reshape(k, -1), fk.reshape(k, -1)


class _DetectBlocks:
    """YOLO detect label text per image, rendered a block of images (at most ``_RENDER_CHUNK``
    rows, or one image) at a time; images are asked for in order."""

    def __init__(self, ds: Dataset, ok: np.ndarray, sizes: np.ndarray, sorted_ids: np.ndarray, decimals: int) -> None:
        self._t, self._ok, self._sizes, self._ids, self._dec = ds.table, ok, sizes, sorted_ids, decimals
        self._offsets = ds.row_offsets  # rows of image i: offsets[i] .. offsets[i + 1]
        self._start = self._end = 0  # images [start, end) are rendered
        self._text = b""
        self._cuts: list[int] = [0]
        self._counts: list[int] = []

    def label(self, pos: int) -> tuple[bytes, int]:
        """``(file content, objects in it)`` of image ``pos``."""
        if pos >= self._end:
            self._render(pos)
        k = pos - self._start
        return self._text[self._cuts[k] : self._cuts[k + 1]], self._counts[k]

    def _render(self, first: int) -> None:
        t, offsets = self._t, self._offsets
        end = int(np.searchsorted(offsets, offsets[first] + _RENDER_CHUNK, side="right")) - 1
        end = min(max(end, first + 1), len(self._sizes))
        a, b = int(offsets[first]), int(offsets[end])
        rows = a + np.flatnonzero(self._ok[a:b])
        xyxy, image_of_row = t.xyxy[rows], t.image_index[rows]
        wh = self._sizes[image_of_row]
        values = np.empty((len(rows), 4 if t.confidence is None else 5))
        values[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2 / wh[:, 0]
        values[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2 / wh[:, 1]
        values[:, 2] = (xyxy[:, 2] - xyxy[:, 0]) / wh[:, 0]
        values[:, 3] = (xyxy[:, 3] - xyxy[:, 1]) / wh[:, 1]
        if t.confidence is not None:
            values[:, 4] = t.confidence[rows]
        cls = np.searchsorted(self._ids, t.class_id[rows]).astype(np.int64)
        text, lengths = render_rows(cls, values, self._dec, last_decimals=6 if t.confidence is not None else None)
        row_ends = np.concatenate([[0], np.cumsum(lengths)])
        per_image = np.searchsorted(image_of_row, np.arange(first, end + 1))
        self._start, self._end, self._text = first, end, text
        self._cuts = row_ends[per_image].tolist()
        self._counts = np.diff(per_image).tolist()


def _yaml_scalar(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are valid YAML scalars


def _decimals_for(max_side: int) -> int:
    """Decimals so that box corners stay within 1e-3 px on an image of this size (at least 6).

    A corner ``cx - w / 2`` carries 1.5 rounding errors of ``0.5 * 10**-d * side`` each.
    """
    return max(6, math.ceil(math.log10(max(max_side, 1) * 750)))


@pauses_gc
def write(
    ds: Dataset,
    path: str | os.PathLike[str],
    *,
    task: YOLOTask | Literal["auto"] = "detect",
    images: str | os.PathLike[str] | None = None,
    link_images: bool = True,
    copy_images: bool = False,
    overwrite: bool = False,
) -> ConvertSummary:
    """Write ``ds`` as a YOLO dataset folder (atomically: a temp folder beside ``path``, renamed at the end).

    Args:
        ds: the dataset.
        path: the output folder (must be absent or empty unless ``overwrite``).
        task: ``"detect"`` (boxes, exact to 1e-3 px), ``"segment"`` (polygons; objects
            without one use their box as a 4-point polygon; multi-part polygons are joined
            through repeated vertices) or ``"obb"``; ``"auto"`` picks segment when any object
            has a polygon, else detect.
        images: folder the image ``file_name`` s are relative to, when the records have no
            ``path``.
        link_images: place the image files into ``images/`` as symlinks so the result
            trains as is (when the image files are available).
        copy_images: copy the files instead of linking them.
        overwrite: replace an existing non-empty ``path``.

    Returns:
        A summary; objects YOLO cannot hold (crowd regions, RLE masks in segment mode,
        unknown classes) are counted there with their locations, never silently dropped.
    """
    out = Path(path)
    t = ds.table
    # detect: boxes only, polygons are never decoded
    seg = None
    if "segmentation" in t.data:
        seg = t.data["segmentation"] if task != "detect" else t.data.raw("segmentation")
    if task == "auto":
        has_poly = seg is not None and any(isinstance(s, list) and s for s in seg.tolist())
        task = "segment" if has_poly else "detect"
    if task not in ("detect", "segment", "obb"):
        raise InvalidInputError(f"task must be one of ['auto', 'detect', 'obb', 'segment'], got {task!r}")
    summary = ConvertSummary(path=out, format=f"yolo-{task}")
    cats = sorted(ds.categories, key=lambda c: c.id)
    index_of = {c.id: i for i, c in enumerate(cats)}
    image_root = Path(images) if images is not None else None
    placer = ImagePlacer(image_root, copy=copy_images) if link_images or copy_images else None

    # which objects survive, vectorised
    n = len(t)
    ok = np.ones(n, bool)
    crowd = t.data.get("iscrowd")
    reasons = np.zeros(n, np.uint8)  # index into _DROP_REASONS
    if crowd is not None:
        bad = crowd > 0
        reasons[bad] = 1
        ok &= ~bad
    known = np.isin(t.class_id, list(index_of)) if n else np.zeros(0, bool)
    reasons[ok & ~known] = 2
    ok &= known
    loc_names = [r.file_name for r in ds.images]
    ann_ids = t.data.get("annotation_id")

    seg_list = seg.tolist() if seg is not None else None
    if task == "segment" and seg_list is not None:
        for i in np.flatnonzero(ok).tolist():
            if isinstance(seg_list[i], dict):
                reasons[i] = 3
                ok[i] = False
    for i in np.flatnonzero(~ok).tolist():
        where = loc_names[int(t.image_index[i])]
        if ann_ids is not None and ann_ids[i] >= 0:
            where += f" (annotation id {int(ann_ids[i])})"
        summary.drop(_DROP_REASONS[reasons[i]], where)
    if task == "detect" and seg_list is not None and any(seg_list):
        summary.notes.append("segmentation not written (task=detect keeps boxes only; use task='segment')")

    sizes = np.array([[r.width, r.height] for r in ds.images], dtype=np.float64).reshape(-1, 2)
    sorted_ids = np.array([c.id for c in cats], dtype=np.int64)
    dec = _decimals_for(int(sizes.max()) if len(sizes) else 1)
    lines: list[str] = []
    if task == "detect":
        # label files are byte slices of blocks rendered at once (no per-object Python work),
        # block by block as the files are written: memory stays bounded as the dataset grows
        blocks = _DetectBlocks(ds, ok, sizes, sorted_ids, dec)
    else:
        obb = t.data.get("obb_polygon")
        multi_parts = 0
        xyxy_l = t.xyxy.tolist()
        cls_l = np.searchsorted(sorted_ids, t.class_id).tolist()
        img_l = t.image_index.tolist()
        for i in range(n):
            if not ok[i]:
                lines.append("")
                continue
            w, h = sizes[img_l[i]]
            polys: list[list[float]]
            if task == "obb" and obb is not None and np.isfinite(obb[i]).all():
                polys = [np.asarray(obb[i], dtype=np.float64).reshape(-1).tolist()]
            elif task == "segment" and seg_list is not None and isinstance(seg_list[i], list) and seg_list[i]:
                polys = [join_parts([list(map(float, p)) for p in seg_list[i]])]
                multi_parts += len(seg_list[i]) > 1
            else:
                x1, y1, x2, y2 = xyxy_l[i]
                polys = [[x1, y1, x2, y1, x2, y2, x1, y2]]
            arr = np.asarray(polys[0], dtype=np.float64)
            arr[0::2] /= w
            arr[1::2] /= h
            lines.append(f"{cls_l[i]} " + " ".join(f"{v:.{dec}f}" for v in arr.tolist()))
        if multi_parts:
            summary.notes.append(
                f"{multi_parts} multi-part polygon(s) joined into one line each through repeated vertices "
                "(detectkit splits them again on reading)"
            )

    # file layout
    has_split = any(r.split for r in ds.images)
    stems: dict[str, str] = {}
    rel_images: list[str] = []
    label_names: list[str] = []
    plain = plain_relpaths([r.file_name for r in ds.images])
    for r in ds.images:
        fname = r.file_name if plain else safe_relpath(r.file_name)
        rel = f"{r.split or 'train'}/{fname}" if has_split else fname
        head, _, tail = rel.rpartition("/")
        stem = ((head + "/" if head else "") + tail.rsplit(".", 1)[0]) if "." in tail else rel
        if stem in stems:
            raise InvalidInputError(
                f"images {stems[stem]!r} and {rel!r} share the label file {stem}.txt; rename one of them"
            )
        stems[stem] = rel
        rel_images.append(rel)
        label_names.append(f"labels/{stem}.txt")

    offsets = ds.row_offsets.tolist()
    written = 0
    with atomic_dir(out, overwrite=overwrite) as tmp:
        base = os.fspath(tmp)
        made: set[str] = set()
        for pos, r in enumerate(track(ds.images, total=len(ds.images), desc="write yolo", unit="img")):
            label = f"{base}/{label_names[pos]}"
            folder = label.rpartition("/")[0]
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            if task == "detect":
                content, count = blocks.label(pos)
                written += count
            else:
                a, b = offsets[pos], offsets[pos + 1]
                sel = [lines[i] for i in range(a, b) if ok[i]]
                written += len(sel)
                content = ("\n".join(sel) + "\n").encode("utf-8") if sel else b""
            fd = os.open(label, _WRITE_FLAGS, 0o666)
            try:
                os.write(fd, content)
            finally:
                os.close(fd)
            if placer is not None:
                placer.place(r, f"{base}/images/{rel_images[pos]}")
        if not has_split:
            (tmp / "images").mkdir(exist_ok=True)
        splits = sorted({r.split or "train" for r in ds.images}) if has_split else []
        for s in splits:
            (tmp / "images" / s).mkdir(parents=True, exist_ok=True)
        yaml_lines = [
            "# written by detectkit; paths are relative to this file's folder",
        ]
        if has_split:
            for s in splits:
                yaml_lines.append(f"{s}: images/{s}")
            if "val" not in splits:
                yaml_lines.append(f"val: images/{splits[0]}")
            if "train" not in splits:
                yaml_lines.append(f"train: images/{splits[0]}")
        else:
            yaml_lines += ["train: images", "val: images"]
        yaml_lines.append(f"nc: {len(cats)}")
        yaml_lines.append("names:")
        yaml_lines += [f"  {i}: {_yaml_scalar(c.name)}" for i, c in enumerate(cats)]
        if task != "detect":
            yaml_lines.append(f"task: {task}")
        (tmp / "data.yaml").write_text("\n".join(yaml_lines) + "\n", encoding="utf-8")
        (tmp / "classes.txt").write_text("".join(c.name + "\n" for c in cats), encoding="utf-8")
        meta = {
            "schema": 1,
            "task": task,
            "categories": [
                {"index": i, "id": c.id, "name": c.name, "supercategory": c.supercategory, "extra": dict(c.extra)}
                for i, c in enumerate(cats)
            ],
            "image_fields": ["label", "id", "file_name", "width", "height", "split", "extra"],
            "images": [
                [label, r.id, r.file_name, r.width, r.height, r.split, dict(r.extra) if r.extra else None]
                for r, label in zip(ds.images, label_names)
            ],
            "info": ds.info,
            "licenses": ds.licenses,
            "source_format": ds.source_format,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    summary.images = len(ds.images)
    summary.objects = written
    summary.images_linked = placer.placed if placer is not None else 0
    return summary


# ---------------------------------------------------------------------------------------- read
def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise AnnotationParseError(path, f"invalid YAML: {getattr(exc, 'problem', exc)}", line=line) from None
    except UnicodeDecodeError as exc:
        raise AnnotationParseError(path, f"not UTF-8 text: {exc}") from None
    if not isinstance(doc, dict):
        raise AnnotationParseError(path, "expected a YAML mapping with 'names' (YOLO data.yaml)")
    return doc


def _names_from(doc: Mapping[str, Any], path: Path) -> dict[int, str]:
    names = doc.get("names")
    if isinstance(names, list):
        return {i: str(v) for i, v in enumerate(names)}
    if isinstance(names, dict):
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise AnnotationParseError(path, "names keys must be integer class indices", record="names") from None
    if "nc" in doc:
        return {i: f"class{i}" for i in range(int(doc["nc"]))}
    raise AnnotationParseError(path, "data.yaml has no 'names'", record="names")


def find_yaml(root: Path) -> Path | None:
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if (root / name).is_file():
            return root / name
    found = sorted(p for p in root.glob("*.y*ml") if p.is_file())
    return found[0] if len(found) == 1 else None


def _label_path(image: Path) -> Path:
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    else:
        return image.with_suffix(".txt")
    return Path(*parts).with_suffix(".txt")


def _walk_rel(folder: Path, suffixes: tuple[str, ...], *, follow: bool) -> list[str]:
    """Sorted ``/``-separated paths, relative to ``folder``, of the files with these suffixes
    (hidden files and folders skipped)."""
    if not folder.is_dir():
        return []
    top = os.fspath(folder)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=follow):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        sub = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if sub == "." else sub + "/"
        out += [prefix + f for f in filenames if not f.startswith(".") and os.path.splitext(f)[1].lower() in suffixes]
    out.sort()
    return out


@pauses_gc
def read(
    path: str | os.PathLike[str],
    *,
    task: YOLOTask | Literal["auto"] = "auto",
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a YOLO dataset: its folder, its ``data.yaml``, or a bare folder of label files.

    Class names come from ``data.yaml`` (``names``), else ``classes.txt``, else
    ``detectkit.json``, else the indices themselves. Image sizes come from
    ``detectkit.json`` when it lists the image, else from the image header (no decode).
    Categories get the ids recorded in ``detectkit.json`` (e.g. the original COCO ids) or
    the 0-based YOLO indices.

    Args:
        path: dataset folder, ``data.yaml``, or a folder of ``.txt`` label files.
        task: ``"detect"``, ``"segment"``, ``"obb"`` or ``"auto"`` (from ``data.yaml`` /
            ``detectkit.json``; lines with more than 6 numbers are polygons).
        images: image folder for a bare label folder.
        strict: raise :class:`AnnotationParseError` at the first bad line instead of
            skipping that object with a warning.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"YOLO dataset {os.fspath(path)} does not exist")
    yaml_path = p if p.is_file() else find_yaml(p)
    root = p.parent if p.is_file() else p
    doc: dict[str, Any] = _load_yaml(yaml_path) if yaml_path is not None else {}
    log = IssueLog(strict)
    meta: dict[str, Any] = {}
    meta_path = root / META_FILE
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warn(meta_path, f"ignored: not valid JSON ({exc})")
            meta = {}
    if task == "auto":
        task = doc.get("task") or meta.get("task") or "detect"
        if task not in ("detect", "segment", "obb"):
            task = "detect"

    # classes
    if "names" in doc or "nc" in doc:
        names = _names_from(doc, yaml_path or root)
    elif (root / "classes.txt").is_file() or (root / "labels" / "classes.txt").is_file():
        cpath = root / "classes.txt" if (root / "classes.txt").is_file() else root / "labels" / "classes.txt"
        names = {i: s.strip() for i, s in enumerate(cpath.read_text(encoding="utf-8").splitlines()) if s.strip()}
    elif meta.get("categories"):
        names = {int(c["index"]): str(c["name"]) for c in meta["categories"]}
    else:
        names = {}
    meta_cats = {int(c["index"]): c for c in meta.get("categories", []) if isinstance(c, dict) and "index" in c}
    id_of: dict[int, int] = {}
    categories: list[Category] = []
    for idx in sorted(names):
        mc = meta_cats.get(idx)
        if mc is not None and mc.get("name") == names[idx] and isinstance(mc.get("id"), int):
            categories.append(Category(mc["id"], names[idx], mc.get("supercategory"), mc.get("extra") or {}))
            id_of[idx] = mc["id"]
        else:
            categories.append(Category(idx, names[idx]))
            id_of[idx] = idx
    if len({c.id for c in categories}) != len(categories):  # stale metadata: fall back to indices
        categories = [Category(i, names[i]) for i in sorted(names)]
        id_of = {i: i for i in names}

    # image / label pairs, by split
    # (label file, image file or None, split, image name relative to its folder), as strings:
    # path objects per image would cost more than the parsing
    pairs: list[tuple[str, str | None, str | None, str]] = []
    split_dirs: list[tuple[str | None, Path]] = []
    base = root
    if isinstance(doc.get("path"), str) and doc["path"]:
        bp = Path(doc["path"])
        base = bp if bp.is_absolute() else (root / bp)
    for s in _SPLITS:
        entry = doc.get(s)
        entries = entry if isinstance(entry, list) else [entry] if isinstance(entry, str) else []
        for e in entries:
            d = base / e
            if d not in [x[1] for x in split_dirs]:
                split_dirs.append((s, d))
    explicit_labels: Path | None = None
    if not split_dirs:
        if images is not None:
            split_dirs = [(None, Path(images))]
            explicit_labels = root / "labels" if (root / "labels").is_dir() else root
        elif (root / "images").is_dir() or (root / "labels").is_dir():
            split_dirs = [(None, root / "images")]
        else:
            split_dirs = [(None, root)]
    seen_labels: set[str] = set()
    multi = len({s for s, _ in split_dirs}) > 1
    for split, d in split_dirs:
        split_name = split if multi else None
        label_dir = explicit_labels if explicit_labels is not None else _label_path(d / "x.jpg").parent
        if d.suffix == ".txt" and d.is_file():  # a list of image paths
            listed = [(d.parent / ln.strip()) for ln in d.read_text(encoding="utf-8").splitlines() if ln.strip()]
            for listed_img in listed:
                label_s = os.fspath(_label_path(listed_img))
                if label_s not in seen_labels:
                    seen_labels.add(label_s)
                    pairs.append((label_s, os.fspath(listed_img), split_name, listed_img.name))
            continue
        d_s, label_dir_s = os.fspath(d), os.fspath(label_dir)
        from detectkit.image import IMAGE_EXTENSIONS

        for rel in _walk_rel(d, IMAGE_EXTENSIONS, follow=True):
            label_s = f"{label_dir_s}/{rel.rsplit('.', 1)[0]}.txt"
            if label_s in seen_labels:
                continue
            seen_labels.add(label_s)
            pairs.append((label_s, f"{d_s}/{rel}", split_name, rel))
        # labels without image files (e.g. a COCO -> YOLO conversion without images)
        for rel in _walk_rel(label_dir, (".txt",), follow=False):
            label_s = f"{label_dir_s}/{rel}"
            if label_s in seen_labels or rel == "classes.txt":
                continue
            seen_labels.add(label_s)
            pairs.append((label_s, None, split_name, rel))

    # records: detectkit.json first (ids, sizes, order, file names), then files found
    meta_images: dict[str, dict[str, Any]] = {}
    fields = meta.get("image_fields")
    for m in meta.get("images", []):
        if isinstance(m, list) and isinstance(fields, list) and len(m) == len(fields):
            m = dict(zip(fields, m))
        if isinstance(m, dict) and isinstance(m.get("label"), str):
            meta_images[m["label"]] = m
    records: list[ImageRecord] = []
    label_files: list[str] = []
    used_ids: set[int] = set()
    order: list[tuple[int, tuple[str, str | None, str | None, str], dict[str, Any] | None]] = []
    meta_rank = {k: i for i, k in enumerate(meta_images)}
    root_prefix = os.fspath(root) + "/"
    for pair in pairs:
        label_s = pair[0]
        key = label_s[len(root_prefix) :] if label_s.startswith(root_prefix) else label_s.rsplit("/", 1)[-1]
        m = meta_images.get(key)
        order.append((meta_rank.get(key, len(meta_rank)), pair, m))
    order.sort(key=lambda x: x[0])
    next_id = 1 + max([int(m["id"]) for m in meta_images.values() if isinstance(m.get("id"), int)], default=0)
    for _, (label_s, img_found, split, rel), m in track(order, total=len(order), desc="index yolo", unit="img"):
        img: Path | None = Path(img_found) if img_found is not None else None
        if m is not None:
            rid = int(m["id"])
            fname = str(m["file_name"])
            w, h = int(m["width"]), int(m["height"])
            rsplit = m.get("split", split)
            extra = m.get("extra") or {}
        else:
            rid = next_id
            next_id += 1
            if img is None:
                log.bad(label_s, "label file has no image and no recorded size; skipped (pass images=)")
                continue
            fname = rel
            try:
                w, h = image_size_of(img)
            except InvalidInputError as exc:
                log.bad(img, str(exc))
                continue
            rsplit = split
            extra = {}
        if rid in used_ids:
            rid = next_id
            next_id += 1
        used_ids.add(rid)
        if img is None and m is not None and images is not None:
            cand = Path(images) / fname
            img = cand if cand.is_file() else None
        records.append(ImageRecord(rid, fname, w, h, path=img, split=rsplit, extra=extra))
        label_files.append(label_s)

    table = _parse_labels(label_files, records, id_of, task, log)
    warn_skipped([i for i in log.issues if i.severity == "error"], os.fspath(path))
    return Dataset.from_table(
        categories,
        records,
        table,
        info=meta.get("info") or {},
        licenses=meta.get("licenses") or [],
        issues=log.issues,
        source_format=meta.get("source_format") or "yolo",
    )


def _parse_labels(
    label_files: list[str],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
    task: str,
    log: IssueLog,
) -> ObjectTable:
    """All label files as one table: a vectorised pass over plain detect files, line by line otherwise."""
    texts: list[tuple[int, str, str]] = []
    for pos, label in enumerate(track(label_files, total=len(label_files), desc="read yolo")):
        try:
            with open(label, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            log.bad(label, f"unreadable label file: {exc}")
            continue
        if text.strip():
            texts.append((pos, label, text))
    numbers, fast_files, slow = _numeric_rows(texts) if task != "obb" else (None, [], list(texts))
    tables: list[ObjectTable] = []
    if fast_files and numbers is not None:
        table, rejected = _fast_labels(numbers, fast_files, records, id_of)
        if table is not None:
            tables.append(table)
        slow += [(pos, label, text) for pos, label, text in texts if (pos, label) in rejected]
    slow.sort(key=lambda x: x[0])
    tables.append(_slow_labels(slow, records, id_of, task, log))
    tables = [t for t in tables if len(t)]
    if any(t.confidence is not None for t in tables) and any(t.confidence is None for t in tables):
        log.warn(files_hint(texts), "some label files have a confidence column and some not (missing = 1.0)")
        for t in tables:
            if t.confidence is None:
                t.confidence = np.ones(len(t), np.float32)
    return ObjectTable.concat(tables).sorted()


def files_hint(texts: list[tuple[int, str, str]]) -> str:
    """A path to name in a dataset-wide warning."""
    return os.path.dirname(texts[0][1]) if texts else "labels"


# what plain detect label text is made of; any other character sends a file line by line
_NUMERIC_TEXT = b"0123456789.eE+- \t\r\n"


def _numeric_rows(
    texts: list[tuple[int, str, str]],
) -> tuple[np.ndarray | None, list[tuple[int, str, np.ndarray]], list[tuple[int, str, str]]]:
    """Label texts whose lines all hold 5 numbers (blank lines aside), parsed in one pass.

    Returns ``(numbers (K, 5), [(pos, label, line numbers)], the other texts)``: lines are
    counted with numpy over the bytes of all texts at once and the numbers parsed by one
    ``np.fromstring``. Anything unusual (other characters, 4 or 6 tokens on a line, a token
    that is not a number) leaves that text to the line-by-line parse, which names what is
    wrong.
    """
    parts: list[str] = []
    plain: list[int] = []
    for k, (_, _, text) in enumerate(texts):
        part = text if text.endswith("\n") else text + "\n"
        if part.isascii() and not part.encode("ascii").translate(None, _NUMERIC_TEXT):
            parts.append(part)
            plain.append(k)
    if not parts:
        return None, [], list(texts)
    b = np.frombuffer("".join(parts).encode("ascii"), np.uint8)
    newline = b == 10
    space = newline | (b == 32) | (b == 9) | (b == 13)
    starts = ~space
    starts[1:] &= space[:-1]  # the first byte of each token
    line_of_byte = np.cumsum(newline) - newline  # a line's '\n' counts as its own
    lines_per_part = np.fromiter((p.count("\n") for p in parts), np.int64, len(parts))
    tokens = np.bincount(line_of_byte[starts], minlength=int(lines_per_part.sum()))
    part_of_line = np.repeat(np.arange(len(parts)), lines_per_part)
    line_no = np.arange(len(tokens)) - np.repeat(np.cumsum(lines_per_part) - lines_per_part, lines_per_part) + 1
    fast = np.ones(len(parts), bool)
    fast[part_of_line[(tokens != 5) & (tokens != 0)]] = False
    row = (tokens == 5) & fast[part_of_line]
    chosen = np.flatnonzero(fast).tolist()
    numbers = _floats("".join(parts[i] for i in chosen))
    if numbers is None:  # some token is not a number: leave out the texts that hold one
        chosen = [i for i in chosen if _floats(parts[i]) is not None]
        fast[:] = False
        fast[chosen] = True
        row = (tokens == 5) & fast[part_of_line]
        numbers = _floats("".join(parts[i] for i in chosen))
    if numbers is None or len(numbers) != 5 * int(row.sum()):  # cannot happen after the checks above
        return None, [], list(texts)
    ends = np.searchsorted(part_of_line[row], chosen, side="right")
    line_numbers = np.split(line_no[row], ends[:-1]) if chosen else []
    files = [(texts[plain[i]][0], texts[plain[i]][1], ln) for i, ln in zip(chosen, line_numbers)]
    taken = {plain[i] for i in chosen}
    return numbers.reshape(-1, 5), files, [t for k, t in enumerate(texts) if k not in taken]


def _floats(text: str) -> np.ndarray | None:
    """The whitespace-separated numbers of ``text``, or ``None`` if a token is not a number."""
    try:
        return np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None


def _fast_labels(
    arr: np.ndarray,
    files: list[tuple[int, str, np.ndarray]],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
) -> tuple[ObjectTable | None, set[tuple[int, str]]]:
    """Vectorised checks of ``class cx cy w h`` rows (``arr`` (K, 5), file after file, with
    each file's line numbers); files with any bad row are returned for the slow pass."""
    counts = np.array([len(n) for _, _, n in files], dtype=np.int64)
    file_of_row = np.repeat(np.arange(len(files)), counts)
    ids_sorted = np.array(sorted(id_of), dtype=np.int64)
    k = arr[:, 0]
    good = np.isfinite(arr).all(axis=1) & (k == np.round(k)) & (arr[:, 3] >= 0) & (arr[:, 4] >= 0)
    ki = np.where(good, k, -1).astype(np.int64)
    where = np.searchsorted(ids_sorted, ki).clip(0, max(len(ids_sorted) - 1, 0))
    good &= len(ids_sorted) > 0
    if len(ids_sorted):
        good &= ids_sorted[where] == ki
    bad_files = set(np.unique(file_of_row[~good]).tolist())
    rejected = {(files[i][0], files[i][1]) for i in bad_files}
    keep_file = np.ones(len(files), bool)
    keep_file[list(bad_files)] = False
    sel = keep_file[file_of_row]
    arr = arr[sel]
    fr = file_of_row[sel]
    if not len(arr):
        return None, rejected
    positions = np.array([pos for pos, _, _ in files], dtype=np.int64)[fr]
    sizes = np.array([[r.width, r.height] for r in records], dtype=np.float64).reshape(-1, 2)[positions]
    cx, cy, bw, bh = arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]
    w, h = sizes[:, 0], sizes[:, 1]
    xyxy = np.column_stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    lut = np.array([id_of[int(i)] for i in ids_sorted], dtype=np.int64)
    cls = lut[np.searchsorted(ids_sorted, arr[:, 0].astype(np.int64))]
    line = np.concatenate([n for _, _, n in files])[sel] if files else np.zeros(0, np.int64)
    src = np.empty(len(files), dtype=object)
    src[:] = [str(label) for _, label, _ in files]
    return ObjectTable(xyxy, cls, positions, provenance=Provenance.of_lines(src[fr], line)), rejected


def _slow_labels(
    files: list[tuple[int, str, str]],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
    task: str,
    log: IssueLog,
) -> ObjectTable:
    """Line-by-line parse that reports every bad line (or raises when strict)."""
    img_idx: list[int] = []
    cls: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    conf: list[float] = []
    segs: list[Any] = []
    obbs: list[Any] = []
    srcs: list[str] = []
    lines: list[int] = []
    any_conf = False
    any_seg = False
    any_obb = False
    known = set(id_of)
    for pos, label, text in files:
        rec = records[pos]
        label_str = str(label)
        w, h = rec.width, rec.height
        for ln, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                k = int(parts[0])
                vals = [float(v) for v in parts[1:]]
            except ValueError:
                log.bad(label, f"expected 'class x y ...' numbers, got {line.strip()[:60]!r}", line=ln)
                continue
            nv = len(vals)
            if not all(math.isfinite(v) for v in vals):
                log.bad(label, "coordinates must be finite", line=ln)
                continue
            if k not in known:
                log.bad(label, f"class {k} is not in names (0..{max(known, default=-1)})", line=ln)
                continue
            score = None
            if nv in (4, 5):
                cxn, cyn, bwn, bhn = vals[:4]
                if bwn < 0 or bhn < 0:
                    log.bad(label, f"negative width/height {bwn}, {bhn}", line=ln)
                    continue
                box = ((cxn - bwn / 2) * w, (cyn - bhn / 2) * h, (cxn + bwn / 2) * w, (cyn + bhn / 2) * h)
                if nv == 5:
                    score = vals[4]
                segs.append(None)
                obbs.append(None)
            elif nv >= 6 and nv % 2 == 0:
                xs = [v * w for v in vals[0::2]]
                ys = [v * h for v in vals[1::2]]
                box = (min(xs), min(ys), max(xs), max(ys))
                pts = [round(c, 6) for xy in zip(xs, ys) for c in xy]
                if task == "obb" and nv == 8:
                    obbs.append(np.array(pts, dtype=np.float64).reshape(4, 2))
                    segs.append(None)
                    any_obb = True
                else:
                    segs.append(split_parts(pts))
                    obbs.append(None)
                    any_seg = True
            else:
                log.bad(
                    label,
                    f"expected 4 box numbers (+ confidence) or an even number >= 6 of polygon "
                    f"coordinates after the class, got {nv}",
                    line=ln,
                )
                continue
            if score is not None:
                any_conf = True
            img_idx.append(pos)
            cls.append(id_of[k])
            boxes.append(box)
            conf.append(score if score is not None else np.nan)
            srcs.append(label_str)
            lines.append(ln)
    m = len(cls)
    data: dict[str, np.ndarray] = {}
    if any_seg:
        col = np.empty(m, dtype=object)
        col[:] = segs
        data["segmentation"] = col
    if any_obb:
        arr = np.full((m, 4, 2), np.nan)
        for i, o in enumerate(obbs):
            if o is not None:
                arr[i] = o
        data["obb_polygon"] = arr
    src_col = np.empty(m, dtype=object)
    src_col[:] = srcs
    confidence = None
    if any_conf:
        c = np.asarray(conf, dtype=np.float32)
        if np.isnan(c).any():
            log.warn(files[0][1] if files else "labels", "some lines have a confidence column and some not")
        confidence = np.nan_to_num(c, nan=1.0)
    return ObjectTable(
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(cls, dtype=np.int64),
        np.asarray(img_idx, dtype=np.int64),
        confidence,
        data,
        provenance=Provenance.of_lines(src_col, np.asarray(lines, dtype=np.int64)),
    )
