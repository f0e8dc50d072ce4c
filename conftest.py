"""Test-wide settings: Ultralytics strictly offline with a project-local config dir and font."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on a 2-core machine: one compute thread each, or torch and
    # onnxruntime oversubscribe the cores and run several times slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("DETECTKIT_ORT_THREADS", "1")

from detectkit._setup_fonts import ensure_ultralytics_fonts  # noqa: E402

ensure_ultralytics_fonts(os.environ["YOLO_CONFIG_DIR"])

# conftest.py files are fixtures, not doctest modules: collected as modules named "conftest" they
# clash ("import file mismatch") when two test folders run together, e.g. tests/models tests/batch.
collect_ignore_glob = ["tests/*/conftest.py"]
