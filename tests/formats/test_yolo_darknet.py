"""YOLO folders named the Darknet way (obj.data, obj.names, train.txt lists) or not named at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectkit.formats import detect_format, read
from detectkit.formats.yolo import read as read_yolo

DARKNET = Path(__file__).parent.parent / "data" / "formats" / "darknet"


def _darknet(tmp_path: Path) -> Path:
    """The Darknet fixture (laid out as AlexeyAB's darknet README: data/obj.data, data/obj/*.jpg)."""
    root = tmp_path / "darknet"
    shutil.copytree(DARKNET, root)
    for i in (1, 2, 3):
        Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(root / "data" / "obj" / f"img{i}.jpg")
    return root / "data"


def test_obj_data_gives_names_splits_and_boxes(tmp_path: Path) -> None:
    data = _darknet(tmp_path)
    for source in (data, data / "obj.data"):
        assert detect_format(source) == "yolo"
        ds = read_yolo(source)
        assert [c.name for c in ds.categories] == ["car", "person"]
        assert sorted(r.file_name for r in ds.images) == ["img1.jpg", "img2.jpg", "img3.jpg"]
        assert {r.split for r in ds.images} == {"train", "val"}
        assert sum(len(d) for _, d in ds) == 4
        assert not [i for i in ds.issues if i.severity == "error"]


def test_obj_names_without_obj_data_and_list_file_is_not_labels(tmp_path: Path) -> None:
    data = _darknet(tmp_path)
    (data / "obj.data").unlink()
    obj = data / "obj"
    shutil.copy(data / "obj.names", obj / "obj.names")
    (obj / "train.txt").write_text("img1.jpg\nimg2.jpg\n")  # a list of images beside the labels
    ds = read(obj)
    assert [c.name for c in ds.categories] == ["car", "person"]
    assert sum(len(d) for _, d in ds) == 4
    assert not ds.issues


def test_no_names_anywhere_keeps_boxes_under_numeric_names(tmp_path: Path) -> None:
    folder = tmp_path / "labels_only"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "a.jpg")
    (folder / "a.txt").write_text("76 0.5 0.5 0.2 0.2\n3 0.2 0.2 0.1 0.1\n")
    with pytest.warns(UserWarning, match="no class names"):
        ds = read_yolo(folder)
    assert [c.name for c in ds.categories] == ["3", "76"]
    assert sum(len(d) for _, d in ds) == 2
    assert any("no class names" in i.message for i in ds.issues)


def test_images_all_missing_is_an_error_not_an_empty_dataset(tmp_path: Path) -> None:
    """The Darknet fixture without its image files: every image is skipped, so the read fails
    (naming the first missing image) instead of converting to an empty dataset with exit 0."""
    from detectkit.errors import AnnotationParseError

    root = tmp_path / "darknet"
    shutil.copytree(DARKNET, root)
    with pytest.raises(AnnotationParseError, match=r"none of the 3 YOLO annotation files could be read") as info:
        read_yolo(root / "data")
    assert info.value.path.name == "img1.jpg"
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(root / "data" / "obj" / "img2.jpg")
    with pytest.warns(UserWarning, match="skipped 2 bad record"):
        ds = read_yolo(root / "data")  # one image is there: read, the others reported
    assert [r.file_name for r in ds.images] == ["img2.jpg"]


def test_roboflow_yolo_darknet_export_names_and_splits(tmp_path: Path) -> None:
    """Roboflow's "YOLO Darknet" export: README .txt files beside train/ valid/, each with images,
    label .txt files side by side and a ``_darknet.labels`` names file; no yaml, no obj.data."""
    root = tmp_path / "export"
    for split in ("train", "valid"):
        (root / split).mkdir(parents=True)
        (root / split / "_darknet.labels").write_text("cat\ndog\n")
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(root / split / f"b_{split}.jpg")
        (root / split / f"b_{split}.txt").write_text("1 0.5 0.5 0.25 0.25\n")
    (root / "README.roboflow.txt").write_text("exported via roboflow.com\n")
    assert detect_format(root) == "yolo"
    ds = read(root)
    assert [c.name for c in ds.categories] == ["cat", "dog"]
    assert [(r.split, r.file_name) for r in ds.images] == [("train", "b_train.jpg"), ("val", "b_valid.jpg")]
    assert [d.labels for _, d in ds] == [["dog"], ["dog"]]
    assert not ds.issues  # README.roboflow.txt is not a label file
