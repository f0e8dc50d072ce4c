"""Helpers shared by the format modules: atomic output, safe file names, summaries, issues."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ParamSpec, TypeVar

from detectkit._atomic import atomic_file
from detectkit.dataset import Category, Dataset, ImageRecord, Issue
from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.table import ObjectTable, Provenance

__all__ = [
    "FOLDER_SPLITS",
    "ConvertSummary",
    "ImagePlacer",
    "IssueLog",
    "atomic_dir",
    "atomic_file",
    "folder_split",
    "image_size_of",
    "is_doc_file",
    "parse_json",
    "pauses_gc",
    "place_file",
    "plain_relpaths",
    "safe_relpath",
    "warn_skipped",
]

_PLAIN_NAME = re.compile(r"[^/\\:\x00.][^\\:\x00]*")
_PLAIN_NAME_PARTS = re.compile(r"(^|/)\.{1,2}(/|$)|//|/$")
# The same two tests over many names at once, joined by NUL (which no plain name contains). No
# name starts with "." or "/" once _PLAIN_NAMES matched, so the parts test only looks after a
# "/"; its last alternative finds whitespace-only names (``safe_relpath`` checks ``strip()``)
# but the first one, which ``plain_relpaths`` checks itself.
_PLAIN_NAMES = re.compile(r"[^/\\:\x00.][^\\:\x00]*(?:\x00[^/\\:\x00.][^\\:\x00]*)*")
_PLAIN_NAMES_PARTS = re.compile(r"/\.\.?(?:[/\x00]|$)|/(?:[/\x00]|$)|\x00\s+(?:\x00|$)")


class ConvertSummary:
    """What a write did and what the target format could not hold.

    Attributes:
        path: the written file or folder.
        format: the target format.
        images: images written.
        objects: objects written.
        dropped: objects the target cannot hold, by reason -> count (e.g. ``"crowd"``).
        dropped_where: reason -> a few ``"file_name (annotation id N)"`` locators.
        notes: other remarks (converted polygons, ...).
        lost: values the target cannot hold, by column (or ``"image <key>"``) -> count of
            objects (images) written without them (e.g. ``{"pose": 3}``).
        images_linked: image files linked or copied into the output.
    """

    def __init__(self, path: Path, format: str, images: int = 0, objects: int = 0) -> None:
        self.path = path
        self.format = format
        self.images = images
        self.objects = objects
        self.dropped: dict[str, int] = {}
        self.dropped_where: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.images_linked = 0
        self.lost: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ConvertSummary({self.to_dict()!r})"

    def drop(self, reason: str, where: str) -> None:
        """Count one object the target format cannot hold."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        places = self.dropped_where.setdefault(reason, [])
        if len(places) < 20:
            places.append(where)

    def __str__(self) -> str:
        lines = [f"wrote {self.images} images, {self.objects} objects as {self.format} to {self.path}"]
        if self.images_linked:
            lines.append(f"  {self.images_linked} image files placed in the output")
        for reason, n in self.dropped.items():
            where = ", ".join(self.dropped_where.get(reason, [])[:5])
            more = " ..." if n > 5 else ""
            lines.append(f"  not representable in {self.format}: {n} {reason} object(s) (e.g. {where}{more})")
        for what, n in self.lost.items():
            kind = "image(s)" if what.startswith("image ") else "object(s)"
            lines.append(f"  not representable in {self.format}: {what!r} of {n} {kind} (objects written without it)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "path": str(self.path),
            "format": self.format,
            "images": self.images,
            "objects": self.objects,
            "dropped": dict(self.dropped),
            "dropped_where": {k: list(v) for k, v in self.dropped_where.items()},
            "notes": list(self.notes),
            "images_linked": self.images_linked,
            "lost": dict(self.lost),
        }


FOLDER_SPLITS = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}


def is_doc_file(name: str) -> bool:
    """A README or LICENSE text file (Roboflow puts ``README.roboflow.txt`` beside its splits):
    never a label file, and no sign of a YOLO dataset.

    >>> is_doc_file("README.roboflow.txt"), is_doc_file("license.txt"), is_doc_file("img_1.txt")
    (True, True, False)
    """
    return name.upper().startswith(("README", "LICENSE"))


def folder_split(stem: str) -> str | None:
    """The split a file's first folder names, for layouts without ImageSets (Roboflow's VOC
    export: ``train/``, ``valid/``, ``test/``); None otherwise.

    >>> folder_split("valid/img_001"), folder_split("img_001"), folder_split("cats/img_001")
    ('val', None, None)
    """
    head, sep, _ = stem.partition("/")
    return FOLDER_SPLITS.get(head) if sep else None


class IssueLog:
    """Collects reader problems: raises :class:`AnnotationParseError` at once when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.issues: list[Issue] = []

    def bad(
        self, path: str | os.PathLike[str], message: str, *, line: int | None = None, record: str | None = None
    ) -> None:
        """A malformed record: raise when strict, else remember it (the object is skipped)."""
        if self.strict:
            raise AnnotationParseError(os.fspath(path), message, line=line, record=record)
        self.issues.append(Issue("error", os.fspath(path), message, line=line, record=record))

    def warn(
        self, path: str | os.PathLike[str], message: str, *, line: int | None = None, record: str | None = None
    ) -> None:
        """Something suspicious that does not stop reading."""
        self.issues.append(Issue("warning", os.fspath(path), message, line=line, record=record))

    def record(self, issue: Issue) -> None:
        """An issue found elsewhere (a per-file parse): kept, or raised when strict and an error."""
        if issue.severity == "error":
            self.bad(issue.path, issue.message, line=issue.line, record=issue.record)
        else:
            self.issues.append(issue)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def pauses_gc(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` with Python's cyclic garbage collector paused.

    Reading or writing a dataset creates hundreds of thousands of small containers and no
    reference cycles, so the collector's passes over them are pure cost (about 6% of a COCO ->
    YOLO conversion, counted in instructions). Everything is still freed by reference
    counting; the collector resumes afterwards if it was running.
    """

    @functools.wraps(func)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return paused


def parse_json(data: bytes) -> Any:
    """A JSON document from bytes: msgspec (about 1.4x faster than ``json``), ``json`` for what it refuses.

    ``json`` also takes NaN / Infinity literals, numbers beyond the float range and a UTF-8
    BOM; for really invalid input its ``JSONDecodeError`` names the line and column.

    >>> parse_json(b'{"a": [1, 2.5]}'), parse_json(b"[NaN]")
    ({'a': [1, 2.5]}, [nan])
    """
    import msgspec

    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def safe_relpath(name: str, *, argument: str = "file_name") -> str:
    """Normalise a file name from an annotation file to a safe relative ``/`` path, or raise.

    Absolute paths, drive letters and ``..`` components are rejected so nothing is ever
    written outside the output folder.

    >>> safe_relpath("train\\\\img 1.jpg")
    'train/img 1.jpg'
    >>> safe_relpath("../etc/passwd")
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: file_name must stay inside the dataset folder, got '../etc/passwd'
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{argument} must be a non-empty relative path, got {name!r}")
    if _PLAIN_NAME.fullmatch(name) and not _PLAIN_NAME_PARTS.search(name):  # fast path: a plain relative name
        return name
    text = name.replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute() or ".." in pure.parts or (len(text) > 1 and text[1] == ":") or "\x00" in text:
        raise InvalidInputError(f"{argument} must stay inside the dataset folder, got {name!r}")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise InvalidInputError(f"{argument} must be a non-empty relative path, got {name!r}")
    return "/".join(parts)


def plain_relpaths(names: list[Any]) -> bool:
    """True when ``safe_relpath(name) == name`` for every name, checked in one regex pass
    (about 20x faster than a call per name).

    ``False`` (also for a few unusual names ``safe_relpath`` would keep, e.g. ``.hidden``)
    sends the caller to ``safe_relpath`` name by name, which normalises what it can and
    names what it rejects.

    >>> plain_relpaths(["a.jpg", "train/b c.png"]), plain_relpaths(["a.jpg", "../b.jpg"])
    (True, False)
    >>> plain_relpaths(["x\\\\y.jpg"])  # valid, but safe_relpath rewrites it to 'x/y.jpg'
    False
    """
    if not names:
        return True
    if set(map(type, names)) != {str}:
        return False
    joined = "\x00".join(names)
    if joined.count("\x00") != len(names) - 1 or not names[0].strip():
        return False
    return _PLAIN_NAMES.fullmatch(joined) is not None and _PLAIN_NAMES_PARTS.search(joined) is None


def image_size_of(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` from the image header only (no decode)."""
    from detectkit.image import image_size_wh

    return image_size_wh(path)


def _temp_sibling(target: Path) -> Path:
    return target.parent / f".{target.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it becomes ``target``.

    An existing non-empty ``target`` is an error unless ``overwrite`` (then it is replaced
    only after the new folder is complete). On an exception the temp folder is removed and
    ``target`` is untouched.
    """
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"output {os.fspath(target)} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InvalidInputError(f"output folder {os.fspath(target)} exists and is not empty (use overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = _temp_sibling(path)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class ImagePlacer:
    """Places the image files of a dataset's records into an output folder: symlinks (absolute
    targets) or, with ``copy``, file copies, falling back to a copy where symlinks are not allowed.

    A record's file is ``record.path``, else ``image_root / file_name``; records whose file does
    not exist are skipped. Plain strings and one ``makedirs`` per folder keep this cheap on
    datasets of many thousands of images (pathlib cost 0.3 s per 5k images).
    """

    def __init__(self, image_root: Path | None, *, copy: bool) -> None:
        self.image_root = image_root
        self.copy = copy
        self.placed = 0
        self._made: set[str] = set()

    def place(self, record: ImageRecord, dst: str) -> None:
        """Put ``record``'s image file at ``dst`` (nothing when it has none); counted in ``placed``."""
        src = record.path
        if src is None and self.image_root is not None:
            src = self.image_root / record.file_name
        exists = src is not None and os.path.isfile(src)
        embedded = None if exists else record.extra.get("imageData")
        if not exists and not embedded:
            return
        folder = dst.rpartition("/")[0]
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        if embedded:  # an image only embedded in the annotation (LabelMe imageData): written out decoded
            import base64

            with open(dst, "wb") as fh:
                fh.write(base64.b64decode(embedded))
        elif src is not None:
            place_file(os.fspath(src), dst, copy=self.copy)
        self.placed += 1


def place_file(src: str, dst: str, *, copy: bool) -> None:
    """A symlink to ``src`` at ``dst`` (absolute target), or a copy with ``copy`` or where symlinks fail."""
    if not copy:
        try:
            os.symlink(os.path.abspath(src), dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def find_image(root: Path, stem_path: str) -> Path | None:
    """The image file ``root/stem_path.<ext>`` for any image extension, if it exists."""
    from detectkit.image import IMAGE_EXTENSIONS

    for suffix in IMAGE_EXTENSIONS:
        for cand in (root / (stem_path + suffix), root / (stem_path + suffix.upper())):
            if cand.is_file():
                return cand
    return None


# integer data columns and their fill for an object without the value (TableBuilder and the per-file assembler)
INT_COLUMNS = frozenset({"difficult", "truncated", "occluded", "iscrowd", "group_id", "tracker_id"})
INT_FILL = {"tracker_id": -1}


class TableBuilder:
    """Accumulates objects row by row (readers of per-object formats) into a column table."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}
        self.image_index: list[int] = []
        self.class_id: list[int] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.origins: list[tuple[str, str, int] | None] = []

    def __len__(self) -> int:
        return len(self.class_id)

    def add(
        self,
        image_index: int,
        class_id: int,
        xyxy: tuple[float, float, float, float],
        *,
        origin: tuple[str, str, int] | None = None,
        **columns: Any,
    ) -> None:
        """One object; ``columns`` become per-object data (missing ones are filled).

        ``origin`` = ``(file, record list, index)``: the object is ``list[index]`` of ``file``.
        """
        n = len(self.class_id)
        for key, value in columns.items():
            col = self.columns.get(key)
            if col is None:
                col = self.columns[key] = [None] * n
            col.append(value)
        for col in self.columns.values():
            if len(col) == n:
                col.append(None)
        self.image_index.append(image_index)
        self.class_id.append(class_id)
        self.boxes.append(xyxy)
        self.origins.append(origin)

    def build(self) -> ObjectTable:
        """The :class:`detectkit.table.ObjectTable`."""
        import numpy as np

        data: dict[str, Any] = {}
        for key, col in self.columns.items():
            if key in INT_COLUMNS:
                fill = INT_FILL.get(key, 0)
                data[key] = np.array([fill if v is None else int(v) for v in col], dtype=np.int64)
            else:
                arr = np.empty(len(col), dtype=object)
                arr[:] = col
                data[key] = arr
        provenance = None
        if any(o is not None for o in self.origins):
            n = len(self.origins)
            provenance = Provenance.none(n)
            for i, o in enumerate(self.origins):
                if o is not None:
                    provenance.file[i], provenance.record_list[i], provenance.record[i] = o
        return ObjectTable(
            np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(self.class_id, dtype=np.int64),
            np.asarray(self.image_index, dtype=np.int64),
            None,
            data,
            provenance=provenance,
        )


NamedObject = tuple[int, str, tuple[float, float, float, float], dict[str, Any]]
"""One object of a name-labelled format: (image position, class name, xyxy box, data columns)."""


def dataset_from_named_objects(
    objects: list[NamedObject],
    records: list[ImageRecord],
    log: IssueLog,
    *,
    path: str | os.PathLike[str],
    source_format: str,
    names: list[str] | None = None,
) -> Dataset:
    """Finish a reader whose objects carry class *names* (VOC, LabelMe, CVAT) into a ``Dataset``.

    Category ids are 0-based: the declared ``names`` in their order first, then any further
    names the objects use, sorted. The skipped records are summarised in one warning.
    """
    declared = list(names or [])
    ordered = declared + sorted({o[1] for o in objects} - set(declared))
    ids = {n: i for i, n in enumerate(ordered)}
    builder = TableBuilder()
    for pos, name, box, cols in objects:
        builder.add(pos, ids[name], box, **cols)
    warn_skipped([i for i in log.issues if i.severity == "error"], os.fspath(path))
    return Dataset.from_table(
        [Category(i, n) for i, n in enumerate(ordered)],
        records,
        builder.build(),
        issues=log.issues,
        source_format=source_format,
    )


def number_text(value: float) -> str:
    """A coordinate as text: an integer when it is one, else the shortest exact float.

    >>> number_text(12.0), number_text(12.25)
    ('12', '12.25')
    """
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(round(v, 6))


def locate(ds: Any, row: int) -> str:
    """``"file_name (annotation id N)"`` for summaries."""
    t = ds.table
    where = str(ds.images[int(t.image_index[row])].file_name)
    ids = t.data.get("annotation_id")
    if ids is not None and ids[row] >= 0:
        where += f" (annotation id {int(ids[row])})"
    return where


def split_polygons(seg: Any) -> list[list[float]] | None:
    """The polygon parts of a COCO segmentation (``None`` for RLE / absent / empty)."""
    if isinstance(seg, list) and seg and all(isinstance(p, list) and len(p) >= 6 for p in seg):
        return [[float(v) for v in p] for p in seg]
    return None


def warn_skipped(issues: list[Issue], source: str) -> None:
    """One warning summarising the problems a reader skipped over (none when ``issues`` is empty)."""
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        warnings.warn(f"{source}: skipped {len(issues)} bad record(s): {first}{more}", stacklevel=3)
