"""Resolve batch-job sources (folders, list files, globs, URIs) into one sorted item list.

A batch job works on a flat, sorted, de-duplicated list of image locations. Each SOURCE is

* a folder: its image files (sorted; sub-folders with ``recursive=True``),
* a list file (``.txt``, ``.lst`` or ``.list``): one path or URI per line; blank lines and
  lines starting with ``#`` are skipped; relative paths are relative to the list file's folder,
* a glob pattern (``*``, ``?`` or ``[``; ``**`` descends with ``recursive=True``),
* a URI: ``file://`` and ``http(s)://`` (read with the standard library), or any scheme fsspec
  has a filesystem for (``s3://``, ``gs://``, ``az://``, ... with its package, e.g. ``s3fs``,
  installed on the driver and every worker); another scheme is refused when the sources are
  resolved, naming the URI,
* or an image file.

The order is the sort order of the location strings, so output order never depends on how
the sources were given or how many workers run.

>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("b.jpg", "a.png", "notes.md"):
...     _ = (tmp / name).write_bytes(b"x")
>>> _ = (tmp / "list.txt").write_text("# two images\\nb.jpg\\nhttps://example.com/c.jpg\\n")
>>> [pathlib.Path(p).name for p in resolve_sources([tmp])]
['a.png', 'b.jpg']
>>> [p.rsplit("/", 1)[-1] for p in resolve_sources([tmp / "list.txt", str(tmp / "*.png")])]
['a.png', 'b.jpg', 'c.jpg']
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path

from detectkit.errors import InvalidInputError
from detectkit.image import IMAGE_EXTENSIONS, list_images

__all__ = ["LIST_SUFFIXES", "NATIVE_SCHEMES", "check_uri", "is_uri", "resolve_sources"]

#: File suffixes read as list files (one path or URI per line).
LIST_SUFFIXES = (".txt", ".lst", ".list")

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_uri(location: str) -> bool:
    """True for ``scheme://...`` locations (``s3://``, ``gs://``, ``https://``, ``file://``).

    >>> is_uri("s3://bucket/a.jpg"), is_uri("/data/a.jpg"), is_uri("C:/a.jpg")
    (True, False, False)
    """
    return bool(_URI.match(location))


#: URI schemes read without fsspec (``file://`` from disk, ``http(s)://`` with urllib).
NATIVE_SCHEMES = ("file", "http", "https")


def check_uri(uri: str, *, where: str = "") -> str:
    """The scheme of ``uri`` when this machine can read it; else a clear :class:`InvalidInputError`.

    ``file``, ``http`` and ``https`` are read natively; any other scheme needs an fsspec
    filesystem (``s3`` needs ``s3fs``, ``gs`` needs ``gcsfs``, ...).

    >>> check_uri("https://example.com/a.jpg")
    'https'
    >>> check_uri("ftp2://host/a.jpg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: ftp2://host/a.jpg: unsupported URI scheme 'ftp2' (use a local path, ...)
    """
    scheme = uri.split("://", 1)[0].lower()
    if scheme in NATIVE_SCHEMES:
        return scheme
    context = f" (in {where})" if where else ""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with torch
        raise InvalidInputError(
            f"{uri}{context}: reading {scheme}:// URIs needs fsspec: pip install 'detectkit[ray]'"
        ) from None
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        raise InvalidInputError(
            f"{uri}{context}: {scheme}:// URIs need a package that is not installed: {exc} "
            "(install it on the driver and on every worker)"
        ) from None
    except ValueError:
        raise InvalidInputError(
            f"{uri}{context}: unsupported URI scheme {scheme!r} (use a local path, file://, http(s)://, "
            "or a scheme fsspec knows such as s3://, gs://, az://)"
        ) from None
    return scheme


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _from_list_file(path: Path) -> list[str]:
    out: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"list file {path} could not be read: {exc}") from None
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if is_uri(entry):
            check_uri(entry, where=f"list file {path}")
            out.append(entry)
        else:
            p = Path(entry)
            out.append(os.path.abspath(p if p.is_absolute() else path.parent / p))
    return out


def resolve_sources(sources: Iterable[str | os.PathLike[str]], *, recursive: bool = False) -> list[str]:
    """The sorted, de-duplicated list of image locations named by ``sources``.

    Local paths come back absolute (so shards can run in other processes or on other
    machines that mount the same file system); URIs come back unchanged. A missing file in a
    list file is kept: the job reports it in its failures file, like a corrupt image.

    Args:
        sources: folders, list files, glob patterns, URIs or image files.
        recursive: descend into sub-folders of folders, and let ``**`` in globs match folders.

    Raises:
        InvalidInputError: a source that does not exist, a glob or folder that matches no
            image, an empty list, or a URI whose scheme cannot be read here (the message
            names the source).
    """
    items: set[str] = set()
    given = list(sources)
    if not given:
        raise InvalidInputError("sources must name at least one folder, list file, glob or image")
    for source in given:
        text = os.fspath(source)
        if is_uri(text):
            check_uri(text)
            items.add(text)
            continue
        path = Path(text)
        if path.is_dir():
            found = list_images(path, recursive=recursive)
            if not found:
                hint = "" if recursive else " (use --recursive for sub-folders)"
                raise InvalidInputError(f"folder {text} holds no images{hint}")
            items.update(os.path.abspath(p) for p in found)
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            listed = _from_list_file(path)
            if not listed:
                raise InvalidInputError(f"list file {text} names no images (one path or URI per line)")
            items.update(listed)
        elif path.is_file():
            items.add(os.path.abspath(path))
        elif _is_glob(text):
            matches = [
                m
                for m in glob.glob(text, recursive=recursive)
                if Path(m).suffix.lower() in IMAGE_EXTENSIONS and Path(m).is_file()
            ]
            if not matches:
                raise InvalidInputError(f"glob {text!r} matches no image files")
            items.update(os.path.abspath(m) for m in matches)
        else:
            raise InvalidInputError(f"source {text} does not exist (expected a folder, list file, glob or image)")
    return sorted(items)
