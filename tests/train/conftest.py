"""Shared fixtures of the train/export tests: an isolated cache and user manifest, tiny datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "datasets" / "shapes"


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the session, so the demo detector's ONNX export happens once."""
    return tmp_path_factory.mktemp("dk-train-cache")


@pytest.fixture(autouse=True)
def _isolated(train_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTKIT_CACHE", str(train_cache))
    monkeypatch.setenv("DETECTKIT_USER_MODELS", str(tmp_path / "user-models"))
    monkeypatch.setenv("DETECTKIT_ORT_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 16 shapes val images as a COCO JSON beside its images."""
    from detectkit.dataset import Dataset

    folder = tmp_path_factory.mktemp("tiny-coco")
    ds = Dataset.read(SHAPES)
    ds = ds.select([r.id for r in ds.images[:16]])
    for r in ds.images:
        shutil.copyfile(r.path, folder / r.file_name)  # type: ignore[arg-type]
    ds.write(folder / "instances.json", format="coco")
    return folder / "instances.json"


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny class-folder tree: 3 classes (red / green / blue blobs on noise), 12 images each."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    colours = {"red": (0, 0, 220), "green": (0, 200, 0), "blue": (220, 0, 0)}
    for name, bgr in colours.items():
        (root / name).mkdir()
        for i in range(12):
            img = rng.integers(0, 80, (72, 96, 3), dtype=np.uint8)
            cx, cy = (int(v) for v in rng.integers(25, 50, 2))
            cv2.circle(img, (cx + 10, cy), int(rng.integers(14, 24)), bgr, -1)
            cv2.imwrite(str(root / name / f"{i:02d}.jpg"), img)
    return root
