"""Format-independent entry points: detect a dataset's format, read, write, convert.

Each format's own module does the work; these functions pick it through
:mod:`detectkit.registry` (a module is imported only when its format is used).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectkit._checks import check_choice
from detectkit._progress import progress_enabled
from detectkit.errors import InvalidInputError
from detectkit.formats._common import FOLDER_SPLITS, ConvertSummary, is_doc_file
from detectkit.registry import format_module

if TYPE_CHECKING:
    from detectkit.dataset import Dataset
    from detectkit.formats._per_file import FileMapper

__all__ = ["FORMATS", "carry_extra_fields", "convert", "detect_format", "file_target", "read", "write"]

FORMATS: tuple[str, ...] = ("coco", "yolo", "voc", "labelme", "cvat")
_FILE_NAMES = {"coco": "instances.json", "cvat": "annotations.xml"}  # single-file formats


_HOLDS_ATTRIBUTES = ("coco", "cvat", "labelme")  # targets that write the "attributes" column
_LABELME_KEYS = frozenset({"description", "flags", "group_id"})


def carry_extra_fields(ds: Dataset, to: str) -> dict[str, int]:
    """Carry per-object COCO keys into ``to`` where it can hold them; count the rest.

    COCO keeps unknown annotation keys (``attributes``, ``keypoints``, ``num_keypoints``, ...)
    as they are. For CVAT and LabelMe a COCO ``attributes`` dict becomes the ``"attributes"``
    column their writers store (LabelMe keeps only ``description``/``flags``/``group_id`` of
    it); every other key (and ``attributes`` for YOLO / VOC) cannot be written, and is counted
    here so the conversion can say so.

    Returns:
        key -> number of objects whose value for that key the target does not hold.
    """
    if to == "coco":
        return {}
    t = ds.table
    lost: dict[str, int] = {}
    extra = t.extras.get("coco", {}).get("extra")
    if extra is not None:
        attrs: list[Any] = [None] * len(t)
        carried = False
        for i, ex in enumerate(extra.tolist()):
            for key, value in (ex or {}).items():
                if key == "attributes" and to in _HOLDS_ATTRIBUTES and isinstance(value, dict) and value:
                    attrs[i] = dict(value)
                    carried = True
                    if to == "labelme" and set(value) - _LABELME_KEYS:  # LabelMe stores these keys only
                        lost["attributes"] = lost.get("attributes", 0) + 1
                else:
                    lost[key] = lost.get(key, 0) + 1
        if carried and "attributes" not in t.data:
            import numpy as np

            column = np.empty(len(t), dtype=object)
            column[:] = attrs
            t.data["attributes"] = column
    if to not in _HOLDS_ATTRIBUTES and to != "voc" and "attributes" in t.data:  # VOC's writer says so itself
        n = sum(1 for a in t.data["attributes"].tolist() if a)
        if n:
            lost["attributes"] = lost.get("attributes", 0) + n
    return lost


def lost_fields_note(lost: dict[str, int], to: str) -> str:
    """One summary line for :func:`carry_extra_fields`' counts.

    >>> lost_fields_note({"keypoints": 3, "num_keypoints": 3}, "yolo")
    'not representable in yolo: keypoints of 3 object(s), num_keypoints of 3 object(s) (kept by COCO)'
    """
    fields = ", ".join(f"{k} of {n} object(s)" for k, n in sorted(lost.items()))
    return f"not representable in {to}: {fields} (kept by COCO)"


def file_target(path: str | os.PathLike[str], format: str) -> tuple[Path, str | None]:
    """Where a single-file format (COCO, CVAT) writes when given ``path``, and a note if it moved.

    A path ending in ``/`` or naming an existing folder means that folder: the file goes in
    it as ``instances.json`` (COCO) or ``annotations.xml`` (CVAT), never as a file named like
    the folder. Other formats and plain file paths are returned as they are.

    >>> file_target("out/", "coco")[0].as_posix()
    'out/instances.json'
    >>> file_target("out.json", "coco")
    (PosixPath('out.json'), None)
    """
    raw = os.fspath(path)
    p = Path(raw)
    name = _FILE_NAMES.get(format)
    if name is None or not (raw.endswith(("/", os.sep)) or p.is_dir()):
        return p, None
    return p / name, f"{raw} is a folder: wrote {(p / name).as_posix()}"


def _peek(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as fh:
        return fh.read(size).decode("utf-8", errors="replace")


def _json_kind(path: Path) -> str | None:
    head = _peek(path).lstrip("\ufeff \t\r\n")
    if head.startswith("["):
        return "coco-results"
    if '"shapes"' in head or '"imagePath"' in head:
        return "labelme"
    if head.startswith("{"):
        if any(k in head for k in ('"images"', '"annotations"', '"categories"')):
            return "coco"
        try:  # the keys may come later in a big file
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return None
        if isinstance(doc, dict) and "shapes" in doc:
            return "labelme"
        if isinstance(doc, dict) and "images" in doc:
            return "coco"
    return None


def _xml_kind(path: Path) -> str | None:
    head = _peek(path, 2048)
    if "<annotations" in head:
        return "cvat"
    if "<annotation" in head:
        return "voc"
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of a dataset path: ``"coco"``, ``"yolo"``, ``"voc"``, ``"labelme"`` or ``"cvat"``.

    A ``.json`` file is COCO (or LabelMe when it has ``shapes``); a ``.xml`` file is CVAT
    (``<annotations>``) or VOC (``<annotation>``); a ``.yaml`` or Darknet ``.data`` file or a
    folder with ``data.yaml`` / ``obj.data`` / ``labels/`` is YOLO; a folder of VOC XML or LabelMe JSON files is that.

    Raises:
        InvalidInputError: the path does not exist or matches no format.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"dataset path {os.fspath(path)} does not exist")
    if p.is_file():
        suffix = p.suffix.lower()
        kind = None
        if suffix == ".json":
            kind = _json_kind(p)
            if kind == "coco-results":
                kind = "coco"
        elif suffix == ".xml":
            kind = _xml_kind(p)
        elif suffix in (".yaml", ".yml", ".data"):  # .data: Darknet obj.data
            kind = "yolo"
        if kind is None:
            raise InvalidInputError(f"cannot tell the annotation format of {os.fspath(path)}; pass format=")
        return kind
    from detectkit.formats.yolo import META_FILE, find_yaml

    if find_yaml(p) is not None or (p / META_FILE).is_file() or (p / "labels").is_dir() or any(p.glob("*.data")):
        return "yolo"
    split_dirs = [p / name for name in FOLDER_SPLITS if (p / name).is_dir()]
    for sub in (p / "Annotations", p, *split_dirs):  # split folders: e.g. Roboflow's VOC export
        if sub.is_dir():
            xmls = sorted(sub.glob("*.xml"))[:5]
            kinds = {_xml_kind(x) for x in xmls}
            if "voc" in kinds:
                return "voc"
            if "cvat" in kinds:
                return "cvat"
    jsons = sorted(p.glob("*.json"))[:5]
    kinds = {_json_kind(j) for j in jsons}
    if "labelme" in kinds:
        return "labelme"
    if "coco" in kinds and len(jsons) == 1:
        return "coco"
    from detectkit.formats.coco.read import split_jsons

    if (found := split_jsons(p)) and _json_kind(found[0][1]) == "coco":  # a Roboflow COCO export
        return "coco"
    for folder in (p, *split_dirs):  # label files (split folders: Roboflow's "YOLO Darknet" export)
        if (folder / "_darknet.labels").is_file() or any(not is_doc_file(t.name) for t in folder.glob("*.txt")):
            return "yolo"
    raise InvalidInputError(f"cannot tell the annotation format of folder {os.fspath(path)}; pass format=")


def _module(fmt: str) -> Any:
    check_choice(fmt, "format", FORMATS)
    return format_module(fmt)


def read(path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> Dataset:
    """Read a dataset in ``format`` (auto-detected when None); options go to that format's ``read``."""
    fmt = format or detect_format(path)
    ds: Dataset = _module(fmt).read(path, **options)
    return ds


def write(ds: Dataset, path: str | os.PathLike[str], *, format: str, **options: Any) -> ConvertSummary:
    """Write ``ds`` in ``format``; options go to that format's ``write``.

    For COCO and CVAT a folder ``path`` (trailing ``/`` or an existing folder) gets the file
    inside it (see :func:`file_target`). What the format cannot hold is counted in
    ``summary.lost``.
    """
    from detectkit.formats._held import unheld

    target, moved = file_target(path, format)
    summary: ConvertSummary = _module(format).write(ds, target, **options)
    summary.lost.update(unheld(ds, format))
    if moved:
        summary.notes.insert(0, moved)
    return summary


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str,
    from_: str | None = None,
    images: str | os.PathLike[str] | None = None,
    copy_images: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    map_shards: FileMapper | None = None,
    **options: Any,
) -> ConvertSummary:
    """Convert the dataset at ``src`` to format ``to`` at ``dst``; returns what was written/dropped.

    Args:
        src: source dataset (COCO JSON file, YOLO folder or ``data.yaml``, VOC folder, ...).
        dst: destination file (COCO, CVAT) or folder (YOLO, VOC, LabelMe).
        to: target format.
        from_: source format (auto-detected when None).
        images: folder holding the image files, when they are not beside the source.
        copy_images: for folder targets, copy image files instead of linking them.
        strict: fail on the first malformed record instead of skipping it with a warning.
        overwrite: replace an existing destination.
        progress: show progress bars on stderr for reading and writing that take longer
            than half a second.
        map_shards: for sources of many files (YOLO, VOC, LabelMe), parse them in shards
            elsewhere (``detectkit.batch.convert`` passes its process pool or Ray here).
        **options: passed to the target's ``write`` (e.g. ``task="segment"`` for YOLO).

    Raises:
        InvalidInputError: bad arguments, missing source, ``src`` and ``dst`` the same.
        AnnotationParseError: malformed source (always when ``strict``).
    """
    check_choice(to, "to", FORMATS)
    if from_ is not None:
        check_choice(from_, "from_", FORMATS)
    if Path(src).resolve() == Path(dst).resolve():
        raise InvalidInputError(f"dst must differ from src, got {os.fspath(dst)} for both")
    target, moved = file_target(dst, to)
    if to in ("coco", "cvat") and target.is_file() and not overwrite:
        raise InvalidInputError(f"dst {target.as_posix()} exists (pass overwrite=True to replace it)")
    fmt = from_ or detect_format(src)
    read_options: dict[str, Any] = {"strict": strict}
    if images is not None:
        read_options["images"] = images
    if map_shards is not None:
        read_options["map_shards"] = map_shards
    write_options = dict(options)
    if to in ("yolo", "voc", "labelme"):
        write_options.setdefault("overwrite", overwrite)
        write_options.setdefault("copy_images", copy_images)
    with progress_enabled(progress):
        ds = _module(fmt).read(src, **read_options)
        lost = carry_extra_fields(ds, to)
        summary = write(ds, target, format=to, **write_options)  # target: already a file for coco/cvat
    if moved:
        summary.notes.insert(0, moved)
    if lost:
        summary.notes.append(lost_fields_note(lost, to))
    summary.notes[:0] = [str(i) for i in ds.issues if i.severity == "error"][:20]
    if len([i for i in ds.issues if i.severity == "error"]) > 20:
        summary.notes.insert(20, "... more skipped records (run `detectkit validate`)")
    return summary
