"""Your own models, loadable by name: a user manifest beside the shipped one.

``detectkit train`` and ``detectkit export`` register what they write in a user manifest (same
schema as ``weights/manifest.json``) so ``Detector("my-model")`` / ``Classifier("my-model")``
find it. The shipped manifest is never modified and wins on a name clash (registering a shipped
name is refused). The user manifest is ``$DETECTKIT_USER_MODELS`` (a ``manifest.json`` path or a
folder holding one), else ``cache_dir()/models/manifest.json``. ``file`` entries are absolute
paths or relative to the manifest's folder; the sha256 is verified before a file is loaded.

>>> import os, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> os.environ["DETECTKIT_USER_MODELS"] = str(folder)
>>> weights = folder / "w.onnx"
>>> _ = weights.write_bytes(b"not really a model")
>>> register_model("my-model", weights, {"task": "detect", "imgsz": 320})
PosixPath('.../manifest.json')
>>> entry, base = user_entry("my-model")
>>> entry["task"], entry["file"], base == folder
('detect', 'w.onnx', True)
>>> user_entry("nope")[0] is None
True
>>> del os.environ["DETECTKIT_USER_MODELS"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detectkit._atomic import atomic_file
from detectkit.errors import InvalidInputError

__all__ = ["load_user_manifest", "register_model", "user_entry", "user_manifest_path"]


def user_manifest_path() -> Path:
    """The user manifest file: ``$DETECTKIT_USER_MODELS`` (file or folder), else under the cache."""
    env = os.environ.get("DETECTKIT_USER_MODELS")
    if env:
        path = Path(env).expanduser()
        return path if path.suffix == ".json" else path / "manifest.json"
    from detectkit.models import cache_dir

    return cache_dir() / "models" / "manifest.json"


def load_user_manifest() -> dict[str, dict[str, Any]]:
    """The ``models`` mapping of the user manifest (empty when there is none)."""
    from detectkit.models.weights import load_manifest

    return load_manifest(user_manifest_path())


def user_entry(name: str) -> tuple[dict[str, Any] | None, Path]:
    """``(entry, folder its relative file names start from)``; entry is None for unknown names."""
    path = user_manifest_path()
    return load_user_manifest().get(name), path.parent


def register_model(name: str, file: str | os.PathLike[str], entry: Mapping[str, Any]) -> Path:
    """Add or replace ``name`` in the user manifest (atomic write); returns the manifest path.

    ``file`` is stored relative to the manifest folder when it lies inside it, else absolute;
    its sha256 is computed and stored.

    Raises:
        InvalidInputError: ``name`` is empty, contains a path separator, or is a shipped model name.
    """
    from detectkit.models.weights import load_manifest, sha256_file

    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise InvalidInputError(f"model name must be a non-empty name without '/', got {name!r}")
    if name in load_manifest():
        raise InvalidInputError(f"model name {name!r} is a shipped model; choose another name (e.g. {name}-custom)")
    manifest = user_manifest_path()
    manifest.parent.mkdir(parents=True, exist_ok=True)
    target = Path(file).resolve()
    try:
        stored = str(target.relative_to(manifest.parent.resolve()))
    except ValueError:
        stored = str(target)
    doc: dict[str, Any] = {"schema": 1, "models": load_user_manifest()}
    doc["models"][name] = {**dict(entry), "file": stored, "sha256": sha256_file(target)}
    with atomic_file(manifest) as fh:
        json.dump(doc, fh, indent=2)
    return manifest
