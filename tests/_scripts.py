"""Loading the project's scripts in ``datasets/`` (not a package) as modules, for their tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_script(module_name: str, relative_path: str) -> ModuleType:
    """The script at ``ROOT/relative_path`` imported once under ``module_name``.

    Loaded by path: a top-level ``datasets`` package name would clash with Hugging Face ``datasets``.
    """
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / relative_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
