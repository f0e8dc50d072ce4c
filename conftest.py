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

from detectkit._setup_fonts import ensure_ultralytics_fonts  # noqa: E402

ensure_ultralytics_fonts(os.environ["YOLO_CONFIG_DIR"])
