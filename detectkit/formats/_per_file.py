"""Readers of one-file-per-image formats (VOC, LabelMe) as a per-file parser plus an assembler.

A reader lists its files, turns each into a :class:`FileObjects` (the image record and the
objects of that one file, with that file's issues; plain picklable values and numpy
columns), and hands them *in file order* to an :class:`Assembler`, which numbers images and
classes, applies ``strict`` and builds the :class:`~detectkit.dataset.Dataset`. The plain
in-process read is exactly that loop; ``detectkit.batch`` runs the same parser over shards of
the file list in other processes (a :class:`FileMapper`) and feeds the results to the same
assembler, so both give the same dataset.

>>> import numpy as np
>>> log = IssueLog(strict=False)
>>> a = Assembler(log)
>>> f = FileObjects("a.xml", "object", ("a.jpg", 8, 6, None, None), ["dog"], np.array([[1.0, 1, 4, 4]]),
...                 np.array([0]), {"difficult": np.array([1])}, [])
>>> a.add(f)
0
>>> ds = a.finish(path="voc", source_format="voc")
>>> ds.names, ds.detections(1).data["difficult"].tolist()
({0: 'dog'}, [1])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from detectkit.dataset import Category, Dataset, ImageRecord, Issue
from detectkit.errors import AnnotationParseError
from detectkit.formats._common import INT_COLUMNS, INT_FILL, IssueLog, warn_skipped
from detectkit.table import ObjectTable, Provenance

__all__ = [
    "Assembler",
    "FileMapper",
    "FileObjects",
    "ImageFinder",
    "class_order",
    "parsed_in_order",
    "relative_stem",
    "sorted_paths",
]

_T = TypeVar("_T")
_R = TypeVar("_R")


class FileMapper(Protocol):
    """Runs a reader's per-file parser over shards of its file list (``detectkit.batch`` makes these).

    ``shard_size(files)`` says how many files a shard holds, or None to parse in this process
    (e.g. too few files to pay for starting workers); ``map(func, tasks)`` runs ``func`` on
    every task and yields the results **in task order**.
    """

    def shard_size(self, files: int) -> int | None:
        """Files per shard for a read of ``files`` files; None: parse them here."""
        ...

    def map(self, func: Callable[[_T], _R], tasks: Sequence[_T]) -> Iterator[_R]:
        """``func(task)`` for every task, in task order."""
        ...


class FileObjects:
    """What one annotation file holds: its image record, its objects as columns, its issues.

    Args:
        file: the annotation file (path text; objects' provenance).
        record_list: the name of the file's object list (``"object"``, ``"shapes"``).
        record: ``(file_name, width, height, image path or None, extra or None)``, or None when
            the file gives no image (skipped; its issues say why).
        names: class name of each object.
        boxes: float64 (k, 4) xyxy.
        index: int64 (k,) each object's index in the file's object list.
        columns: per-object data columns, in order of first use (int columns filled with 0
            where an object lacks the value, object columns with None).
        issues: the file's problems, in order (an error = a record skipped).
        fatal: the file could not be parsed at all (e.g. invalid XML): the assembler skips it as an
            error (raised when the log is strict, or when the file was given alone).
        key: the reader's own key of the file (VOC: its stem, for the ImageSets split).
    """

    __slots__ = ("boxes", "columns", "fatal", "file", "index", "issues", "key", "names", "record", "record_list")

    def __init__(
        self,
        file: str,
        record_list: str,
        record: tuple[str, int, int, str | None, dict[str, Any] | None] | None,
        names: list[str],
        boxes: np.ndarray,
        index: np.ndarray,
        columns: dict[str, np.ndarray],
        issues: list[Issue],
        *,
        fatal: AnnotationParseError | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.record_list = record_list
        self.record = record
        self.names = names
        self.boxes = boxes
        self.index = index
        self.columns = columns
        self.issues = issues
        self.fatal = fatal
        self.key = key

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, v)

    @staticmethod
    def failed(file: str, record_list: str, issues: list[Issue], *, key: str | None = None) -> FileObjects:
        """A file that gives no image (its issues say why)."""
        return FileObjects(file, record_list, None, [], _NO_BOXES, _NO_INDEX, {}, issues, key=key)

    @staticmethod
    def of_objects(
        file: str,
        record_list: str,
        record: tuple[str, int, int, str | None, dict[str, Any] | None],
        objects: list[tuple[str, tuple[float, float, float, float], int, dict[str, Any]]],
        issues: list[Issue],
        *,
        key: str | None = None,
    ) -> FileObjects:
        """From ``(name, box, index in the file, data values)`` per object (columns in order of first use)."""
        n = len(objects)
        if not n:
            return FileObjects(file, record_list, record, [], _NO_BOXES, _NO_INDEX, {}, issues, key=key)
        keys: dict[str, None] = {}
        for o in objects:
            keys.update(dict.fromkeys(o[3]))
        columns: dict[str, np.ndarray] = {}
        for k in keys:
            values = [o[3].get(k) for o in objects]
            if k in INT_COLUMNS:
                fill = INT_FILL.get(k, 0)
                columns[k] = np.array([fill if v is None else int(v) for v in values], dtype=np.int64)
            else:
                col = np.empty(n, dtype=object)
                col[:] = values
                columns[k] = col
        return FileObjects(
            file,
            record_list,
            record,
            [o[0] for o in objects],
            np.array([o[1] for o in objects], dtype=np.float64).reshape(n, 4),
            np.array([o[2] for o in objects], dtype=np.int64),
            columns,
            issues,
            key=key,
        )


_NO_BOXES = np.zeros((0, 4), np.float64)
_NO_INDEX = np.zeros(0, np.int64)


def class_order(declared: Sequence[str] | None, used: Iterable[str]) -> list[str]:
    """Class names in id order: the ``declared`` names in their order, then the other names used, sorted.

    >>> class_order(["cat"], ["dog", "cat", "ant"])
    ['cat', 'ant', 'dog']
    """
    first = list(declared or [])
    return first + sorted(set(used) - set(first))


class Assembler:
    """Builds a dataset from per-file results given in file order (the one rule for both reads).

    ``add`` records the file's issues (raising :class:`AnnotationParseError` at the first error
    when the log is strict), numbers the image, and keeps its columns; a file that cannot be
    parsed at all is one more error (skipped and reported, like a bad record), except that
    ``unreadable_stops`` (a read of one file) raises it. ``finish`` numbers the classes
    (:func:`class_order`) and builds the table.
    """

    def __init__(self, log: IssueLog, *, unreadable_stops: bool = False) -> None:
        self.log = log
        self.unreadable_stops = unreadable_stops
        self.records: list[ImageRecord] = []
        self._parts: list[FileObjects] = []
        self._positions: list[int] = []

    def add(self, result: FileObjects, *, split: str | None = None) -> int | None:
        """Take one file's result; returns its image position, or None when it gave no image."""
        if result.fatal is not None:
            err = result.fatal
            if self.unreadable_stops:
                raise err
            self.log.bad(err.path, err.message, line=err.line, record=err.record)
            return None
        for issue in result.issues:
            self.log.record(issue)
        if result.record is None:
            return None
        fname, w, h, img, extra = result.record
        pos = len(self.records)
        path = Path(img) if img is not None else None
        if extra:
            self.records.append(ImageRecord(pos + 1, fname, w, h, path=path, split=split, extra=extra))
        else:
            self.records.append(ImageRecord(pos + 1, fname, w, h, path=path, split=split))
        if len(result.names):
            self._parts.append(result)
            self._positions.append(pos)
        return pos

    def finish(
        self, *, path: str | os.PathLike[str], source_format: str, names: Sequence[str] | None = None
    ) -> Dataset:
        """The dataset: classes numbered by :func:`class_order`, skipped records summed up in one warning."""
        parts = self._parts
        used: set[str] = set()
        for p in parts:
            used.update(p.names)
        ordered = class_order(names, used)
        ids = {n: i for i, n in enumerate(ordered)}
        counts = [len(p.names) for p in parts]
        m = sum(counts)
        if m:
            xyxy = np.concatenate([p.boxes for p in parts])
            class_id = np.fromiter((ids[n] for p in parts for n in p.names), np.int64, m)
            image_index = np.repeat(np.asarray(self._positions, dtype=np.int64), counts)
            files = np.empty(len(parts), dtype=object)
            files[:] = [p.file for p in parts]
            lists = np.empty(len(parts), dtype=object)
            lists[:] = [p.record_list for p in parts]
            provenance = Provenance(
                np.repeat(files, counts),
                np.zeros(m, np.int64),
                np.concatenate([p.index for p in parts]),
                np.repeat(lists, counts),
            )
            table = ObjectTable(xyxy, class_id, image_index, None, _columns(parts, counts), provenance=provenance)
        else:
            table = ObjectTable(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.int64))
        warn_skipped([i for i in self.log.issues if i.severity == "error"], os.fspath(path))
        return Dataset.from_table(
            [Category(i, n) for i, n in enumerate(ordered)],
            self.records,
            table,
            issues=self.log.issues,
            source_format=source_format,
        )


def nothing_read(kind: str, files: int, issues: Sequence[Issue], where: str | os.PathLike[str]) -> AnnotationParseError:
    """The error for a read in which none of ``files`` files gave an image: it names the first
    error's file and line (or ``where``) and says how many files were tried.

    >>> str(nothing_read("VOC", 2, [Issue("error", "a.xml", "invalid XML", line=4)], "ann"))
    'a.xml:4: invalid XML (none of the 2 VOC annotation files could be read; fix them or pass --images)'
    """
    first = next((i for i in issues if i.severity == "error"), None)
    tail = f"none of the {files} {kind} annotation files could be read; fix them or pass --images"
    if first is None:
        return AnnotationParseError(os.fspath(where), tail)
    return AnnotationParseError(first.path, f"{first.message} ({tail})", line=first.line, record=first.record)


def _columns(parts: list[FileObjects], counts: list[int]) -> dict[str, np.ndarray]:
    """The files' data columns joined, in order of first use; a file without a column gets its fill."""
    keys: dict[str, None] = {}
    for p in parts:
        keys.update(dict.fromkeys(p.columns))
    out: dict[str, np.ndarray] = {}
    for k in keys:
        if all(k in p.columns for p in parts):
            out[k] = np.concatenate([p.columns[k] for p in parts])
            continue
        pieces = []
        for p, n in zip(parts, counts):
            col = p.columns.get(k)
            if col is None:  # what TableBuilder fills in: 0 (tracker_id -1) or None
                col = np.full(n, INT_FILL.get(k, 0), np.int64) if k in INT_COLUMNS else np.empty(n, dtype=object)
            pieces.append(col)
        out[k] = np.concatenate(pieces)
    return out


def parsed_in_order(
    iter_parsed: Callable[[Any, list[str]], Iterator[FileObjects]],
    parse_shard: Callable[[tuple[Any, list[str]]], list[FileObjects]],
    context: Any,
    files: list[str],
    mapper: FileMapper | None,
) -> Iterator[FileObjects]:
    """Each file's result in file order: parsed here, or in shards by ``mapper`` when it takes them.

    ``iter_parsed(context, files)`` yields the files' results one by one;
    ``parse_shard((context, files))`` must be ``list(iter_parsed(context, files))`` (a
    module-level function, so other processes can run it).
    """
    size = mapper.shard_size(len(files)) if mapper is not None and files else None
    if mapper is None or size is None:
        yield from iter_parsed(context, files)
        return
    tasks = [(context, files[i : i + size]) for i in range(0, len(files), size)]
    for shard in mapper.map(parse_shard, tasks):
        yield from shard


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
    """``sorted(paths)``, in pathlib's order: on POSIX pathlib compares the parts as they are, so
    sorting by ``parts`` gives the same order without a Python-level comparison per pair.

    >>> [p.as_posix() for p in sorted_paths([Path("a-b.xml"), Path("a/b.xml")])]
    ['a/b.xml', 'a-b.xml']
    """
    if os.name == "posix":
        return sorted(paths, key=lambda p: p.parts)
    return sorted(paths)


def relative_stem(file: str, folder: str) -> str:
    """``Path(file).relative_to(folder).with_suffix("").as_posix()``, with string operations when
    ``file`` lies under ``folder`` as written (what a folder walk gives).

    >>> relative_stem("/d/Annotations/sub/a.b.xml", "/d/Annotations"), relative_stem("x/a.", "x")
    ('sub/a.b', 'a.')
    """
    prefix = folder if folder.endswith("/") else folder + "/"
    if os.sep != "/" or not file.startswith(prefix) or folder in ("", "."):
        return Path(file).relative_to(folder).with_suffix("").as_posix()
    rel = file[len(prefix) :]
    if not rel or "//" in rel or rel.startswith("./") or "/./" in rel or rel.endswith(("/", "/.")):
        return Path(file).relative_to(folder).with_suffix("").as_posix()
    name_at = rel.rfind("/") + 1
    dot = rel.rfind(".", name_at)
    if name_at < dot < len(rel) - 1:  # pathlib's suffix: a dot inside the name, not first or last
        return rel[:dot]
    return rel


class ImageFinder:
    """``Path.is_file`` and :func:`~detectkit.formats._common.find_image` with fewer system calls.

    Looking an image up by stem tries 28 names (14 extensions, two cases), one ``stat``
    each, when the image is absent (labels converted without their images): most of a VOC
    read (``benchmarks/bench_convert_sharded.py --profile``). After a few misses in a folder
    the folder is listed once, and a name whose lower-case form no entry has is known to be
    absent without a ``stat`` (on case-insensitive file systems too); any other name is still
    checked with ``Path.is_file``, so this only skips checks whose answer is certain.
    """

    def __init__(self, *, list_after: int = 4) -> None:
        self.list_after = list_after
        self._lower: dict[str, frozenset[str] | None] = {}
        self._stems: dict[str, frozenset[str]] = {}  # lower-case entry names without their extension
        self._misses: dict[str, int] = {}

    def _absent(self, folder: str, name: str) -> bool:
        lower = self._lower.get(folder)
        return lower is not None and name.isascii() and name.lower() not in lower

    def _missed(self, folder: str) -> None:
        if folder in self._lower:
            return
        misses = self._misses.get(folder, 0) + 1
        self._misses[folder] = misses
        if misses >= self.list_after:
            try:
                lower = self._lower[folder] = frozenset(n.lower() for n in os.listdir(folder or "."))
            except OSError:
                self._lower[folder] = None
            else:
                self._stems[folder] = frozenset(n.rpartition(".")[0] for n in lower)

    def is_file(self, path: str) -> bool:
        """``Path(path).is_file()``."""
        folder, _, name = path.rpartition("/")
        if self._absent(folder, name):
            return False
        if Path(path).is_file():
            return True
        self._missed(folder)
        return False

    def find(self, root: Path, stem_path: str) -> Path | None:
        """The image file ``root/stem_path.<ext>`` for any image extension, as ``find_image`` finds it."""
        from detectkit.image import IMAGE_EXTENSIONS

        folder, _, stem = f"{os.fspath(root)}/{stem_path}".rpartition("/")
        stems = self._stems.get(folder)
        if stems is not None and stem.isascii() and stem.lower() not in stems:
            return None  # no entry is named like the stem with any extension
        missed = False
        for suffix in IMAGE_EXTENSIONS:
            for cand in (stem_path + suffix, stem_path + suffix.upper()):
                if self._absent(folder, stem + suffix):
                    continue
                path = root / cand
                if path.is_file():
                    return path
                missed = True
        if missed:
            self._missed(folder)
        return None
