"""The "shapes" dataset generator (datasets/generate.py) and the committed sample datasets/shapes/."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from _scripts import load_script

from detectkit.boxes import convert
from detectkit.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets" / "shapes"


gen = load_script("detectkit_shapes_generate", "datasets/generate.py")


def _read_yolo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    cls = np.array([int(r[0]) for r in rows], dtype=np.int64)
    boxes = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float64).reshape(-1, 4)
    return cls, boxes


def _files(root: Path, sub: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / sub).iterdir())}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    gen.generate_dataset(out, seed=7, splits={"train": 4, "val": 3})
    return out


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_images_and_objects() -> None:
    for split, index in [("train", 0), ("train", 5), ("val", 2)]:
        img_a, objs_a = gen.generate_image(3, split, index)
        img_b, objs_b = gen.generate_image(3, split, index)
        assert np.array_equal(img_a, img_b)
        assert [(o.class_id, o.xyxy, o.visibility) for o in objs_a] == [
            (o.class_id, o.xyxy, o.visibility) for o in objs_b
        ]
        for a, b in zip(objs_a, objs_b):
            assert np.array_equal(a.polygon, b.polygon)


def test_different_seed_split_or_index_differ() -> None:
    base, _ = gen.generate_image(3, "train", 0)
    for other in [
        gen.generate_image(4, "train", 0)[0],
        gen.generate_image(3, "val", 0)[0],
        gen.generate_image(3, "train", 1)[0],
    ]:
        assert base.shape != other.shape or not np.array_equal(base, other)


def test_generate_dataset_is_byte_identical(tmp_path: Path, small_dataset: Path) -> None:
    gen.generate_dataset(tmp_path, seed=7, splits={"train": 4, "val": 3})
    for sub in ["labels/train", "labels/val", "annotations", "images/val"]:
        assert _files(tmp_path, sub) == _files(small_dataset, sub), sub
    assert (tmp_path / "data.yaml").read_bytes() == (small_dataset / "data.yaml").read_bytes()
    assert (tmp_path / "meta.json").read_bytes() == (small_dataset / "meta.json").read_bytes()


def test_different_seed_gives_different_labels(tmp_path: Path, small_dataset: Path) -> None:
    gen.generate_dataset(tmp_path, seed=8, splits={"val": 3})
    assert _files(tmp_path, "labels/val") != _files(small_dataset, "labels/val")


# ------------------------------------------------------------------------------------------ validity


@pytest.mark.parametrize("index", range(12))
def test_objects_are_valid(index: int) -> None:
    img, objs = gen.generate_image(11, "train", index)
    h, w = img.shape[:2]
    assert img.dtype == np.uint8
    assert img.shape[2] == 3
    assert 320 <= w <= 416
    assert 320 <= h <= 416
    assert 1 <= len(objs) <= 8
    for o in objs:
        x1, y1, x2, y2 = o.xyxy
        assert 0 <= x1 < x2 <= w
        assert 0 <= y1 < y2 <= h
        assert 0 <= o.class_id < len(gen.CLASSES)
        assert 0.6 <= o.visibility <= 1.0
        assert x2 - x1 >= 10
        assert y2 - y1 >= 10
        assert np.allclose(o.polygon.min(axis=0), (x1, y1))
        assert np.allclose(o.polygon.max(axis=0), (x2, y2))


def test_every_class_appears() -> None:
    seen = {o.class_id for i in range(20) for o in gen.generate_image(0, "train", i)[1]}
    assert seen == set(range(len(gen.CLASSES)))


def test_written_labels_are_valid(small_dataset: Path) -> None:
    for split in ("train", "val"):
        for img_path in sorted((small_dataset / "images" / split).glob("*.jpg")):
            img = cv2.imread(str(img_path))
            assert img is not None
            cls, boxes = _read_yolo(small_dataset / "labels" / split / f"{img_path.stem}.txt")
            assert len(cls) >= 1
            assert ((cls >= 0) & (cls < len(gen.CLASSES))).all()
            xyxy = convert(boxes, "cxcywhn", "xyxy", image_size_wh=(img.shape[1], img.shape[0]))
            assert (xyxy >= -1e-3).all()
            assert (xyxy[:, [0, 2]] <= img.shape[1] + 1e-3).all()
            assert (xyxy[:, [1, 3]] <= img.shape[0] + 1e-3).all()
            assert (boxes[:, 2:] > 0).all()


def test_yolo_and_coco_forms_agree(small_dataset: Path) -> None:
    for split in ("train", "val"):
        coco = json.loads((small_dataset / "annotations" / f"instances_{split}.json").read_text())
        assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == list(gen.CLASSES)
        assert [c["id"] for c in coco["categories"]] == list(range(1, len(gen.CLASSES) + 1))
        assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
        by_image: dict[int, list[dict[str, object]]] = {}
        for ann in coco["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
        assert len(coco["images"]) == len(list((small_dataset / "images" / split).glob("*.jpg")))
        for rec in coco["images"]:
            img = cv2.imread(str(small_dataset / "images" / split / rec["file_name"]))
            assert img is not None
            assert (rec["width"], rec["height"]) == (img.shape[1], img.shape[0])
            cls, boxes = _read_yolo(small_dataset / "labels" / split / (Path(rec["file_name"]).stem + ".txt"))
            anns = by_image.get(rec["id"], [])
            assert [a["category_id"] - 1 for a in anns] == cls.tolist()
            size = (rec["width"], rec["height"])
            from_yolo = convert(boxes, "cxcywhn", "xyxy", image_size_wh=size)
            from_coco = convert([a["bbox"] for a in anns], "xywh", "xyxy")
            np.testing.assert_allclose(from_yolo, from_coco, atol=1e-2)
            for a, box in zip(anns, from_coco):
                poly = np.array(a["segmentation"][0]).reshape(-1, 2)
                np.testing.assert_allclose(poly.min(axis=0), box[:2], atol=1e-2)
                np.testing.assert_allclose(poly.max(axis=0), box[2:], atol=1e-2)
                assert 0 < a["area"] <= (box[2] - box[0]) * (box[3] - box[1]) + 1e-6
                assert a["iscrowd"] == 0


def test_data_yaml(small_dataset: Path) -> None:
    data = yaml.safe_load((small_dataset / "data.yaml").read_text())
    assert data["train"] == "images/train"
    assert data["val"] == "images/val"
    assert data["nc"] == len(gen.CLASSES)
    assert data["names"] == dict(enumerate(gen.CLASSES))


def test_yolo_label_text_uses_boxes_convert() -> None:
    obj = gen.ShapeObject(2, (10.0, 20.0, 50.0, 60.0), np.zeros((0, 2)), 1.0)
    assert gen.yolo_label_text([obj], (200, 100)) == "2 0.150000 0.400000 0.200000 0.400000\n"
    assert gen.yolo_label_text([], (200, 100)) == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": 0, "split": "test", "index": 0}, "split must be one of"),
        ({"seed": -1, "split": "val", "index": 0}, "seed must be a non-negative int"),
        ({"seed": 0, "split": "val", "index": -2}, "index must be a non-negative int"),
    ],
)
def test_generate_image_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        gen.generate_image(**kwargs)


def test_generate_dataset_rejects_bad_splits(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="splits key"):
        gen.generate_dataset(tmp_path, splits={"test": 2})
    with pytest.raises(InvalidInputError, match="non-negative int"):
        gen.generate_dataset(tmp_path, splits={"val": -1})
    assert not any(tmp_path.iterdir())


def test_cli_main(tmp_path: Path) -> None:
    assert gen.main(["--out", str(tmp_path), "--seed", "2", "--train", "0", "--val", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "labels" / "val").iterdir()) == ["val_00000.txt", "val_00001.txt"]
    assert not (tmp_path / "images" / "train").exists()
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["train"] == "images/val"  # no train split in this copy; Ultralytics still needs the key


# ------------------------------------------------------------------------------------------ committed sample


def test_committed_sample_matches_generator(tmp_path: Path) -> None:
    meta = json.loads((SAMPLE / "meta.json").read_text())
    assert meta["generator_version"] == gen.GENERATOR_VERSION
    assert meta["classes"] == list(gen.CLASSES)
    gen.generate_dataset(tmp_path, seed=meta["seed"], splits=meta["splits"], jpeg_quality=meta["jpeg_quality"])
    for split in meta["splits"]:
        assert _files(tmp_path, f"labels/{split}") == _files(SAMPLE, f"labels/{split}")
        ours = json.loads((tmp_path / "annotations" / f"instances_{split}.json").read_text())
        theirs = json.loads((SAMPLE / "annotations" / f"instances_{split}.json").read_text())
        assert ours == theirs
        names = sorted(p.name for p in (SAMPLE / "images" / split).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "images" / split).iterdir())
        # JPEG bytes may differ across libjpeg builds: compare decoded pixels. The generator's own arrays
        # are identical by construction (tested above); JPEG only adds its compression error to them.
        for name in names:
            stored = cv2.imread(str(SAMPLE / "images" / split / name))
            fresh = cv2.imread(str(tmp_path / "images" / split / name))
            assert stored is not None
            assert fresh is not None
            assert stored.shape == fresh.shape
            assert float(np.abs(stored.astype(np.int16) - fresh.astype(np.int16)).mean()) < 1.0
        index = int(Path(names[0]).stem.split("_")[1])
        raw, _ = gen.generate_image(meta["seed"], split, index)
        first = cv2.imread(str(SAMPLE / "images" / split / names[0]))
        assert first is not None
        assert first.shape == raw.shape
        assert float(np.abs(first.astype(np.int16) - raw.astype(np.int16)).mean()) < 12.0
    assert (tmp_path / "data.yaml").read_bytes() == (SAMPLE / "data.yaml").read_bytes()
    assert (tmp_path / "meta.json").read_bytes() == (SAMPLE / "meta.json").read_bytes()


def test_committed_sample_is_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 5_000_000
    assert 30 <= len(list((SAMPLE / "images" / "val").glob("*.jpg"))) <= 60


def test_generator_doctests() -> None:
    # datasets/ is outside the package's doctest paths, so run the module's examples here.
    import doctest

    result = doctest.testmod(gen, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3
    assert result.failed == 0
