"""Shipped weights: the manifest ``weights/manifest.json`` and name -> verified file resolution.

The manifest maps a model name to its file in ``weights/`` and what we know about it::

    {"schema": 1, "models": {"demo-shapes": {"file": "demo-shapes.pt", "sha256": "...",
        "task": "detect", "framework": "ultralytics", "architecture": "yolov8n",
        "classes": {"0": "circle", ...}, "imgsz": 320, "source": "...", "licence": "...",
        "quality": {...}, "default": true}}}

:func:`resolve` accepts a manifest name or a path and returns :class:`ResolvedWeights`. For
names the file's sha256 is checked against the manifest **before** anything loads it: ``.pt``
checkpoints are Python pickles and execute code when loaded, so only verified or trusted files
should be opened (prefer ``.onnx`` for files of unknown origin). An unknown name raises
:class:`~detectkit.errors.ModelLoadError` listing the known names.

The weights folder is ``weights/`` of the checkout, or ``detectkit/weights/`` in an installed
wheel (override with ``$DETECTKIT_WEIGHTS``).

>>> try:
...     resolve("no-such-model")
... except ModelLoadError as exc:
...     print(str(exc)[:40])
unknown model 'no-such-model'; known nam
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from detectkit.errors import ModelLoadError

__all__ = [
    "MANIFEST_NAME",
    "ResolvedWeights",
    "default_model",
    "known_models",
    "load_manifest",
    "resolve",
    "sha256_file",
    "weights_dir",
]

MANIFEST_NAME = "manifest.json"
_ULTRALYTICS_SUFFIXES = (".pt", ".yaml", ".yml", ".onnx")
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def weights_dir() -> Path:
    """The folder holding shipped weights and ``manifest.json``.

    ``$DETECTKIT_WEIGHTS`` when set; else ``detectkit/weights/`` inside an installed wheel (the
    build copies them there, see ``setup.py``); else ``weights/`` of the source checkout (an
    editable install).
    """
    env = os.environ.get("DETECTKIT_WEIGHTS")
    if env:
        return Path(env).expanduser()
    package = Path(__file__).resolve().parents[1]
    inside = package / "weights"
    if (inside / MANIFEST_NAME).is_file():
        return inside
    return package.parent / "weights"


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``models`` mapping of the manifest (empty when there is no manifest).

    Raises:
        ModelLoadError: the manifest exists but is not valid JSON of schema 1.
    """
    file = Path(path) if path is not None else weights_dir() / MANIFEST_NAME
    if not file.is_file():
        return {}
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"weights manifest {file} is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("schema") != 1 or not isinstance(payload.get("models"), dict):
        raise ModelLoadError(f'weights manifest {file} must be {{"schema": 1, "models": {{...}}}}')
    return {str(k): dict(v) for k, v in payload["models"].items() if isinstance(v, dict)}


def known_models(task: str | None = None) -> list[str]:
    """Sorted manifest names, optionally only those of one ``task`` ("detect", "classify", ...)."""
    return sorted(k for k, v in load_manifest().items() if task is None or v.get("task") == task)


def default_model(task: str = "detect") -> str | None:
    """The manifest name marked ``"default": true`` for ``task``, or None."""
    for name, entry in sorted(load_manifest().items()):
        if entry.get("task") == task and entry.get("default"):
            return name
    return None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, cached per (path, size, mtime) so repeated loads don't re-hash.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    _HASH_CACHE[key] = value
    return value


@dataclass(frozen=True)
class ResolvedWeights:
    """A model reference made concrete.

    Attributes:
        source: what the user passed.
        path: the local file, or None for an Ultralytics name that Ultralytics resolves itself
            (``yolov8n.yaml`` builds offline; ``yolo11n.pt`` downloads when online).
        name: the manifest name, if it came from the manifest.
        sha256: the verified hash (manifest names) or None (computed on demand by callers).
        task, framework, architecture, imgsz: from the manifest, when known.
        classes: class id -> name from the manifest, when known.
        entry: the raw manifest entry (empty for paths).
    """

    source: str
    path: Path | None
    name: str | None = None
    sha256: str | None = None
    task: str | None = None
    framework: str | None = None
    architecture: str | None = None
    imgsz: int | None = None
    classes: Mapping[int, str] | None = None
    entry: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def suffix(self) -> str:
        """The lower-case file extension of the path (or of the Ultralytics name)."""
        return (self.path.suffix if self.path is not None else Path(self.source).suffix).lower()


def _offline() -> bool:
    """``$YOLO_OFFLINE`` read as Ultralytics reads it (1/true/yes/on/y/t); unset means offline, the
    default :func:`~detectkit.models.prepare_ultralytics` sets."""
    return os.environ.get("YOLO_OFFLINE", "1").strip().lower() in ("1", "true", "yes", "on", "y", "t")


def _in_ultralytics_weights(name: str) -> bool:
    """Whether Ultralytics' own weights folder (``SETTINGS['weights_dir']``) holds ``name``."""
    from detectkit.models import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics.utils import SETTINGS

    return (Path(SETTINGS["weights_dir"]) / name).is_file()


def _unknown(source: str, manifest: Mapping[str, Any], why: str, note: str = "") -> ModelLoadError:
    names = ", ".join(sorted(manifest)) or f"(none: {weights_dir() / MANIFEST_NAME} is missing or empty)"
    return ModelLoadError(
        f"{why} model {source!r}{note}; known names: {names}. Pass a path to a .pt/.onnx/.yaml file, "
        "or, online, an Ultralytics checkpoint name such as 'yolo11n.pt' (Ultralytics downloads it; "
        "set YOLO_OFFLINE=0 to allow downloads)."
    )


def resolve(model: str | os.PathLike[str]) -> ResolvedWeights:
    """Turn a manifest name or a path into :class:`ResolvedWeights`, verifying manifest hashes.

    Resolution order: an existing file path; a manifest name, shipped or from the user
    manifest of :mod:`~detectkit.models.user_models` (file must exist and match its sha256);
    a bare Ultralytics name ending in ``.pt``/``.yaml`` (left for Ultralytics to resolve:
    configs build offline, checkpoints download only when online).

    Raises:
        ModelLoadError: unknown name or missing file (listing the known names), or a hash
            mismatch.
    """
    source = os.fspath(model)
    if not isinstance(source, str):
        raise ModelLoadError(f"model must be a name or a path, got {type(model).__name__}")
    path = Path(source).expanduser()
    if path.is_file():
        return ResolvedWeights(source=source, path=path)
    manifest = load_manifest()
    entry = manifest.get(source)
    base = weights_dir()
    if entry is None:  # your own trained/exported models (detectkit.models.user_models)
        from detectkit.models.user_models import user_entry

        entry, base = user_entry(source)
    if entry is not None:
        file = base / str(entry.get("file", ""))
        if not entry.get("file") or not file.is_file():
            raise ModelLoadError(
                f"weights file for model {source!r} is missing: {file} (expected by {weights_dir() / MANIFEST_NAME})"
            )
        expected = str(entry.get("sha256", "")).lower()
        actual = sha256_file(file)
        if not expected or actual != expected:
            raise ModelLoadError(
                f"sha256 mismatch for model {source!r} ({file}): manifest says {expected or '(none)'}, "
                f"file has {actual}; refusing to load an unverified checkpoint"
            )
        classes = entry.get("classes")
        imgsz = entry.get("imgsz")
        return ResolvedWeights(
            source=source,
            path=file,
            name=source,
            sha256=actual,
            task=entry.get("task"),
            framework=entry.get("framework"),
            architecture=entry.get("architecture"),
            imgsz=int(imgsz) if isinstance(imgsz, (int, float)) else None,
            classes=MappingProxyType({int(k): str(v) for k, v in classes.items()})
            if isinstance(classes, Mapping)
            else None,
            entry=MappingProxyType(dict(entry)),
        )
    bare = path.parent == Path(".") and path.suffix.lower() in _ULTRALYTICS_SUFFIXES[:3]
    if bare:
        if path.suffix.lower() == ".pt" and _offline() and not _in_ultralytics_weights(path.name):
            # Ultralytics would ask GitHub for it (twice, offline or not) and then fail: say so now
            raise _unknown(source, manifest, "no such file for", " (YOLO_OFFLINE is set: nothing is downloaded)")
        return ResolvedWeights(source=source, path=None)
    if path.suffix:
        raise _unknown(source, manifest, "no such file for")
    raise _unknown(source, manifest, "unknown")
