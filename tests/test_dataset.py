"""Dataset model: construction, access, class and image operations, split, merge, stats, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectkit import Detections, InvalidInputError
from detectkit.dataset import Category, Dataset, ImageRecord, Issue

DATA = Path(__file__).resolve().parent / "data" / "formats"


def _ds(n_images: int = 4) -> Dataset:
    cats = [Category(1, "cat", "animal"), Category(5, "dog", "animal"), Category(9, "car")]
    images = [ImageRecord(i, f"{i}.jpg", 100, 80) for i in range(1, n_images + 1)]
    annotations = {
        1: Detections(xyxy=[[0, 0, 10, 10], [5, 5, 50, 60]], class_id=[1, 5], data={"iscrowd": [0, 1]}),
        2: Detections(xyxy=[[1, 1, 2, 2]], class_id=[9], data={"iscrowd": [0]}),
    }
    return Dataset(categories=cats, images=images, annotations=annotations)


def test_construction_and_access() -> None:
    ds = _ds()
    assert len(ds) == 4
    assert ds.num_objects == 3
    assert ds.names == {1: "cat", 5: "dog", 9: "car"}
    assert not ds.is_predictions
    assert [len(d) for _, d in ds] == [2, 1, 0, 0]
    assert list(ds.annotations) == [1, 2, 3, 4]
    d = ds.annotations[1]
    assert d.image_size_wh == (100, 80)
    assert d.confidence is None
    assert d.names[5] == "dog"
    assert d.xyxy.dtype == np.float32
    assert ds.boxes(1).dtype == np.float64
    assert "4 images" in repr(ds)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"categories": [Category(1, "a"), Category(1, "b")], "images": []}, "unique ids"),
        ({"categories": [], "images": [ImageRecord(1, "a", 1, 1), ImageRecord(1, "b", 1, 1)]}, "unique ids"),
        ({"categories": [], "images": [], "annotations": {3: Detections(xyxy=[[0, 0, 1, 1]])}}, "image id 3"),
        ({"categories": [], "images": [ImageRecord(1, "a", 1, 1)], "annotations": {1: [[0, 0, 1, 1]]}}, "Detections"),
    ],
)
def test_construction_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Dataset(**kwargs)


def test_unknown_image_id() -> None:
    with pytest.raises(InvalidInputError, match="image_id 99"):
        _ds().detections(99)


def test_inputs_are_not_mutated_and_operations_return_new_datasets() -> None:
    xyxy = np.array([[0, 0, 10, 10]], dtype=np.float32)
    dets = Detections(xyxy=xyxy, class_id=[1])
    ds = Dataset(categories=[Category(1, "a")], images=[ImageRecord(1, "a.jpg", 20, 20)], annotations={1: dets})
    before = ds.boxes(1)
    ds.remap({"a": "b"})
    ds.filter(classes=[1])
    ds.split(train=0.5, val=0.5)
    ds.merge(ds)
    ds.select([1])
    np.testing.assert_array_equal(ds.boxes(1), before)
    assert ds.names == {1: "a"}
    np.testing.assert_array_equal(xyxy, [[0, 0, 10, 10]])
    got = ds.boxes(1)
    got[0, 0] = 99  # a copy
    assert ds.boxes(1)[0, 0] == 0


def test_filter_remap_rename() -> None:
    ds = _ds()
    only = ds.filter(classes=["dog", 9])
    assert only.names == {5: "dog", 9: "car"}
    assert only.num_objects == 2
    assert len(only) == 4  # images all stay
    merged = ds.remap({"cat": "pet", "dog": "pet", "car": None})
    assert merged.names == {1: "pet"}
    assert merged.annotations[1].class_id.tolist() == [1, 1]
    assert merged.num_objects == 2
    assert merged.annotations[1].data["iscrowd"].tolist() == [0, 1]
    renamed = ds.rename({"car": "automobile"})
    assert renamed.names[9] == "automobile"
    into_existing = ds.remap({"cat": "dog"})
    assert into_existing.names == {5: "dog", 9: "car"}
    assert into_existing.annotations[1].class_id.tolist() == [5, 5]
    with pytest.raises(InvalidInputError, match="unknown class name 'bird'"):
        ds.filter(classes=["bird"])
    with pytest.raises(InvalidInputError, match="unknown class id 4"):
        ds.remap({4: "x"})


def test_select_keeps_order_and_objects() -> None:
    ds = _ds()
    sub = ds.select([2, 1])
    assert [r.id for r in sub.images] == [2, 1]
    assert sub.annotations[1].class_id.tolist() == [1, 5]
    assert sub.annotations[2].class_id.tolist() == [9]
    assert len(ds.select(lambda r: r.id > 2)) == 2
    with pytest.raises(InvalidInputError, match="listed twice"):
        ds.select([1, 1])


def test_split_is_deterministic_stratified_and_complete() -> None:
    cats = [Category(0, "common"), Category(1, "rare")]
    images = [ImageRecord(i, f"{i}.jpg", 10, 10) for i in range(100)]
    ann = {i: Detections(xyxy=[[0, 0, 1, 1]], class_id=[1 if i % 10 == 0 else 0]) for i in range(90)}
    ds = Dataset(categories=cats, images=images, annotations=ann)
    parts = ds.split(train=0.7, val=0.2, test=0.1, seed=7)
    assert {k: len(v) for k, v in parts.items()} == {"train": 70, "val": 20, "test": 10}
    ids = [r.id for p in parts.values() for r in p.images]
    assert sorted(ids) == list(range(100))
    for name, part in parts.items():
        assert {r.split for r in part.images} == {name}
        assert part.stats()["classes"]["rare"]["images"] >= 1  # stratified: the rare class is everywhere
        assert part.stats()["empty_images"] >= 1
    again = ds.split(train=0.7, val=0.2, test=0.1, seed=7)
    assert [r.id for r in again["val"].images] == [r.id for r in parts["val"].images]
    other = ds.split(train=0.7, val=0.2, test=0.1, seed=8)
    assert [r.id for r in other["val"].images] != [r.id for r in parts["val"].images]
    plain = ds.split(train=0.5, val=0.5, stratify=False)
    assert {k: len(v) for k, v in plain.items()} == {"train": 50, "val": 50}
    with pytest.raises(InvalidInputError, match="train"):
        ds.split(train=1.5)


def test_merge_unifies_categories_by_name_and_renumbers_ids() -> None:
    a = _ds(2)
    b = Dataset(
        categories=[Category(1, "car"), Category(2, "bird")],
        images=[ImageRecord(1, "other.jpg", 30, 30)],
        annotations={1: Detections(xyxy=[[0, 0, 3, 3], [1, 1, 4, 4]], class_id=[1, 2])},
    )
    m = a.merge(b)
    assert m.names == {1: "cat", 5: "dog", 9: "car", 10: "bird"}
    assert [r.id for r in m.images] == [1, 2, 3]
    assert m.annotations[3].labels == ["car", "bird"]
    assert m.num_objects == 5


def test_stats() -> None:
    s = _ds().stats()
    assert s["images"] == 4
    assert s["objects"] == 3
    assert s["empty_images"] == 2
    assert s["crowd"] == 1
    assert s["classes"]["dog"] == {"id": 5, "boxes": 1, "images": 1}
    assert s["box_sizes"] == {"small": 2, "medium": 1, "large": 0}
    assert sum(s["size_histogram"].values()) == 3


def test_validate_reports_file_and_record(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 12, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    ds = Dataset(
        categories=[Category(0, "a")],
        images=[
            ImageRecord(1, "a.png", 12, 10, path=tmp_path / "a.png"),
            ImageRecord(2, "b.png", 12, 10, path=tmp_path / "missing.png"),
            ImageRecord(3, "c.png", 12, 10, path=tmp_path / "broken.png"),
            ImageRecord(4, "d.png", 12, 11, path=tmp_path / "a.png"),
        ],
        annotations={
            1: Detections(
                xyxy=[[0, 0, 5, 5], [0, 0, 0, 5], [5, 5, 40, 9], [1, 1, 2, 2]],
                class_id=[0, 0, 0, 3],
                data={"annotation_id": [1, 2, 3, 1]},
            )
        },
    )
    messages = [str(i) for i in ds.validate()]
    assert "a.png [annotation id 2]: error: box has zero area: [0.0, 0.0, 0.0, 5.0]" in messages
    assert any("annotation id 3" in m and "outside the 12x10 image" in m for m in messages)
    assert any("unknown class id 3" in m for m in messages)
    assert any("duplicate annotation id 1" in m for m in messages)
    assert any(m.endswith("image file is missing") and "missing.png" in m for m in messages)
    assert any("unreadable image" in m and "broken.png" in m for m in messages)
    assert any("image is 12x10 but annotated as 12x11" in m for m in messages)
    assert len(messages) == 7


def test_from_predictions(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((30, 40, 3), np.uint8))
    d = Detections(xyxy=[[1, 1, 5, 5]], confidence=[0.7], class_id=[2], names={2: "bird"})
    ds = Dataset.from_predictions([(tmp_path / "x.png", d), (tmp_path / "x.png", Detections.empty())], root=tmp_path)
    assert ds.is_predictions
    assert [r.image_size_wh for r in ds.images] == [(40, 30), (40, 30)]
    assert ds.names == {2: "bird"}
    assert ds.images[0].path == tmp_path / "x.png"
    np.testing.assert_allclose(ds.annotations[1].confidence, [0.7])
    empty = Dataset.from_predictions([(ImageRecord(1, "a.jpg", 4, 4), Detections.empty())])
    assert empty.is_predictions


def test_issue_str() -> None:
    assert str(Issue("warning", "a.xml", "odd", record="object[2]")) == "a.xml [object[2]]: warning: odd"
