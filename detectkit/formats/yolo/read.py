"""Reading a YOLO folder or ``data.yaml`` into a :class:`~detectkit.dataset.Dataset`.

The line-by-line parse (:func:`_slow_labels`) defines the behaviour; plain detect label files
first go through the vectorised parse of ``_fast_read``, which may only decline a file (it then
comes here), never read it differently.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectkit._progress import track
from detectkit.dataset import Category, Dataset, ImageRecord, Issue
from detectkit.errors import InvalidInputError
from detectkit.formats._common import (
    FOLDER_SPLITS,
    IssueLog,
    folder_split,
    image_size_of,
    is_doc_file,
    pauses_gc,
    warn_skipped,
)
from detectkit.formats._per_file import FileMapper, nothing_read
from detectkit.formats.yolo import _fast_read
from detectkit.formats.yolo.layout import (
    META_FILE,
    SPLITS,
    YOLOTask,
    find_darknet,
    find_yaml,
    label_path,
    load_darknet,
    load_yaml,
    looks_like_image_list,
    names_from,
    read_names_file,
    split_parts,
    walk_rel,
)
from detectkit.table import ObjectTable, Provenance

__all__ = ["LabelShard", "files_hint", "labels_table", "parse_label_shard", "read", "read_label_texts"]


@pauses_gc
def read(
    path: str | os.PathLike[str],
    *,
    task: YOLOTask | Literal["auto"] = "auto",
    images: str | os.PathLike[str] | None = None,
    strict: bool = False,
    map_shards: FileMapper | None = None,
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
        map_shards: read the label files in shards elsewhere (``detectkit.batch``'s process
            pool or Ray); the dataset is the same. None: here.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"YOLO dataset {os.fspath(path)} does not exist")
    yaml_path = p if p.is_file() else find_yaml(p) or find_darknet(p)
    root = p.parent if p.is_file() else p
    doc: dict[str, Any] = {}
    if yaml_path is not None:
        doc = load_darknet(yaml_path) if yaml_path.suffix.lower() == ".data" else load_yaml(yaml_path)
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
        names = names_from(doc, yaml_path or root)
    elif (root / "classes.txt").is_file() or (root / "labels" / "classes.txt").is_file():
        cpath = root / "classes.txt" if (root / "classes.txt").is_file() else root / "labels" / "classes.txt"
        names = {i: s.strip() for i, s in enumerate(cpath.read_text(encoding="utf-8").splitlines()) if s.strip()}
    elif meta.get("categories"):
        names = {int(c["index"]): str(c["name"]) for c in meta["categories"]}
    elif len(names_files := sorted(root.glob("*.names"))) == 1:  # Darknet obj.names without obj.data
        names = read_names_file(names_files[0])
    elif (labels_file := _darknet_labels(root)) is not None:  # Roboflow's "YOLO Darknet" export
        names = read_names_file(labels_file)
    else:
        names = {}
    infer_names = not names
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
    base = _dataset_root(doc, root)
    for s in SPLITS:
        entry = doc.get(s)
        entries = entry if isinstance(entry, list) else [entry] if isinstance(entry, str) else []
        for e in entries:
            d = base / e
            if isinstance(entry, str) and not d.exists() and e.startswith("../"):
                d = base / e[3:]  # Ultralytics' quirk for Roboflow exports: train: ../train/images
            if d not in [x[1] for x in split_dirs]:
                split_dirs.append((s, d))
    declared = [(s, d) for s, d in split_dirs if s is not None]
    missing = [(s, d) for s, d in declared if not d.exists() and not label_path(d / "x.jpg").parent.exists()]
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
        label_dir = explicit_labels if explicit_labels is not None else label_path(d / "x.jpg").parent
        if d.suffix == ".txt" and d.is_file():  # a list of image paths
            listed = [_listed(ln.strip(), d, root) for ln in d.read_text(encoding="utf-8").splitlines() if ln.strip()]
            for listed_img in listed:
                label_s = os.fspath(label_path(listed_img))
                if label_s not in seen_labels:
                    seen_labels.add(label_s)
                    pairs.append((label_s, os.fspath(listed_img), split_name, listed_img.name))
            continue
        d_s, label_dir_s = os.fspath(d), os.fspath(label_dir)
        from detectkit.image import IMAGE_EXTENSIONS

        for rel in walk_rel(d, IMAGE_EXTENSIONS, follow=True):
            label_s = f"{label_dir_s}/{rel.rsplit('.', 1)[0]}.txt"
            if label_s in seen_labels:
                continue
            seen_labels.add(label_s)
            pairs.append((label_s, f"{d_s}/{rel}", split_name, rel))
        # labels without image files (e.g. a COCO -> YOLO conversion without images)
        for rel in walk_rel(label_dir, (".txt",), follow=False):
            label_s = f"{label_dir_s}/{rel}"
            if label_s in seen_labels or rel == "classes.txt":
                continue
            if "/" not in rel and (
                is_doc_file(rel) or looks_like_image_list(Path(label_s))
            ):  # README.roboflow.txt beside the splits; train.txt: a list of images
                continue
            seen_labels.add(label_s)
            pairs.append((label_s, None, split_name, rel))

    bare = not declared and images is None and len(split_dirs) == 1 and split_dirs[0][0] is None
    if bare and pairs and all(folder_split(p[3]) for p in pairs):
        # train/ valid/ test/ folders without a data.yaml (Roboflow's "YOLO Darknet" export; or
        # images/train + labels/train without one): the folder is the split, as a yaml would say
        pairs = [(lab, img, folder_split(rel), rel.partition("/")[2]) for lab, img, _, rel in pairs]
    if declared and not pairs:  # a data.yaml whose splits hold nothing: not an empty success
        raise InvalidInputError(
            f"{os.fspath(yaml_path or root)}: no images or labels found in its splits ("
            + "; ".join(f"{s}: {d}{'' if d.exists() else ' (missing)'}" for s, d in declared[:4])
            + "): fix 'path'/'train'/'val' in it (relative paths are resolved against 'path', "
            "else the yaml's folder, as Ultralytics does)"
        )
    for s, d in missing:
        log.warn(yaml_path or root, f"{s} folder {d} does not exist; that split is empty", record=str(s))

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

    if order and not records:  # every image was skipped: not an empty success
        raise nothing_read("YOLO", len(order), log.issues, root)
    table = _parse_labels(label_files, records, id_of, task, log, infer_names=infer_names, map_shards=map_shards)
    if infer_names and id_of:  # no names anywhere: keep the boxes under numeric names, and say so
        categories = [Category(k, str(k)) for k in sorted(id_of)]
        note = (
            f"no class names found (data.yaml 'names', classes.txt, obj.names or {META_FILE}); "
            f"classes named by their indices {_fmt_range(sorted(id_of))}: add a names file to name them"
        )
        log.warn(root, note)
        warnings.warn(f"{os.fspath(path)}: {note}", stacklevel=2)
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


def _darknet_labels(root: Path) -> Path | None:
    """Roboflow's "YOLO Darknet" names file: ``_darknet.labels`` at the top or in a split folder."""
    for folder in (root, *(root / name for name in FOLDER_SPLITS)):
        if (folder / "_darknet.labels").is_file():
            return folder / "_darknet.labels"
    return None


def labels_table(
    label_files: Sequence[str | os.PathLike[str]],
    records: Sequence[ImageRecord],
    *,
    classes: Mapping[int, int] | None = None,
    task: YOLOTask = "detect",
    confidence: bool = False,
    strict: bool = False,
) -> tuple[ObjectTable, list[Issue]]:
    """YOLO label files as one table, by the rules of :func:`read` (the parser :func:`detectkit.evaluate` uses).

    ``label_files[i]`` belongs to ``records[i]``, whose size turns the normalised coordinates
    into pixels (``table.image_index`` = ``i``); a missing file is an image without objects.
    A bad line is skipped (one warning counts them; all are in the returned issues), or
    raises :class:`AnnotationParseError` when ``strict``.

    Args:
        label_files: the ``.txt`` files.
        records: the image of each file.
        classes: YOLO class index -> category id; an index not in it is a bad line.
            ``None``: every index is kept as its own id.
        task: ``"detect"``, ``"segment"`` (both: boxes and polygons by their length) or ``"obb"``.
        confidence: every line ends with a confidence (prediction labels: ``class cx cy w h
            conf`` or ``class x1 y1 ... xn yn conf``); the values as given (float64) are in
            ``table.extras["yolo"]["confidence"]`` (``confidence`` is float32).
        strict: raise at the first bad line.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = f.write_text("1 0.5 0.5 0.5 0.25 0.875\\n")
    >>> t, issues = labels_table([f], [ImageRecord(3, "a.jpg", 100, 40)], confidence=True)
    >>> t.xyxy.tolist(), t.class_id.tolist(), t.extras["yolo"]["confidence"].tolist(), issues
    ([[25.0, 15.0, 75.0, 25.0]], [1], [0.875], [])
    """
    log = IssueLog(strict)
    id_of = dict(classes) if classes is not None else {}
    files = [os.fspath(f) for f in label_files]
    table = _parse_labels(files, list(records), id_of, task, log, infer_names=classes is None, confidence=confidence)
    warn_skipped([i for i in log.issues if i.severity == "error"], files_hint([(0, f, "") for f in files[:1]]))
    return table, log.issues


def _parse_labels(
    label_files: list[str],
    records: list[ImageRecord],
    id_of: dict[int, int],
    task: str,
    log: IssueLog,
    *,
    infer_names: bool = False,
    confidence: bool = False,
    map_shards: FileMapper | None = None,
) -> ObjectTable:
    """All label files as one table: a vectorised pass over plain detect files, line by line otherwise.

    With ``infer_names`` (no class names anywhere), every class index the labels use is added
    to ``id_of`` (as itself) before parsing. ``map_shards`` reads the files and runs the
    vectorised pass in shards elsewhere (only with known names and the detect/segment task;
    the line-by-line pass over what it declines runs here), with the same result.
    """
    # the fast path takes the plain detect files it can; the rest (and all OBB files) go line by line
    # (with a confidence on every line, a 5-number line is not a box: all of them go line by line)
    plain = task != "obb" and not confidence
    size = None
    if map_shards is not None and plain and not infer_names and label_files:
        size = map_shards.shard_size(len(label_files))
    if size is not None and map_shards is not None:
        tasks = []
        for start in range(0, len(label_files), size):
            sizes = np.array([(r.width, r.height) for r in records[start : start + size]], dtype=np.int64)
            tasks.append((start, label_files[start : start + size], sizes.reshape(-1, 2), id_of))
        fast_tables: list[ObjectTable] = []
        slow: list[tuple[int, str, str]] = []
        hint: str | None = None
        for shard in map_shards.map(parse_label_shard, tasks):
            for issue in shard.issues:
                log.record(issue)
            if shard.fast is not None:
                fast_tables.append(shard.fast)
            slow += shard.slow
            if hint is None and shard.first_label is not None:
                hint = files_hint([(0, shard.first_label, "")])
        return _finish_labels(
            fast_tables, slow, records, id_of, task, log, hint or files_hint([]), confidence=confidence
        )
    texts = read_label_texts(label_files, log)
    if infer_names:
        id_of.update({k: k for k in _class_indices(texts)})
    fast, declined = _fast_read.parse(texts, records, id_of) if plain else (None, list(texts))
    return _finish_labels(
        [] if fast is None else [fast], declined, records, id_of, task, log, files_hint(texts), confidence=confidence
    )


def read_label_texts(label_files: Sequence[str], log: IssueLog, *, first: int = 0) -> list[tuple[int, str, str]]:
    """``(image position, label file, text)`` of each label file that holds text (a missing file:
    an image without objects; an unreadable one: an issue). Positions start at ``first``."""
    texts: list[tuple[int, str, str]] = []
    for pos, label in enumerate(track(label_files, total=len(label_files), desc="read yolo"), start=first):
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
    return texts


def _finish_labels(
    fast: list[ObjectTable],
    slow: list[tuple[int, str, str]],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
    task: str,
    log: IssueLog,
    hint: str,
    *,
    confidence: bool,
) -> ObjectTable:
    """The vectorised tables plus the line-by-line parse of the files they declined, as one table."""
    slow.sort(key=lambda x: x[0])
    tables = [*fast, _slow_labels(slow, records, id_of, task, log, confidence=confidence)]
    tables = [t for t in tables if len(t)]
    if any(t.confidence is not None for t in tables) and any(t.confidence is None for t in tables):
        log.warn(hint, "some label files have a confidence column and some not (missing = 1.0)")
        for t in tables:
            if t.confidence is None:
                t.confidence = np.ones(len(t), np.float32)
    return ObjectTable.concat(tables).sorted()


class LabelShard:
    """What a worker returns for a shard of label files: the vectorised table of the files it took
    (image positions of the whole dataset), the texts it declined, the read issues, the first
    label file with text (named in dataset-wide warnings)."""

    __slots__ = ("fast", "first_label", "issues", "slow")

    def __init__(
        self, fast: ObjectTable | None, slow: list[tuple[int, str, str]], issues: list[Issue], first_label: str | None
    ) -> None:
        self.fast = fast
        self.slow = slow
        self.issues = issues
        self.first_label = first_label

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.fast, self.slow, self.issues, self.first_label)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.fast, self.slow, self.issues, self.first_label = state


def parse_label_shard(task: tuple[int, list[str], np.ndarray, dict[int, int]]) -> LabelShard:
    """Read a shard of label files and run the vectorised pass over them (what a batch worker runs).

    ``task`` = (position of the first file, the files, their images' (width, height), YOLO class
    index -> category id).
    """
    start, files, sizes, id_of = task
    log = IssueLog(False)
    texts = read_label_texts(files, log, first=start)
    records = [ImageRecord(0, "", int(w), int(h)) for w, h in sizes.tolist()]
    local = [(pos - start, label, text) for pos, label, text in texts]
    fast, declined = _fast_read.parse(local, records, id_of)
    if fast is not None:
        fast = fast.replace(image_index=fast.image_index + start)
    slow = [(pos + start, label, text) for pos, label, text in declined]
    return LabelShard(fast, slow, log.issues, texts[0][1] if texts else None)


def _dataset_root(doc: Mapping[str, Any], root: Path) -> Path:
    """The folder ``data.yaml``'s split paths are relative to: ``path`` (absolute; else beside the
    yaml, else from the working folder as Ultralytics reads it), or the yaml's folder."""
    value = doc.get("path")
    if not isinstance(value, str) or not value:
        return root
    bp = Path(value)
    if bp.is_absolute():
        return bp
    if (root / bp).exists() or not bp.exists():
        return root / bp
    return bp


def class_index(token: str) -> int:
    """A label line's class token as Ultralytics reads it: a whole number, written ``3`` or ``3.0``
    (its loader parses every token as a float); ValueError for anything else.

    >>> class_index("3"), class_index("3.0"), class_index("-1")
    (3, 3, -1)
    >>> class_index("3.5")
    Traceback (most recent call last):
    ...
    ValueError: class '3.5' is not a whole number
    """
    try:
        return int(token)
    except ValueError:
        value = float(token)  # raises for a token that is not a number
        if not value.is_integer():
            raise ValueError(f"class {token!r} is not a whole number") from None
        return int(value)


def _class_indices(texts: list[tuple[int, str, str]]) -> set[int]:
    """The class indices (first number of each line, in [0, 2**31)) the label texts use."""
    found: set[int] = set()
    for _, _, text in texts:
        for line in text.splitlines():
            head = line.split(None, 1)[:1]
            if not head:
                continue
            try:
                k = class_index(head[0])
            except ValueError:
                continue
            if 0 <= k < 1 << 31:
                found.add(k)
    return found


def _fmt_range(ids: list[int]) -> str:
    """``0..4`` for a contiguous run, else the first few ids.

    >>> _fmt_range([0, 1, 2]), _fmt_range([3, 76])
    ('0..2', '3, 76')
    """
    if ids and ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 2:
        return f"{ids[0]}..{ids[-1]}"
    return ", ".join(str(i) for i in ids[:10]) + (", ..." if len(ids) > 10 else "")


def _listed(line: str, list_file: Path, root: Path) -> Path:
    """An image path from a list file (Ultralytics ``train.txt``, Darknet ``data/train.txt``).

    Tried beside the list, under the dataset root, then one folder above each (Darknet writes
    paths relative to the folder it runs from); the first that exists, else beside the list.
    """
    v = Path(line)
    if v.is_absolute():
        return v
    for base in (list_file.parent, root, list_file.parent.parent, root.parent):
        if (base / v).is_file():
            return base / v
    return list_file.parent / v


def files_hint(texts: list[tuple[int, str, str]]) -> str:
    """A path to name in a dataset-wide warning."""
    return os.path.dirname(texts[0][1]) if texts else "labels"


# what plain detect label text is made of; any other character sends a file line by line


def _slow_labels(
    files: list[tuple[int, str, str]],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
    task: str,
    log: IssueLog,
    *,
    confidence: bool = False,
) -> ObjectTable:
    """Line-by-line parse that reports every bad line (or raises when strict).

    ``confidence``: every line ends with a confidence, kept as given in ``extras["yolo"]``.
    """
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
                k = class_index(parts[0])
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
            if confidence:
                if not (nv == 5 or (nv >= 7 and nv % 2 == 1)):
                    log.bad(
                        label,
                        f"expected 'class cx cy w h confidence' or a polygon with a confidence, got {nv + 1} numbers",
                        line=ln,
                    )
                    continue
                score = vals[-1]
                vals = vals[:-1]
                nv -= 1
            if nv == 4 or (nv == 5 and not confidence):
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
    scores = None
    if any_conf:
        c = np.asarray(conf, dtype=np.float32)
        if np.isnan(c).any():
            log.warn(files[0][1] if files else "labels", "some lines have a confidence column and some not")
        scores = np.nan_to_num(c, nan=1.0)
    return ObjectTable(
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(cls, dtype=np.int64),
        np.asarray(img_idx, dtype=np.int64),
        np.ones(m, np.float32) if confidence and scores is None else scores,
        data,
        provenance=Provenance.of_lines(src_col, np.asarray(lines, dtype=np.int64)),
        extras={"yolo": {"confidence": np.asarray(conf, dtype=np.float64)}} if confidence else None,
    )
