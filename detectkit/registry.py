"""The annotation-format registry: format name -> the module that reads and writes it.

``detectkit.formats`` fills it when it is imported (each built-in format registers the name
of its module, which is imported only when that format is used, so converting COCO to YOLO
never imports the XML readers) and provides the auto-detecting ``read`` / ``write``. Code
below the formats layer (``Dataset.read``, ``Dataset.to_coco``, ...) reaches a format only
through here, so imports point one way: ``formats`` -> ``dataset`` -> ``table``. A lookup
before anything registered loads the built-in formats package by name, as a plugin.

>>> sorted(formats())
['coco', 'cvat', 'labelme', 'voc', 'yolo']
>>> format_module("yolo").__name__
'detectkit.formats.yolo'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from detectkit.errors import InvalidInputError

__all__ = ["format_module", "formats", "provide", "read_dataset", "register_format", "write_dataset"]

#: The package whose import registers the built-in formats.
BUILTIN_FORMATS = "detectkit.formats"

_modules: dict[str, str] = {}
_entry: dict[str, Callable[..., Any]] = {}


def register_format(name: str, module: str) -> None:
    """Register format ``name``, read and written by ``module`` (imported on first use).

    The module defines ``read(path, **options) -> Dataset`` and
    ``write(dataset, path, **options) -> ConvertSummary``.
    """
    if not name or not isinstance(name, str):
        raise InvalidInputError(f"name must be a non-empty string, got {name!r}")
    _modules[name] = module


def provide(*, read: Callable[..., Any], write: Callable[..., Any]) -> None:
    """Install the dataset-level ``read`` (with format detection) and ``write`` entry points."""
    _entry["read"] = read
    _entry["write"] = write


def _loaded() -> None:
    if not _entry:
        importlib.import_module(BUILTIN_FORMATS)


def formats() -> tuple[str, ...]:
    """The registered format names."""
    _loaded()
    return tuple(_modules)


def format_module(name: str) -> ModuleType:
    """The module of format ``name``.

    Raises:
        InvalidInputError: ``name`` is not a registered format.
    """
    _loaded()
    if name not in _modules:
        raise InvalidInputError(f"format must be one of {sorted(_modules)}, got {name!r}")
    return importlib.import_module(_modules[name])


def read_dataset(path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> Any:
    """Read a dataset (format auto-detected when None) through the registered reader."""
    _loaded()
    return _entry["read"](path, format=format, **options)


def write_dataset(dataset: Any, path: str | os.PathLike[str], *, format: str, **options: Any) -> Any:
    """Write ``dataset`` in ``format`` through the registered writer."""
    _loaded()
    return _entry["write"](dataset, path, format=format, **options)
