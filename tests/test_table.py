"""The public column table (``detectkit.table``) and the ``Dataset`` constructors built on it."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pytest

from detectkit import Detections
from detectkit.dataset import Category, Dataset, ImageRecord
from detectkit.errors import InvalidInputError
from detectkit.formats import coco, yolo
from detectkit.table import Columns, ObjectTable, Provenance, decode_values

GOLDEN = Path(__file__).parent / "data" / "formats" / "coco_golden.json"


def _table(n: int, *, image: int = 0, conf: bool = False) -> ObjectTable:
    xyxy = np.tile(np.array([[0.0, 0, 2, 2]]), (n, 1)) + np.arange(n)[:, None]
    return ObjectTable(
        xyxy,
        np.arange(n, dtype=np.int64),
        np.full(n, image, np.int64),
        np.linspace(0.1, 0.9, n).astype(np.float32) if conf else None,
        {"area": np.full(n, 4.0)},
    )


def test_concat_fills_missing_columns_and_provenance() -> None:
    a = _table(2)
    b = _table(1, image=1).replace(
        data={"iscrowd": np.array([1])},
        provenance=Provenance.of_lines(np.array(["l.txt"], dtype=object), np.array([7])),
    )
    b.extras["coco"] = {"bbox": np.array([[1.0, 2, 3, 4]])}
    t = ObjectTable.concat([a, b])
    assert t.data["area"].tolist()[:2] == [4.0, 4.0]
    assert np.isnan(t.data["area"][2])
    assert t.data["iscrowd"].tolist() == [0, 0, 1]
    assert np.isnan(t.extras["coco"]["bbox"][:2]).all()
    assert t.provenance is not None
    assert [t.provenance.where(i) for i in range(3)] == [(None, None, None)] * 2 + [("l.txt", None, 7)]


def test_concat_refuses_predictions_with_ground_truth() -> None:
    with pytest.raises(InvalidInputError, match="predictions"):
        ObjectTable.concat([_table(1), _table(1, conf=True)])


def test_take_and_sorted_keep_rows_together() -> None:
    t = ObjectTable.concat([_table(2, image=1), _table(2, image=0)])
    t.provenance = Provenance.of_records("a.json", "annotations", np.arange(4))
    s = t.sorted()
    assert s.image_index.tolist() == [0, 0, 1, 1]
    assert s.provenance is not None
    assert s.provenance.record.tolist() == [2, 3, 0, 1]
    assert s.row_offsets(3).tolist() == [0, 2, 4, 4]


def test_encoded_columns_decode_on_access_only() -> None:
    raw = np.empty(2, dtype=object)
    raw[:] = [msgspec.Raw(b"[[1, 2, 3, 4, 5, 6]]"), None]
    c = Columns({"segmentation": raw}, encoded=["segmentation"])
    assert "segmentation" in c
    assert c.is_encoded("segmentation")
    assert type(c.raw("segmentation")[0]) is msgspec.Raw
    assert c.rows("segmentation", slice(0, 1)).tolist() == [[[1, 2, 3, 4, 5, 6]]]
    assert c.is_encoded("segmentation")
    taken = c.take(np.array([0]))
    assert taken.is_encoded("segmentation")
    assert c["segmentation"].tolist() == [[[1, 2, 3, 4, 5, 6]], None]
    assert not c.is_encoded("segmentation")
    assert decode_values(raw)[0] == [[1, 2, 3, 4, 5, 6]]


def test_dataset_from_table_and_public_views() -> None:
    t = ObjectTable(np.array([[1.0, 2, 3, 4], [0, 0, 1, 1]]), np.array([7, 7]), np.array([1, 0]))
    ds = Dataset.from_table([Category(7, "kite")], [ImageRecord(5, "a.jpg", 8, 8), ImageRecord(6, "b.jpg", 8, 8)], t)
    assert ds.row_offsets.tolist() == [0, 1, 2]
    assert ds.table.image_index.tolist() == [0, 1]
    assert ds.rows_of(1) == slice(1, 2)
    assert ds.boxes(6).tolist() == [[1.0, 2, 3, 4]]
    with pytest.raises(InvalidInputError, match="image_index"):
        Dataset.from_table([], [ImageRecord(1, "a.jpg", 4, 4)], t)


def test_concat_of_splits_is_the_dataset_again() -> None:
    ds = coco.read(GOLDEN)
    parts = ds.split(train=0.5, val=0.5, seed=3)
    back = Dataset.concat(list(parts.values()))
    assert sorted(r.id for r in back.images) == sorted(r.id for r in ds.images)
    assert back.num_objects == ds.num_objects
    for rec in ds.images:
        np.testing.assert_array_equal(back.boxes(rec.id), ds.boxes(rec.id))
    with pytest.raises(InvalidInputError, match="categories"):
        Dataset.concat([ds, ds.filter(classes=[ds.categories[0].id])])


def test_provenance_names_the_source_record(tmp_path: Path) -> None:
    doc = json.loads(GOLDEN.read_text())
    doc["annotations"][1]["bbox"] = [1, 1, 0, 5]  # zero width: validate reports it
    src = tmp_path / "gt.json"
    src.write_text(json.dumps(doc))
    issues = [i for i in coco.read(src).validate(check_images=False) if "zero area" in i.message]
    assert [(i.path, i.record) for i in issues] == [(str(src), "annotations[1]")]
    convert_dir = tmp_path / "y"
    coco.read(src).write(convert_dir, format="yolo")
    y = yolo.read(convert_dir)
    p = y.table.provenance
    assert p is not None
    assert all(isinstance(f, str) and f.endswith(".txt") for f in p.file.tolist())
    assert (p.line >= 1).all()


def test_merge_keeps_each_source_order_in_coco_output(tmp_path: Path) -> None:
    a = coco.read(GOLDEN)
    other = tmp_path / "b.json"
    other.write_text(GOLDEN.read_text())
    m = a.merge(coco.read(other))
    m.write(tmp_path / "m.json", format="coco")
    anns = json.loads((tmp_path / "m.json").read_text())["annotations"]
    source = json.loads(GOLDEN.read_text())["annotations"]
    n = len(source)
    assert [x["bbox"] for x in anns[:n]] == [x["bbox"] for x in source]
    assert [x["bbox"] for x in anns[n:]] == [x["bbox"] for x in source]


def test_dataset_built_from_detections_has_no_provenance() -> None:
    ds = Dataset(
        categories=[Category(0, "a")],
        images=[ImageRecord(1, "x.jpg", 4, 4)],
        annotations={1: Detections(xyxy=[[0, 0, 1, 1]])},
    )
    assert ds.table.provenance is None
    assert ds.table.extras == {}
