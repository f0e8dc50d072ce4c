"""Writing a dataset as a YOLO folder (the rules: classes, decimals, what YOLO cannot hold)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np

from detectkit._progress import track
from detectkit.dataset import Dataset
from detectkit.errors import InvalidInputError
from detectkit.formats._common import (
    ConvertSummary,
    ImagePlacer,
    atomic_dir,
    pauses_gc,
    plain_relpaths,
    safe_relpath,
)
from detectkit.formats.yolo import _fast_write
from detectkit.formats.yolo.layout import META_FILE, YOLOTask, join_parts

__all__ = ["write"]

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
_DROP_REASONS = ("", "crowd", "unknown-class", "RLE-mask")


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
        blocks = _fast_write.DetectBlocks(ds, ok, sizes, sorted_ids, dec)
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
