"""data.yaml split paths resolved as Ultralytics resolves them (Roboflow's ../ quirk, ``path:``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectkit.errors import InvalidInputError
from detectkit.formats.yolo import read as read_yolo

ROBOFLOW = Path(__file__).parent.parent / "data" / "formats" / "roboflow" / "data.yaml"


def _split(root: Path, split: str, stem: str, line: str) -> None:
    (root / split / "images").mkdir(parents=True)
    (root / split / "labels").mkdir(parents=True)
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(root / split / "images" / f"{stem}.jpg")
    (root / split / "labels" / f"{stem}.txt").write_text(line)


def test_roboflow_export_with_dotdot_paths(tmp_path: Path) -> None:
    shutil.copy(ROBOFLOW, tmp_path / "data.yaml")
    _split(tmp_path, "train", "a", "0 0.5 0.5 0.5 0.5\n")
    _split(tmp_path, "valid", "b", "1 0.5 0.5 0.25 0.25\n")
    for source in (tmp_path, tmp_path / "data.yaml"):
        ds = read_yolo(source)
        assert sorted((r.file_name, r.split) for r in ds.images) == [("a.jpg", "train"), ("b.jpg", "val")]
        assert sum(len(d) for _, d in ds) == 2
        assert any("test folder" in i.message for i in ds.issues)  # ../test/images: missing, said so


def test_relative_path_key_is_the_root(tmp_path: Path) -> None:
    _split(tmp_path / "pets", "train", "a", "0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "data.yaml").write_text("path: ../pets\ntrain: train/images\nval: train/images\nnames: [cat]\n")
    ds = read_yolo(tmp_path / "cfg" / "data.yaml")
    assert [r.file_name for r in ds.images] == ["a.jpg"]


def test_no_images_where_a_dataset_was_expected_is_an_error(tmp_path: Path) -> None:
    shutil.copy(ROBOFLOW, tmp_path / "data.yaml")
    with pytest.raises(InvalidInputError, match=r"no images or labels found.*train: .*train/images \(missing\)"):
        read_yolo(tmp_path / "data.yaml")
