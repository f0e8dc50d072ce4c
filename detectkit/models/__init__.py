"""Models: the YOLO :class:`~detectkit.models.detector.Detector`, the whole-image classifier and
weights resolution (:mod:`detectkit.models.weights`).

Backends (torch, ultralytics, onnxruntime) are imported lazily, inside the functions that need
them, so importing this package is cheap. Before Ultralytics is imported for the first time,
:func:`prepare_ultralytics` sets its offline defaults (``YOLO_OFFLINE=1``,
``YOLO_AUTOINSTALL=false``, a ``YOLO_CONFIG_DIR`` under the detectkit cache holding a local font)
— only where the user has not set them — so library users never trigger a download by accident.
Set ``YOLO_OFFLINE=0`` yourself to let Ultralytics download named checkpoints such as
``yolo11n.pt``.

Security: ``.pt`` checkpoints are Python pickles and can execute code when loaded. Names from the
shipped manifest are sha256-verified before loading. :func:`prepare_ultralytics` also sets
``ULTRALYTICS_SAFE_LOAD=1`` (unless set), so Ultralytics loads checkpoints with
``torch.load(weights_only=True)`` and an allow-list of its model classes: a checkpoint that
references anything else is refused instead of run (this holds when detectkit imports Ultralytics
first; see ``docs/security.md``). For files you did not make, prefer an ``.onnx`` export
(``backend="onnx"``), which holds no code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "prepare_ultralytics"]

_PREPARED = False


def cache_dir() -> Path:
    """detectkit's user cache folder: ``$DETECTKIT_CACHE``, else ``$XDG_CACHE_HOME/detectkit``,
    else ``~/.cache/detectkit``. Not created here.

    >>> import os
    >>> os.environ["DETECTKIT_CACHE"] = "/tmp/dk-cache-doctest"
    >>> str(cache_dir())
    '/tmp/dk-cache-doctest'
    >>> del os.environ["DETECTKIT_CACHE"]
    """
    env = os.environ.get("DETECTKIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "detectkit"


def prepare_ultralytics() -> Any:
    """Set Ultralytics' offline defaults (without overriding the user's) and import it.

    Returns the ``ultralytics`` module. Idempotent.
    """
    global _PREPARED
    unset = False  # OMP_NUM_THREADS unset before Ultralytics' first import
    if not _PREPARED:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")  # .pt via weights_only + allow-list (docs/security.md)
        os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
        try:
            from detectkit._setup_fonts import ensure_ultralytics_fonts

            ensure_ultralytics_fonts(os.environ["YOLO_CONFIG_DIR"])
        except OSError:  # pragma: no cover - a read-only config dir: Ultralytics copes without plots
            pass
        _PREPARED = True
        # Importing Ultralytics sets OMP_NUM_THREADS=1 (its training default) when unset: torch
        # imported after that, and every child process (servers, workers), would run on one
        # thread. Import torch first and take the variable back out, leaving the user's setting.
        unset = "ultralytics" not in sys.modules and not os.environ.get("OMP_NUM_THREADS")
        if unset:
            import torch  # noqa: F401
    import ultralytics

    if unset and os.environ.get("OMP_NUM_THREADS") == "1":
        del os.environ["OMP_NUM_THREADS"]
    return ultralytics
