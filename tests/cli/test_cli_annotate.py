"""`detectkit annotate` end to end on a small COCO dataset (and the shipped YOLO sample)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.cli import main
from detectkit.viz import class_color

ROOT = Path(__file__).resolve().parents[2]


def _make_coco(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "imgs"
    images.mkdir()
    names = ["a.jpg", "b.png", "c.bmp"]
    for i, name in enumerate(names):
        cv2.imwrite(str(images / name), np.full((80, 100, 3), 60 + 40 * i, np.uint8))
    doc = {
        "images": [{"id": i + 1, "file_name": n, "width": 100, "height": 80} for i, n in enumerate(names)],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 20, 40, 30], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [55, 10, 30, 50], "area": 1500, "iscrowd": 0},
            {"id": 3, "image_id": 3, "category_id": 7, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
        ],
    }
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(doc))
    return ann, images


def test_annotate_coco_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ann, images = _make_coco(tmp_path)
    out = tmp_path / "out"
    args = ["annotate", str(ann), "--images", str(images), "--out", str(out), "--quiet", "--thickness", "4"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "c.png"]  # BMP written as PNG
    assert "annotated 3 images (3 objects)" in capsys.readouterr().out
    drawn = cv2.imread(str(out / "b.png"))
    np.testing.assert_array_equal(drawn, cv2.imread(str(images / "b.png")))  # no objects: unchanged
    a = cv2.imread(str(out / "a.jpg")).astype(int)
    # the dog box's right edge (x = 85) is in dog's palette colour (JPEG: approximately)
    assert np.abs(a[45, 85] - np.array(class_color(7))).max() < 50
    assert (cv2.imread(str(images / "a.jpg")) == 60).all()  # the source is untouched


def test_annotate_classes_and_limit(tmp_path: Path) -> None:
    ann, images = _make_coco(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "annotate",
            str(ann),
            "--images",
            str(images),
            "--out",
            str(out),
            "--classes",
            "cat",
            "--limit",
            "1",
            "--thickness",
            "4",
        ]
    )
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["a.jpg"]
    a = cv2.imread(str(out / "a.jpg")).astype(int)
    assert np.abs(a[45, 85] - 60).max() < 20  # the dog was filtered out
    assert np.abs(a[35, 10] - np.array(class_color(3))).max() < 50  # the cat is drawn


def test_annotate_reports_bad_images_and_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ann, images = _make_coco(tmp_path)
    (images / "b.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["annotate", str(ann), "--images", str(images), "--out", str(out), "--quiet"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.png"]
    captured = capsys.readouterr()
    assert "b.png" in captured.err
    assert "1 failed" in captured.out


def test_annotate_usage_errors(tmp_path: Path) -> None:
    ann, _ = _make_coco(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["annotate", str(ann)])  # --out is required
    assert exc.value.code == 2
    assert main(["annotate", str(ann), "--out", str(tmp_path / "o"), "--limit", "-1"]) == 2
    assert main(["annotate", str(ann), "--out", str(tmp_path / "o"), "--images", str(tmp_path / "nope")]) == 1


def test_annotate_shipped_yolo_sample(tmp_path: Path) -> None:
    data = ROOT / "datasets" / "shapes" / "data.yaml"
    out = tmp_path / "yolo"
    assert main(["annotate", str(data), "--out", str(out), "--limit", "3", "--quiet"]) == 0
    assert len(list(out.iterdir())) == 3
