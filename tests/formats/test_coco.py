"""COCO read/write: exact round trip, ids, pycocotools and supervision interop, bad input, atomic output."""

from __future__ import annotations

import copy
import importlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectkit import AnnotationParseError, Detections, InvalidInputError
from detectkit.dataset import Category, Dataset, ImageRecord
from detectkit.formats import coco

coco_read = importlib.import_module("detectkit.formats.coco.read")  # the module (coco.read is the function)

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
GOLDEN = DATA / "coco_golden.json"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    return a[np.lexsort(a.T[::-1])]


def _minimal(**overrides: object) -> dict:
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}],
    }
    doc.update(overrides)
    return doc


def test_coco_to_coco_rewrites_exactly_what_it_read(tmp_path: Path) -> None:
    source = _load(GOLDEN)
    ds = coco.read(GOLDEN)
    coco.write(ds, tmp_path / "out.json")
    out = _load(tmp_path / "out.json")
    assert out == source  # boxes, polygons, RLE (both kinds), crowd flags, ids, categories, info, licenses, extras
    # ints stay ints, floats stay the same floats
    assert out["annotations"][1]["bbox"] == [30, 10, 15, 10]
    assert all(isinstance(v, int) for v in out["annotations"][1]["bbox"])
    assert out["annotations"][3]["bbox"] == [1234.5678, 999.125, 100.3333, 20.5]


def test_coco_round_trip_pretty_and_twice_is_stable(tmp_path: Path) -> None:
    ds = coco.read(GOLDEN)
    coco.write(ds, tmp_path / "a.json", indent=2)
    coco.write(coco.read(tmp_path / "a.json"), tmp_path / "b.json")
    assert _load(tmp_path / "b.json") == _load(GOLDEN)


def test_read_exposes_contract_fields() -> None:
    ds = coco.read(GOLDEN)
    assert [c.id for c in ds.categories] == [1, 18, 90]
    assert ds.categories[1] == Category(18, "dog", "animal")
    assert [r.id for r in ds.images] == [3, 8, 11]
    assert ds.images[0].file_name == "street/crème brûlée.jpg"
    dets = ds.annotations[3]
    assert dets.confidence is None
    assert dets.class_id.tolist() == [18, 1, 1]
    assert dets.names == {1: "person", 18: "dog", 90: "toothbrush"}
    assert dets.data["iscrowd"].tolist() == [0, 1, 0]
    assert dets.data["annotation_id"].tolist() == [101, 102, 103]
    assert dets.data["area"].dtype == np.float64
    assert isinstance(dets.data["segmentation"][1], dict)
    np.testing.assert_allclose(dets.xyxy[0], [4.25, 6.5, 24.375, 21.5])
    # images without annotations are kept, and iteration yields them
    assert len(ds.annotations[8]) == 0
    assert [(r.id, len(d)) for r, d in ds] == [(3, 3), (8, 0), (11, 2)]


def test_pycocotools_loads_every_file_we_write(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    ds = coco.read(GOLDEN)
    coco.write(ds, tmp_path / "out.json")
    with open(os.devnull, "w") as devnull:
        import contextlib

        with contextlib.redirect_stdout(devnull):
            api = COCO(str(tmp_path / "out.json"))
    assert sorted(api.getCatIds()) == [1, 18, 90]
    assert sorted(api.getImgIds()) == [3, 8, 11]
    for ann in api.loadAnns(api.getAnnIds()):
        if ann["segmentation"]:
            mask = api.annToMask(ann)  # polygons, compressed and uncompressed RLE all decode
            assert mask.shape == (api.imgs[ann["image_id"]]["height"], api.imgs[ann["image_id"]]["width"])
    # a dataset built from Detections (no COCO extras) loads too
    built = Dataset(
        categories=[Category(0, "a")],
        images=[ImageRecord(1, "x.jpg", 10, 10)],
        annotations={1: Detections(xyxy=[[1, 1, 5, 5]])},
    )
    coco.write(built, tmp_path / "built.json")
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        api = COCO(str(tmp_path / "built.json"))
    assert api.loadAnns(api.getAnnIds())[0]["bbox"] == [1, 1, 4, 4]


def test_supervision_loads_our_coco_with_the_same_boxes(tmp_path: Path) -> None:
    import cv2
    import supervision as sv

    images = tmp_path / "images"
    ds = coco.read(GOLDEN)
    for rec in ds.images:
        (images / rec.file_name).parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(Path(rec.file_name).suffix, np.zeros((rec.height, rec.width, 3), np.uint8))
        assert ok
        (images / rec.file_name).write_bytes(buf.tobytes())
    coco.write(ds, tmp_path / "out.json")
    sds = sv.DetectionDataset.from_coco(str(images), str(tmp_path / "out.json"))
    by_name = {Path(p).name: d for p, _, d in sds}
    for rec, dets in ds:
        theirs = by_name[Path(rec.file_name).name]
        np.testing.assert_allclose(_rows(theirs.xyxy), _rows(dets.xyxy), atol=1e-3)


def test_zero_based_source_exported_to_coco_starts_at_one(tmp_path: Path) -> None:
    ds = Dataset(
        categories=[Category(0, "cat"), Category(1, "dog")],
        images=[ImageRecord(1, "a.jpg", 10, 10)],
        annotations={1: Detections(xyxy=[[0, 0, 1, 1], [1, 1, 2, 2]], class_id=[0, 1])},
    )
    summary = coco.write(ds, tmp_path / "out.json")
    out = _load(tmp_path / "out.json")
    assert [c["id"] for c in out["categories"]] == [1, 2]
    assert [c["name"] for c in out["categories"]] == ["cat", "dog"]
    assert [a["category_id"] for a in out["annotations"]] == [1, 2]
    assert any("start at 1" in n for n in summary.notes)
    coco.write(ds, tmp_path / "keep.json", category_ids="keep")
    assert [c["id"] for c in _load(tmp_path / "keep.json")["categories"]] == [0, 1]


def test_non_contiguous_ids_survive(tmp_path: Path) -> None:
    doc = _minimal(
        categories=[{"id": 7, "name": "a"}, {"id": 91, "name": "b"}],
        annotations=[
            {"id": 1, "image_id": 1, "category_id": 91, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
        ],
    )
    ds = coco.read(_write_json(tmp_path / "in.json", doc))
    assert ds.names == {7: "a", 91: "b"}
    coco.write(ds, tmp_path / "out.json")
    assert [a["category_id"] for a in _load(tmp_path / "out.json")["annotations"]] == [91, 7]


def test_annotation_ids_are_unique_across_the_file(tmp_path: Path) -> None:
    anns = [
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
        {"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
        {"image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
    ]
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
        {"id": 2, "file_name": "b.jpg", "width": 10, "height": 10},
    ]
    ds = coco.read(_write_json(tmp_path / "in.json", _minimal(images=images, annotations=anns)))
    summary = coco.write(ds, tmp_path / "out.json")
    ids = [a["id"] for a in _load(tmp_path / "out.json")["annotations"]]
    assert len(set(ids)) == 3
    assert ids[0] == 5
    assert any("renumbered" in n for n in summary.notes)
    # a dataset built per image from Detections gets 1..N, unique across images
    built = Dataset(
        categories=[Category(1, "a")],
        images=[ImageRecord(i, f"{i}.jpg", 10, 10) for i in (1, 2)],
        annotations={i: Detections(xyxy=[[0, 0, 1, 1]] * 2, class_id=[1, 1]) for i in (1, 2)},
    )
    coco.write(built, tmp_path / "built.json")
    assert [a["id"] for a in _load(tmp_path / "built.json")["annotations"]] == [1, 2, 3, 4]


def test_merge_then_write_keeps_ids_unique(tmp_path: Path) -> None:
    a = coco.read(GOLDEN)
    merged = a.merge(coco.read(GOLDEN))
    coco.write(merged, tmp_path / "m.json")
    out = _load(tmp_path / "m.json")
    ids = [x["id"] for x in out["annotations"]]
    assert len(ids) == len(set(ids)) == 10
    assert len({x["id"] for x in out["images"]}) == 6


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"images": [\n{"id": 1,,}]}', 2),
        ('{\n\n  "images": [}', 3),
        ('{"images": [], "annotations": [\n{"image_id": 1}, \n{"image_id": 1,, }]}', 3),  # in the chunked part
        ("", 1),  # an empty file (cannot be memory-mapped)
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_malformed_json_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, chunked: bool
) -> None:
    if chunked:
        monkeypatch.setattr(coco._fast, "WHOLE_DECODE_BYTES", 0)
        monkeypatch.setattr(coco._fast, "ANN_CHUNK_BYTES", 1)
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(AnnotationParseError) as info:
        coco.read(path)
    assert info.value.path == path
    assert info.value.line == line
    assert str(path) in str(info.value)


def test_wrong_structure_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationParseError, match="'images' list"):
        coco.read(_write_json(tmp_path / "x.json", {"foo": 1}))
    with pytest.raises(AnnotationParseError, match="results list"):
        coco.read(_write_json(tmp_path / "r.json", [{"image_id": 1}]))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}, "bbox must have 4 numbers"),
        ({"image_id": 1, "category_id": 1}, "missing 'bbox'"),
        ({"image_id": 42, "category_id": 1, "bbox": [1, 2, 3, 4]}, "unknown image_id 42"),
        ({"image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]}, "unknown category_id 9"),
        ({"image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4]}, "non-negative width"),
        ({"image_id": 1, "category_id": "cat", "bbox": [1, 2, 3, 4]}, "category_id must be an integer"),
    ],
)
def test_bad_record_is_skipped_with_warning_or_raises_when_strict(tmp_path: Path, bad: dict, message: str) -> None:
    doc = _minimal()
    doc["annotations"].append(bad)
    path = _write_json(tmp_path / "in.json", doc)
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        ds = coco.read(path)
    assert ds.num_objects == 1
    assert len(ds.issues) == 1
    assert ds.issues[0].record == "annotations[1]"
    assert message in ds.issues[0].message
    with pytest.raises(AnnotationParseError, match=message) as info:
        coco.read(path, strict=True)
    assert info.value.record == "annotations[1]"


def test_file_names_cannot_escape_the_dataset(tmp_path: Path) -> None:
    doc = _minimal(images=[{"id": 1, "file_name": "../../etc/passwd", "width": 10, "height": 10}], annotations=[])
    path = _write_json(tmp_path / "in.json", doc)
    with pytest.raises(AnnotationParseError, match="inside the dataset folder"):
        coco.read(path, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(coco.read(path)) == 0
    with pytest.raises(InvalidInputError, match="inside"):
        Dataset(categories=[], images=[ImageRecord(1, "/abs/x.jpg", 4, 4)]).to_yolo(tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_sizes_missing_from_json_come_from_the_image_header(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((21, 34, 3), np.uint8))
    doc = _minimal(images=[{"id": 1, "file_name": "a.png"}])
    ds = coco.read(_write_json(tmp_path / "in.json", doc))
    assert ds.images[0].image_size_wh == (34, 21)
    assert ds.images[0].path == tmp_path / "a.png"


def test_write_is_atomic_and_never_half_written(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous")
    ds = coco.read(GOLDEN)
    bad = Dataset(
        categories=[Category(1, "a")],
        images=[ImageRecord(1, "a.jpg", 10, 10, extra={"not_json": object()})],
    )
    with pytest.raises(TypeError):
        coco.write(bad, target)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left behind
    coco.write(ds, target)
    assert _load(target) == _load(GOLDEN)


def test_numpy_values_and_nan_in_extras_are_written_as_plain_json(tmp_path: Path) -> None:
    ds = Dataset(
        categories=[Category(1, "a", extra={"weight": np.float32(0.5), "ids": np.arange(3)})],
        images=[ImageRecord(1, "a.jpg", 10, 10, extra={"score": float("nan"), "n": np.int64(4)})],
    )
    coco.write(ds, tmp_path / "out.json")
    text = (tmp_path / "out.json").read_text(encoding="utf-8")
    doc = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert doc["categories"][0]["weight"] == 0.5
    assert doc["categories"][0]["ids"] == [0, 1, 2]
    assert doc["images"][0]["score"] is None
    assert doc["images"][0]["n"] == 4
    coco.write(ds, tmp_path / "pretty.json", indent=2)
    assert json.loads((tmp_path / "pretty.json").read_text(encoding="utf-8")) == doc


def test_reading_and_writing_do_not_mutate_inputs(tmp_path: Path) -> None:
    before = GOLDEN.read_bytes()
    ds = coco.read(GOLDEN)
    snapshot = copy.deepcopy(ds.annotations[3].data["segmentation"].tolist())
    coco.write(ds, tmp_path / "o.json")
    ds.to_yolo(tmp_path / "y", task="segment")
    assert GOLDEN.read_bytes() == before
    assert ds.annotations[3].data["segmentation"].tolist() == snapshot


def test_results_round_trip(tmp_path: Path) -> None:
    gt = coco.read(GOLDEN)
    results = [
        {"image_id": 3, "category_id": 18, "bbox": [4, 6, 20, 15], "score": 0.9},
        {"image_id": 11, "category_id": 90, "bbox": [1, 2, 3, 4], "score": 0.25},
    ]
    preds = coco.read_results(_write_json(tmp_path / "res.json", results), dataset=gt)
    assert preds.is_predictions
    assert len(preds) == 3
    np.testing.assert_allclose(preds.annotations[3].confidence, [0.9])
    coco.write_results(preds, tmp_path / "again.json")
    assert _load(tmp_path / "again.json") == results
    with pytest.raises(InvalidInputError, match="predictions"):
        coco.write_results(gt, tmp_path / "x.json")


def test_pycocotools_evaluates_our_results_file(tmp_path: Path) -> None:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = coco.read(GOLDEN)
    coco.write(gt, tmp_path / "gt.json")
    # predictions equal to the non-crowd ground truth -> AP 1
    items = []
    for rec, dets in gt:
        keep = dets.data["iscrowd"] == 0
        d = dets[keep]
        items.append((rec, Detections(xyxy=d.xyxy, confidence=np.full(len(d), 0.9), class_id=d.class_id)))
    preds = Dataset.from_predictions(items, names=gt.names)
    preds.source_format = "coco"
    coco.write_results(preds, tmp_path / "res.json")
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(api, api.loadRes(str(tmp_path / "res.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_fast_and_checked_parsers_agree() -> None:
    from detectkit.formats._common import IssueLog

    doc = _load(GOLDEN)
    position = {im["id"]: i for i, im in enumerate(doc["images"])}
    cats = {c["id"] for c in doc["categories"]}
    fast = coco._fast.fast_table(doc["annotations"], position, cats, results=False)
    checked, _ = coco_read._checked_table(GOLDEN, doc["annotations"], position, cats, IssueLog(True), results=False)
    assert fast is not None
    np.testing.assert_array_equal(fast.xyxy, checked.xyxy)
    np.testing.assert_array_equal(fast.class_id, checked.class_id)
    np.testing.assert_array_equal(fast.image_index, checked.image_index)
    assert fast.data.keys() == checked.data.keys()
    for key in fast.data:
        assert fast.data[key].tolist() == checked.data[key].tolist() or key == "area"
    np.testing.assert_array_equal(fast.data["area"], checked.data["area"])


_number = st.one_of(
    st.integers(0, 10_000),
    st.floats(0, 10_000, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    boxes=st.lists(st.tuples(_number, _number, _number, _number, st.sampled_from([0, 1])), max_size=15),
    cat_ids=st.sets(st.integers(1, 1000), min_size=1, max_size=4),
    image_ids=st.sets(st.integers(0, 10**9), min_size=1, max_size=4),
)
def test_coco_round_trip_property(tmp_path: Path, boxes: list, cat_ids: set, image_ids: set) -> None:
    cats = sorted(cat_ids)
    imgs = sorted(image_ids)
    doc = {
        "info": {},
        "licenses": [],
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in imgs],
        "annotations": [
            {
                "id": k + 1,
                "image_id": imgs[k % len(imgs)],
                "category_id": cats[k % len(cats)],
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": c,
                "segmentation": [],
            }
            for k, (x, y, w, h, c) in enumerate(boxes)
        ],
        "categories": [{"id": c, "name": f"c{c}"} for c in cats],
    }
    src = _write_json(tmp_path / "p.json", doc)
    coco.write(coco.read(src), tmp_path / "q.json")
    assert _load(tmp_path / "q.json") == doc


def test_convert_to_an_existing_file_needs_overwrite(tmp_path: Path) -> None:
    from detectkit.formats import convert

    target = tmp_path / "out.json"
    target.write_text("keep")
    with pytest.raises(InvalidInputError, match="overwrite"):
        convert(GOLDEN, target, to="coco")
    assert target.read_text() == "keep"
    convert(GOLDEN, target, to="coco", overwrite=True)
    assert _load(target) == _load(GOLDEN)


def _snapshot(ds: Dataset) -> tuple:
    """Everything a reader produced, in comparable form."""
    t = ds.table
    data = {k: [repr(v) for v in np.asarray(a).tolist()] for k, a in t.data.items()}
    data.update({f"{f}.{k}": [repr(v) for v in a.tolist()] for f, cols in t.extras.items() for k, a in cols.items()})
    if t.provenance is not None:
        data["provenance"] = [repr(t.provenance.where(i)) for i in range(len(t))]
    return (
        [(c.id, c.name, c.supercategory, dict(c.extra)) for c in ds.categories],
        [(r.id, r.file_name, r.width, r.height, r.path, dict(r.extra), list(r.extra)) for r in ds.images],
        t.xyxy.tolist(),
        t.class_id.tolist(),
        t.image_index.tolist(),
        None if t.confidence is None else t.confidence.tolist(),
        data,
        ds.info,
        ds.licenses,
        [str(i) for i in ds.issues],
    )


_DECODER_CASES = {
    "golden": _load(GOLDEN),
    "minimal": _minimal(),
    "coco-release image keys": _minimal(
        images=[
            {
                "license": 4,
                "file_name": "a.jpg",
                "coco_url": "http://x/a.jpg",
                "height": 80,
                "width": 100,
                "date_captured": "2013-11-14 17:02:52",
                "flickr_url": "http://y/a.jpg",
                "id": 1,
            }
        ]
    ),
    "unknown annotation key": _minimal(
        annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "attributes": {"occluded": 1}}]
    ),
    "bool crowd, no id/area": _minimal(
        annotations=[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": True}]
    ),
    "float width": _minimal(images=[{"id": 1, "file_name": "a.jpg", "width": 100.0, "height": 80}]),
    "unknown image id": _minimal(
        annotations=[
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4]},
        ]
    ),
    "polygons, RLE and null segmentation": _minimal(
        annotations=[
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "segmentation": [[1, 2, 4, 2, 4, 6.5]]},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 2, 3, 4],
                "segmentation": [[1, 2, 4, 2, 4, 6], [0, 0, 1, 0, 1, 1]],
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 2, 2],
                "iscrowd": 1,
                "segmentation": {"size": [80, 100], "counts": [0, 4, 8000]},
            },
            {
                "id": 4,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 2, 2],
                "segmentation": {"size": [80, 100], "counts": "PPYo0"},
            },
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "segmentation": None},
            {"id": 6, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "segmentation": []},
        ]
    ),
    "negative width box": _minimal(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4]}]),
    "short bbox": _minimal(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]),
    "no annotations key": {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": []},
    "empty": {"images": [], "annotations": [], "categories": []},
}


def _many(n: int, late: dict | None = None, at: int = -1) -> dict:
    """Two images, ``n`` box annotations; ``late`` replaces fields of annotation ``at`` (the last)."""
    anns = [{"id": k + 1, "image_id": 1 + k % 2, "category_id": 1, "bbox": [k, 2, 3, 4]} for k in range(n)]
    anns[at].update(late or {})
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80} for i in (1, 2)]
    return _minimal(images=images, annotations=anns)


# cases that matter once the annotation text is decoded in chunks: a problem in a late chunk,
# and text that looks like an object boundary inside a value
_DECODER_CASES.update(
    {
        "many boxes": _many(300),
        "late unknown image id": _many(300, {"image_id": 9}),
        "late unknown category": _many(300, {"category_id": 7}),
        "late bool crowd": _many(300, {"iscrowd": True}),
        "late extra key": _many(300, {"note": "},{"}),
        "boundary-like text in values": _many(
            40, {"segmentation": {"size": [80, 100], "counts": "a},{b}, {c"}, "iscrowd": 1}, at=20
        ),
        "nested objects in segmentation": _many(40, {"segmentation": [{"a": 1}, {"b": [{"c": 2}, {"d": 3}]}]}),
    }
)


@pytest.mark.parametrize("layout", ["compact", "indented"])
@pytest.mark.parametrize("chunk_bytes", [None, 1, 200])
@pytest.mark.parametrize("case", list(_DECODER_CASES))
def test_typed_fast_decoder_reads_exactly_what_the_json_path_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, chunk_bytes: int | None, layout: str
) -> None:
    """The typed route, decoding the whole file (``None``, small files) or its annotation text
    in chunks of any size (1 byte: one object each; large files), reads exactly what the
    generic ``json`` route reads."""
    import msgspec

    src = tmp_path / "in.json"
    indent = 2 if layout == "indented" else None
    src.write_text(json.dumps(_DECODER_CASES[case], ensure_ascii=False, indent=indent), encoding="utf-8")
    if chunk_bytes is not None:
        monkeypatch.setattr(coco._fast, "WHOLE_DECODE_BYTES", 0)
        monkeypatch.setattr(coco._fast, "ANN_CHUNK_BYTES", chunk_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = _snapshot(coco.read(src))

        class Refuse:
            def decode(self, data: bytes) -> None:
                raise msgspec.ValidationError("forced")

        monkeypatch.setattr(
            coco._fast, "typed_decoders", lambda: coco._fast.Decoders(Refuse(), Refuse(), Refuse(), Refuse())
        )
        plain = _snapshot(coco.read(src))
    assert fast == plain


@pytest.mark.parametrize("chunked", [False, True])
def test_common_coco_shapes_take_the_typed_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool) -> None:
    """Files of the common shape never reach the generic ``json`` route; the others do."""
    calls: list[Path] = []
    plain = coco_read.decode_plain

    def spy(path: Path, data: bytes) -> Any:
        calls.append(path)
        return plain(path, data)

    monkeypatch.setattr(coco_read, "decode_plain", spy)
    if chunked:
        monkeypatch.setattr(coco._fast, "WHOLE_DECODE_BYTES", 0)
        monkeypatch.setattr(coco._fast, "ANN_CHUNK_BYTES", 1)  # every annotation in a chunk of its own
    typed = ["minimal", "coco-release image keys", "polygons, RLE and null segmentation", "negative width box"]
    typed += ["many boxes", "late unknown image id", "boundary-like text in values", "nested objects in segmentation"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in typed:
            coco.read(_write_json(tmp_path / "in.json", _DECODER_CASES[case]))
            assert not calls, case
        other = ["golden", "unknown annotation key", "bool crowd, no id/area", "float width", "short bbox"]
        for case in [*other, "late bool crowd", "late extra key"]:
            coco.read(_write_json(tmp_path / "in.json", _DECODER_CASES[case]))
            assert len(calls) == 1, case
            calls.clear()
        gt = coco.read(_write_json(tmp_path / "gt.json", _minimal()))
        res = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]
        coco.read_results(_write_json(tmp_path / "res.json", res), dataset=gt)
    assert not calls


@pytest.mark.parametrize("indent", [None, 2])
def test_annotation_text_is_decoded_in_chunks_at_object_boundaries(
    monkeypatch: pytest.MonkeyPatch, indent: int | None
) -> None:
    decoder = coco._fast.typed_decoders().annotations
    for case, chunk_bytes, expected_chunks in (
        ("many boxes", 1, 300),
        ("many boxes", 1 / 4, 4),
        ("many boxes", 1.0, 1),
        # one object per chunk up to the 21st, whose counts text looks like a boundary: from
        # there the rest is decoded in one piece
        ("boundary-like text in values", 1, 21),
    ):
        text = json.dumps(_DECODER_CASES[case]["annotations"], indent=indent).encode()
        size = chunk_bytes if isinstance(chunk_bytes, int) else int(len(text) * chunk_bytes)
        monkeypatch.setattr(coco._fast, "ANN_CHUNK_BYTES", size)
        chunks = list(coco._fast.decoded_chunks(memoryview(text), decoder))
        assert len(chunks) == expected_chunks, (case, size)
        assert [r for rows, _ in chunks for r in rows] == decoder.decode(text)
        assert chunks[-1][1] == len(text.rstrip()) - 1  # consumed up to the closing "]"
    for bad in (b"", b"{}", b"[", b'[{"image_id": 1}]', b"[1, 2]"):
        with pytest.raises(coco._fast.OtherShapeError):
            list(coco._fast.decoded_chunks(memoryview(bad), decoder))
    assert list(coco._fast.decoded_chunks(memoryview(b" [ ] "), decoder)) == []


def test_typed_and_json_results_readers_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import msgspec

    gt = coco.read(_write_json(tmp_path / "gt.json", _minimal()))
    rows = [
        {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [5.5, 2, 3, 4], "score": 0.25, "segmentation": [[0, 0, 1, 0, 1, 1]]},
        {"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5},  # unknown image: skipped
    ]
    src = _write_json(tmp_path / "res.json", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = _snapshot(coco.read_results(src, dataset=gt))

        class Refuse:
            def decode(self, data: bytes) -> None:
                raise msgspec.ValidationError("forced")

        monkeypatch.setattr(
            coco._fast, "typed_decoders", lambda: coco._fast.Decoders(Refuse(), Refuse(), Refuse(), Refuse())
        )
        plain = _snapshot(coco.read_results(src, dataset=gt))
    assert fast == plain
    assert len(fast[3]) == 2


def test_typed_path_keeps_segmentation_encoded_until_needed(tmp_path: Path) -> None:
    """Polygons and RLE stay JSON text in the table (no Python floats), come out decoded in
    ``Detections`` and in other formats, and are rewritten byte for byte."""
    import msgspec

    doc = _DECODER_CASES["polygons, RLE and null segmentation"]
    src = _write_json(tmp_path / "in.json", doc)
    ds = coco.read(src)
    column = ds.table.data.raw("segmentation").tolist()
    assert [type(v).__name__ for v in column] == ["Raw", "Raw", "Raw", "Raw", "NoneType", "list"]
    assert ds.detections(1).data["segmentation"].tolist() == [a.get("segmentation") for a in doc["annotations"]]
    coco.write(ds, tmp_path / "out.json")
    written = _load(tmp_path / "out.json")["annotations"]
    for got, source in zip(written, doc["annotations"], strict=True):
        assert got.get("segmentation") == source.get("segmentation")  # an explicit null is written as absent
        assert got["bbox"] == source["bbox"]
    raw_text = (tmp_path / "out.json").read_bytes()
    assert b'"segmentation":[[1, 2, 4, 2, 4, 6.5]]' in raw_text  # the source text, verbatim (its spaces too)
    from detectkit.formats import yolo

    yolo.write(ds, tmp_path / "y", task="segment")
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    assert len(lines) == 4  # two polygons, and boxes as polygons for the null / empty ones; RLE reported
    assert isinstance(msgspec.json.decode(b"[]"), list)


def test_image_paths_on_the_typed_route_match_the_json_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import msgspec

    images = [{"id": 5 - i, "file_name": f"sub/{i}.jpg", "width": 10 + i, "height": 8} for i in range(4)]
    src = _write_json(tmp_path / "in.json", _minimal(images=images, annotations=[]))
    (tmp_path / "sub").mkdir()
    for i in range(4):
        (tmp_path / "sub" / f"{i}.jpg").write_bytes(b"x")
    fast = coco.read(src)

    class Refuse:
        def decode(self, data: bytes) -> None:
            raise msgspec.ValidationError("forced")

    monkeypatch.setattr(
        coco._fast, "typed_decoders", lambda: coco._fast.Decoders(Refuse(), Refuse(), Refuse(), Refuse())
    )
    plain = coco.read(src)
    assert fast.images == plain.images
    assert [r.path for r in fast.images] == [tmp_path / "sub" / f"{i}.jpg" for i in range(4)]
    assert [r.id for r in fast.images] == [5, 4, 3, 2]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_dataset_does_not_change_when_its_source_file_is_rewritten_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    """Polygons stay JSON text until needed; that text must not be a view of the file (or of a
    memory map of it), or rewriting the file in place would change or crash the dataset."""
    if chunked:
        monkeypatch.setattr(coco._fast, "WHOLE_DECODE_BYTES", 0)
        monkeypatch.setattr(coco._fast, "ANN_CHUNK_BYTES", 1)
    doc = _DECODER_CASES["polygons, RLE and null segmentation"]
    src = _write_json(tmp_path / "in.json", doc)
    ds = coco.read(src)
    with open(src, "r+b") as fh:  # same inode: truncate, then other bytes
        fh.truncate(0)
        fh.write(b" " * 10)
    got = ds.detections(1).data["segmentation"].tolist()
    assert got == [a.get("segmentation") for a in doc["annotations"]]


def test_columns_grow_past_their_first_capacity() -> None:
    """``_Columns`` is sized from an upper bound of rows; should the bound ever be short, it
    grows and keeps every row (object columns included)."""
    from detectkit.table import ObjectTable

    def table(start: int, k: int) -> ObjectTable:
        seg = np.empty(k, dtype=object)
        seg[:] = [[float(i)] for i in range(start, start + k)]
        xyxy = np.arange(start * 4, (start + k) * 4, dtype=np.float64).reshape(k, 4)
        rows = np.arange(start, start + k, dtype=np.int64)
        return ObjectTable(xyxy, rows % 3, rows, None, {"segmentation": seg, "_coco_index": rows})

    columns = coco._fast.Columns(2)
    for start, k in ((0, 1), (1, 3), (4, 6)):
        columns.add(table(start, k))
    got = columns.table()
    assert columns.capacity >= 10
    np.testing.assert_array_equal(got.xyxy, np.arange(40, dtype=np.float64).reshape(10, 4))
    assert got.class_id.tolist() == [i % 3 for i in range(10)]
    assert got.data["_coco_index"].tolist() == list(range(10))
    assert got.data["segmentation"].tolist() == [[float(i)] for i in range(10)]


def test_the_rules_reach_the_fast_path_through_one_call_per_operation() -> None:
    """``read.py`` / ``results.py`` / ``write.py`` (the rules) use the private fast modules only
    through their selectors (each may only decline with ``None``): a file (``_fast.read``), a
    results file (``_fast.read_results``), records already decoded (``_fast.fast_table``), and
    the annotation rows to encode (``_fast_write.annotation_rows``)."""
    import ast

    allowed = {"_fast": {"read", "read_results", "fast_table"}, "_fast_write": {"annotation_rows"}}
    package = Path(coco.__file__).parent
    used: dict[str, set[str]] = {"_fast": set(), "_fast_write": set()}
    for name in ("read.py", "results.py", "write.py"):
        for node in ast.walk(ast.parse((package / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in used:
                used[node.value.id].add(node.attr)
    assert used == allowed


@pytest.mark.parametrize("case", sorted(_DECODER_CASES))
def test_the_writers_fast_rows_write_the_same_bytes_as_its_dicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Every decoder edge case (and each as predictions, and through YOLO, where nothing comes
    from COCO) written with the struct rows and with the writer's dicts: the same bytes (or the
    same error)."""
    from detectkit.formats import yolo

    fast_write = importlib.import_module("detectkit.formats.coco._fast_write")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = coco.read(_write_json(tmp_path / "in.json", _DECODER_CASES[case]))
        t = ds.table
        scored = Dataset.from_table(
            ds.categories, ds.images, t.replace(confidence=np.linspace(0, 1, len(t), dtype=np.float32)), info=ds.info
        )
        datasets = [ds, scored]
        if len(ds.images):
            yolo.write(ds, tmp_path / "y", task="detect")
            datasets.append(yolo.read(tmp_path / "y"))

    def written(dataset: Dataset, name: str, indent: int | None) -> bytes | str:
        try:
            coco.write(dataset, tmp_path / name, indent=indent)
        except Exception as exc:  # the same failure both ways is what is compared
            return type(exc).__name__
        return (tmp_path / name).read_bytes()

    for k, dataset in enumerate(datasets):
        for indent in (None, 2):
            fast = written(dataset, f"fast{k}{indent}.json", indent)
            with monkeypatch.context() as m:
                m.setattr(fast_write, "annotation_rows", lambda columns, per_object_keys: None)
                plain = written(dataset, f"plain{k}{indent}.json", indent)
            assert fast == plain, (case, k, indent)
    assert isinstance(written(ds, "check.json", None), bytes)  # a file read is written back


def test_a_folder_with_one_json_reads_it_and_several_are_named(tmp_path: Path) -> None:
    """A Roboflow COCO split folder holds one ``_annotations.coco.json``; the COCO release's
    ``annotations/`` holds several, which must be named rather than failing on "Is a directory"."""
    from detectkit.formats import read as read_any

    split = tmp_path / "train"
    split.mkdir()
    shutil.copy(GOLDEN, split / "_annotations.coco.json")
    whole = coco.read(split / "_annotations.coco.json", require_files=False)
    assert coco.read(split, require_files=False).images == whole.images
    assert read_any(split).source_format == "coco"
    (tmp_path / "release" / "annotations").mkdir(parents=True)
    for name in ("instances_val.json", "person_keypoints_val.json"):
        shutil.copy(GOLDEN, tmp_path / "release" / "annotations" / name)
    with pytest.raises(InvalidInputError, match=r"2 JSON files \(annotations/instances_val.json, annotations/person_"):
        coco.read(tmp_path / "release")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="is a folder holding no JSON file"):
        coco.read(tmp_path / "empty")


def test_a_roboflow_coco_export_reads_as_one_dataset_with_its_splits(tmp_path: Path) -> None:
    """Roboflow's "COCO" export: README files beside train/ and valid/, each holding its images
    and one ``_annotations.coco.json`` (image and annotation ids restart at 0 in every split)."""
    from PIL import Image

    from detectkit.formats import convert, detect_format
    from detectkit.formats import read as read_any

    root = tmp_path / "export"
    shutil.copytree(DATA / "roboflow_coco", root)
    for split in ("train", "valid"):
        for im in _load(root / split / "_annotations.coco.json")["images"]:
            Image.new("RGB", (im["width"], im["height"])).save(root / split / im["file_name"])
    assert detect_format(root) == "coco"  # not YOLO, despite the README .txt files
    ds = read_any(root)
    assert [(r.split, r.file_name[:7]) for r in ds.images] == [
        ("train", "img_001"),
        ("train", "img_002"),
        ("val", "img_003"),
    ]
    assert len({r.id for r in ds.images}) == 3  # the second split's ids were renumbered
    assert all(r.path is not None and r.path.is_file() for r in ds.images)
    assert ds.names == {0: "pets", 1: "cat", 2: "dog"}
    assert [d.labels for _, d in ds] == [["cat", "dog"], ["dog"], ["cat"]]
    convert(root, tmp_path / "yolo", to="yolo")
    assert sorted(p.name for p in (tmp_path / "yolo" / "images").iterdir()) == ["train", "val"]
