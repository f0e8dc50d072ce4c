"""``datasets/generate_video.py`` (a script, not a package) loaded as a module for the video tests."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shared loader of the datasets/ scripts
from _scripts import load_script  # noqa: E402


def load_generator() -> ModuleType:
    """The video generator module, imported once by path."""
    return load_script("detectkit_generate_video", "datasets/generate_video.py")
