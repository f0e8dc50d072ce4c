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
from detectkit.formats._common import ConvertSummary
from detectkit.registry import format_module

if TYPE_CHECKING:
    from detectkit.dataset import Dataset

__all__ = ["FORMATS", "convert", "detect_format", "read", "write"]

FORMATS: tuple[str, ...] = ("coco", "yolo", "voc", "labelme", "cvat")


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
    (``<annotations>``) or VOC (``<annotation>``); a ``.yaml`` file or a folder with
    ``data.yaml`` / ``labels/`` is YOLO; a folder of VOC XML or LabelMe JSON files is that.

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
        elif suffix in (".yaml", ".yml"):
            kind = "yolo"
        if kind is None:
            raise InvalidInputError(f"cannot tell the annotation format of {os.fspath(path)}; pass format=")
        return kind
    from detectkit.formats.yolo import META_FILE, find_yaml

    if find_yaml(p) is not None or (p / META_FILE).is_file() or (p / "labels").is_dir():
        return "yolo"
    for sub in (p / "Annotations", p):
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
    if any(p.glob("*.txt")) or (p / "classes.txt").is_file():
        return "yolo"
    raise InvalidInputError(f"cannot tell the annotation format of folder {os.fspath(path)}; pass format=")


def _module(fmt: str) -> Any:
    check_choice(fmt, "format", FORMATS)
    return format_module(fmt)


def read(path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> Dataset:
    """Read a dataset in ``format`` (auto-detected when None); options go to that format's ``read``."""
    fmt = format or detect_format(path)
    return _module(fmt).read(path, **options)  # type: ignore[no-any-return]


def write(ds: Dataset, path: str | os.PathLike[str], *, format: str, **options: Any) -> ConvertSummary:
    """Write ``ds`` in ``format``; options go to that format's ``write``."""
    summary: ConvertSummary = _module(format).write(ds, path, **options)
    from detectkit.formats._held import unheld

    summary.lost.update(unheld(ds, format))
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
    if to in ("coco", "cvat") and Path(dst).is_file() and not overwrite:
        raise InvalidInputError(f"dst {os.fspath(dst)} exists (pass overwrite=True to replace it)")
    fmt = from_ or detect_format(src)
    read_options: dict[str, Any] = {"strict": strict}
    if images is not None:
        read_options["images"] = images
    write_options = dict(options)
    if to in ("yolo", "voc", "labelme"):
        write_options.setdefault("overwrite", overwrite)
        write_options.setdefault("copy_images", copy_images)
    with progress_enabled(progress):
        ds = _module(fmt).read(src, **read_options)
        summary = write(ds, dst, format=to, **write_options)
    summary.notes[:0] = [str(i) for i in ds.issues if i.severity == "error"][:20]
    if len([i for i in ds.issues if i.severity == "error"]) > 20:
        summary.notes.insert(20, "... more skipped records (run `detectkit validate`)")
    return summary
