"""datasets/generate_large.py: deterministic large images of small shapes, written as COCO."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _scripts import load_script

from detectkit.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent


gen = load_script("detectkit_shapes_generate_large", "datasets/generate_large.py")


def test_image_is_deterministic_and_objects_small_and_inside() -> None:
    img, objs = gen.generate_large_image(0, 0, size_wh=(1200, 800))
    again, objs2 = gen.generate_large_image(0, 0, size_wh=(1200, 800))
    assert np.array_equal(img, again)
    assert objs == objs2
    assert img.shape == (800, 1200, 3)
    boxes = np.array([b for _, b in objs])
    assert len(boxes) > 20
    assert (boxes[:, 0] >= 0).all()
    assert (boxes[:, 2] <= 1200).all()
    assert (boxes[:, 3] <= 800).all()
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert sizes.min() > 4
    assert sizes.max() < 45  # shapes of about 7-40 px
    assert not np.array_equal(img, gen.generate_large_image(0, 1, size_wh=(1200, 800))[0])


def test_dataset_written_as_coco(tmp_path: Path) -> None:
    meta = gen.generate_large_dataset(tmp_path, seed=1, count=2, size_wh=(700, 500))
    coco = json.loads((tmp_path / "annotations" / "instances_large.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["large_00000.jpg", "large_00001.jpg"]
    assert len(coco["annotations"]) == meta["objects"] > 0
    assert {c["id"] for c in coco["categories"]} == {1, 2, 3, 4, 5}
    assert cv2.imread(str(tmp_path / "images" / "large_00001.jpg")).shape == (500, 700, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1, "index": 0}, "seed"),
        ({"seed": 0, "index": 0, "size_wh": (10, 10)}, "size_wh"),
        ({"seed": 0, "index": 0, "scale": 2.0}, "scale"),
        ({"seed": 0, "index": 0, "fill": 1.5}, "fill"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        gen.generate_large_image(**kwargs)
