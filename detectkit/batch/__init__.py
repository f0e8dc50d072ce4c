"""Batch jobs over many images or files: the same jobs on a local process pool or on Ray.

>>> from detectkit import batch
>>> sorted(batch.__all__)
['BatchResult', 'classify', 'convert', 'detect', 'resolve_sources']

* :func:`detect` / :func:`classify`: a model over folders, list files, globs or URIs, written
  as sharded JSONL (idempotent, resumable, sorted by source) and merged at the end;
  ``detect`` can also write the predictions as a dataset (auto-labelling).
* :func:`convert`: read a dataset split into many files (YOLO label folders, per-image
  VOC/LabelMe files) with the parsing spread over workers, and write it in another format.

Engines: ``"local"`` (a process pool, the default) and ``"ray"`` (Ray actors, the optional
extra ``pip install 'detectkit[ray]'``, imported only when used). See ``docs/scale-out.md``.
The names are imported on first use, so ``detectkit.batch.cli`` (the CLI's flags) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectkit.batch.api import BatchResult, classify, detect
    from detectkit.batch.conversion import convert
    from detectkit.batch.sources import resolve_sources

__all__ = ["BatchResult", "classify", "convert", "detect", "resolve_sources"]

_HOME = {
    "BatchResult": "detectkit.batch.api",
    "classify": "detectkit.batch.api",
    "detect": "detectkit.batch.api",
    "convert": "detectkit.batch.conversion",
    "resolve_sources": "detectkit.batch.sources",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'detectkit.batch' has no attribute {name!r}")
