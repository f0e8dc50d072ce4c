"""Build hook: the shipped weights travel inside the wheel as ``detectkit/weights/``.

The repository keeps them in the top-level ``weights/`` folder (the source of truth, next to
``manifest.json``); building a wheel copies exactly the files the manifest names, plus the
manifest, into the package, where :func:`detectkit.models.weights.weights_dir` finds them.
Editable installs skip the copy and read ``weights/`` in the checkout. Everything else is in
``pyproject.toml``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithWeights(build_py):  # type: ignore[misc]
    """``build_py`` that also places ``weights/manifest.json`` and its files in the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = HERE / "weights"
        manifest = source / "manifest.json"
        if not manifest.is_file():
            raise SystemExit(f"cannot build a wheel without {manifest}")
        target = Path(self.build_lib) / "detectkit" / "weights"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest, target / "manifest.json")
        models = json.loads(manifest.read_text(encoding="utf-8"))["models"]
        for entry in models.values():
            name = entry.get("file")
            if name and (source / name).is_file():
                shutil.copyfile(source / name, target / name)


setup(cmdclass={"build_py": BuildPyWithWeights})
