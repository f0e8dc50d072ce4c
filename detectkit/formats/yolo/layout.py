"""YOLO dataset layout: ``data.yaml``, ``images/`` and ``labels/`` folders, the ``detectkit.json``
side file, and multi-part polygons joined into one YOLO polygon."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from detectkit.errors import AnnotationParseError

__all__ = [
    "META_FILE",
    "SPLITS",
    "YOLOTask",
    "find_darknet",
    "find_yaml",
    "join_parts",
    "label_path",
    "load_darknet",
    "load_yaml",
    "looks_like_image_list",
    "names_from",
    "read_names_file",
    "resolve_darknet",
    "split_parts",
    "walk_rel",
]

META_FILE = "detectkit.json"
YOLOTask = Literal["detect", "segment", "obb"]
SPLITS = ("train", "val", "test")


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


def load_yaml(path: Path) -> dict[str, Any]:
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


def names_from(doc: Mapping[str, Any], path: Path) -> dict[int, str]:
    names = doc.get("names")
    if isinstance(names, list):
        return {i: str(v) for i, v in enumerate(names)}
    if isinstance(names, dict):
        try:
            out = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise AnnotationParseError(path, "names keys must be integer class indices", record="names") from None
        if any(not 0 <= k < 1 << 31 for k in out):  # a 26-digit key overflowed int64 later (tests/fuzz)
            raise AnnotationParseError(path, "names keys must be class indices in [0, 2**31)", record="names")
        return out
    if "nc" in doc:
        nc = doc["nc"]
        if isinstance(nc, bool) or not isinstance(nc, (int, str)) or not str(nc).isdigit() or int(nc) > 1 << 16:
            raise AnnotationParseError(path, f"nc must be a class count in [0, 65536], got {nc!r}", record="nc")
        return {i: f"class{i}" for i in range(int(nc))}  # unchecked, nc: 1e10 filled the memory (tests/fuzz)
    raise AnnotationParseError(path, "data.yaml has no 'names'", record="names")


def find_yaml(root: Path) -> Path | None:
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if (root / name).is_file():
            return root / name
    found = sorted(p for p in root.glob("*.y*ml") if p.is_file())
    return found[0] if len(found) == 1 else None


def find_darknet(root: Path) -> Path | None:
    """The Darknet ``obj.data`` (any single ``*.data`` file) of a folder, else None."""
    if (root / "obj.data").is_file():
        return root / "obj.data"
    found = sorted(p for p in root.glob("*.data") if p.is_file())
    return found[0] if len(found) == 1 else None


def resolve_darknet(value: str, data_file: Path) -> Path:
    """A path written in a Darknet ``.data`` file or image list, resolved as Darknet users mean it.

    Darknet resolves paths against the folder it runs from (usually the parent of ``data/``),
    so ``data/obj.names`` in ``data/obj.data`` is tried beside the file, one folder up, then by
    its bare name beside the file.

    >>> resolve_darknet("data/obj.names", Path("/nowhere/data/obj.data")).as_posix()
    '/nowhere/data/data/obj.names'
    """
    v = Path(value.strip())
    if v.is_absolute():
        return v
    for cand in (data_file.parent / v, data_file.parent.parent / v, data_file.parent / v.name):
        if cand.exists():
            return cand
    return data_file.parent / v


def read_names_file(path: Path) -> dict[int, str]:
    """Class names of a ``classes.txt`` / Darknet ``obj.names`` file, one a line, blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationParseError(path, f"unreadable class names file: {exc}") from None
    return dict(enumerate(ln.strip() for ln in text.splitlines() if ln.strip()))


def load_darknet(path: Path) -> dict[str, Any]:
    """A Darknet ``obj.data`` (``classes = N``, ``train = data/train.txt``, ``valid = ...``,
    ``names = data/obj.names``) as a ``data.yaml``-like dict with resolved absolute paths."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationParseError(path, f"unreadable Darknet data file: {exc}") from None
    raw: dict[str, str] = {}
    for ln, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise AnnotationParseError(path, f"expected 'key = value', got {line[:60]!r}", line=ln)
        raw[key.strip().lower()] = value.strip()
    doc: dict[str, Any] = {}
    if "names" in raw:
        npath = resolve_darknet(raw["names"], path)
        if not npath.is_file():
            raise AnnotationParseError(
                path, f"names file {raw['names']!r} not found (looked at {npath})", record="names"
            )
        doc["names"] = list(read_names_file(npath).values())
    elif "classes" in raw:
        doc["nc"] = raw["classes"]
    for key, split in (("train", "train"), ("valid", "val"), ("val", "val"), ("test", "test")):
        if key in raw and split not in doc:
            doc[split] = os.fspath(resolve_darknet(raw[key], path))
    return doc


def looks_like_image_list(path: Path) -> bool:
    """True when a ``.txt`` file's first line names an image (a Darknet/Ultralytics list, not labels)."""
    from detectkit.image import IMAGE_EXTENSIONS

    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return os.path.splitext(line.strip())[1].lower() in IMAGE_EXTENSIONS
    except (OSError, UnicodeDecodeError):
        return False
    return False


def label_path(image: Path) -> Path:
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    else:
        return image.with_suffix(".txt")
    return Path(*parts).with_suffix(".txt")


def walk_rel(folder: Path, suffixes: tuple[str, ...], *, follow: bool) -> list[str]:
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
