"""detectkit.metrics against pycocotools' COCOeval itself, on randomised sets with every awkward case."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.metrics import STAT_NAMES, Metrics, evaluate
from detectkit.metrics._engine import box_iou_pairs

# pycocotools' mask.decode trips a numpy 2 copy-keyword DeprecationWarning (theirs, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


# ---------------------------------------------------------------------------- random sets
def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list[float]:
    """A random star-ish polygon inside the box."""
    k = int(rng.integers(3, 8))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(0.3, 0.5, k)
    px = x + w / 2 + np.cos(ang) * rad * w
    py = y + h / 2 + np.sin(ang) * rad * h
    return np.round(np.stack([px, py], 1).ravel(), 1).tolist()


def make_set(
    seed: int,
    *,
    n_images: int = 24,
    segm: bool = False,
    ann_id_start: int = 1,
    results_segm_only: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground truth + results with crowd GT, images without GT / without predictions, a category
    without GT, predictions of a category absent from the GT, > 100 predictions in one image, and
    ties in IoU and score (integer coordinates, scores rounded to 0.05)."""
    rng = np.random.default_rng(seed)
    cats = [{"id": c, "name": f"c{c}", "supercategory": "x"} for c in (1, 2, 3, 4, 7)]  # 7 has no GT
    gt_cats = [1, 2, 3, 4]
    images, anns, results = [], [], []
    aid = ann_id_start
    for i in range(n_images):
        img_id = 100 + 3 * i  # non-contiguous ids
        W, H = int(rng.integers(150, 400)), int(rng.integers(150, 400))
        images.append({"id": img_id, "file_name": f"im{img_id}.jpg", "width": W, "height": H})
        n_gt = 0 if i % 7 == 3 else int(rng.integers(1, 9))  # some images without GT
        boxes = []
        for _ in range(n_gt):
            w, h = float(rng.integers(3, W // 2)), float(rng.integers(3, H // 2))
            x, y = float(rng.integers(0, W - int(w))), float(rng.integers(0, H - int(h)))
            c = int(rng.choice(gt_cats))
            crowd = int(rng.random() < 0.15)
            ann: dict[str, Any] = {
                "id": aid,
                "image_id": img_id,
                "category_id": c,
                "bbox": [x, y, w, h],
                "area": float(np.round(w * h * rng.uniform(0.5, 1.0), 1)),
                "iscrowd": crowd,
            }
            if segm:
                poly = [_polygon(rng, x, y, w, h)]
                if crowd:
                    rle = mask_utils.frPyObjects(poly, H, W)[0]
                    m = mask_utils.decode(rle)
                    flat = m.ravel(order="F")
                    change = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]])) if flat.size else []
                    counts = np.diff(np.r_[0, change, flat.size]).tolist()
                    counts = [int(v) for v in counts if v >= 0]
                    ann["segmentation"] = {"size": [H, W], "counts": _uncompressed_counts(m)}
                else:
                    ann["segmentation"] = poly
                ann["area"] = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(poly, H, W))))
            anns.append(ann)
            aid += 1
            boxes.append((x, y, w, h, c))
        if i % 5 == 2:
            continue  # image without predictions
        n_pred = 130 if i == 1 else int(rng.integers(0, 12))  # > 100 predictions in one image
        for _ in range(n_pred):
            if boxes and rng.random() < 0.6:
                x, y, w, h, c = boxes[int(rng.integers(len(boxes)))]
                jit = rng.integers(-4, 5, 4)
                x, y = max(0.0, x + jit[0]), max(0.0, y + jit[1])
                w, h = max(1.0, w + jit[2]), max(1.0, h + jit[3])
                if rng.random() < 0.15:
                    c = int(rng.choice([1, 2, 3, 4, 7, 9]))  # 9: not a GT category
            else:
                w, h = float(rng.integers(2, W // 2)), float(rng.integers(2, H // 2))
                x, y = float(rng.integers(0, W - int(w))), float(rng.integers(0, H - int(h)))
                c = int(rng.choice([1, 2, 3, 4, 7, 9]))
            res: dict[str, Any] = {
                "image_id": img_id,
                "category_id": c,
                "bbox": [float(x), float(y), float(w), float(h)],
                "score": float(np.round(rng.random() * 20) / 20),
            }
            if segm:
                rle = mask_utils.merge(mask_utils.frPyObjects([_polygon(rng, x, y, w, h)], H, W))
                rle["counts"] = rle["counts"].decode("ascii")
                res["segmentation"] = rle
                if results_segm_only:
                    del res["bbox"]
            results.append(res)
    return {"images": images, "annotations": anns, "categories": cats}, results


def _uncompressed_counts(m: np.ndarray) -> list[int]:
    flat = m.ravel(order="F").astype(np.int64)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = int(v), 1
    counts.append(run)
    return counts


def reference(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str = "bbox", max_dets: list[int] | None = None
) -> COCOeval:
    """pycocotools' COCOeval on deep copies (it mutates its inputs)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, iou_type)
        if max_dets is not None:
            ev.params.maxDets = max_dets
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_same(ours: Metrics, ref: COCOeval) -> None:
    np.testing.assert_allclose(ours.stats, ref.stats, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.recall, ref.eval["recall"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.scores, ref.eval["scores"], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("seed", range(8))
def test_bbox_equals_pycocotools(seed: int) -> None:
    gt, results = make_set(seed)
    assert any(a["iscrowd"] for a in gt["annotations"])
    assert max(np.unique([r["image_id"] for r in results], return_counts=True)[1]) > 100
    assert_same(evaluate(gt, results), reference(gt, results))


def make_crowded(seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Few images packed with overlapping objects: many ground truths per (image, category), up
    to 160 predictions per image, 20% crowd, areas unrelated to the boxes, 5 score levels."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for i in range(1, 6):
        images.append({"id": i, "width": 100, "height": 100})
        for _ in range(int(rng.integers(0, 25))):
            x, y = (int(v) for v in rng.integers(0, 60, 2))
            w, h = (int(v) for v in rng.integers(2, 40, 2))
            area = float(w * h) if rng.random() < 0.5 else float(rng.uniform(0, 12000))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(rng.integers(1, 3)),
                    "bbox": [x, y, w, h],
                    "area": area,
                    "iscrowd": int(rng.random() < 0.2),
                }
            )
        for _ in range(int(rng.integers(1, 160))):
            x, y = (int(v) for v in rng.integers(0, 60, 2))
            w, h = (int(v) for v in rng.integers(2, 40, 2))
            score = float(rng.integers(0, 5)) / 4
            results.append(
                {"image_id": i, "category_id": int(rng.integers(1, 3)), "bbox": [x, y, w, h], "score": score}
            )
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return {"images": images, "annotations": anns, "categories": cats}, results


@pytest.mark.parametrize("seed", range(4))
def test_crowded_images_equal_pycocotools(seed: int) -> None:
    gt, results = make_crowded(seed)
    assert_same(evaluate(gt, results), reference(gt, results))


@pytest.mark.parametrize("seed", range(3))
def test_segm_equals_pycocotools(seed: int) -> None:
    gt, results = make_set(100 + seed, n_images=14, segm=True)
    assert_same(evaluate(gt, results, iou_type="segm"), reference(gt, results, "segm"))


def test_segm_results_without_boxes_equal_pycocotools() -> None:
    """Areas then come from the masks (pycocotools' loadRes rule), boxes from the RLE."""
    gt, results = make_set(7, n_images=10, segm=True, results_segm_only=True)
    assert "bbox" not in results[0]
    assert_same(evaluate(gt, results, iou_type="segm"), reference(gt, results, "segm"))
    assert_same(evaluate(gt, results, iou_type="bbox"), reference(gt, results, "bbox"))


def test_bbox_results_evaluated_as_segm_equal_pycocotools() -> None:
    gt, results = make_set(11, n_images=10, segm=True)
    for r in results:
        del r["segmentation"]  # boxes become rectangle polygons, as loadRes does
    assert_same(evaluate(gt, results, iou_type="segm"), reference(gt, results, "segm"))


def test_annotation_id_zero_quirk_is_reproduced() -> None:
    """pycocotools counts a match to ground truth with id 0 as unmatched; so do we."""
    gt, results = make_set(3, ann_id_start=0)
    assert gt["annotations"][0]["id"] == 0
    assert_same(evaluate(gt, results), reference(gt, results))


def test_custom_max_dets_equal_pycocotools() -> None:
    gt, results = make_set(5)
    assert_same(evaluate(gt, results, max_dets=(20, 2, 5)), reference(gt, results, max_dets=[2, 5, 20]))


def test_from_files(tmp_path: Path) -> None:
    gt, results = make_set(4)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    ours = evaluate(tmp_path / "gt.json", str(tmp_path / "dt.json"))
    assert_same(ours, reference(gt, results))


def test_inputs_are_not_mutated() -> None:
    gt, results = make_set(2, n_images=6, segm=True)
    gt0, res0 = copy.deepcopy(gt), copy.deepcopy(results)
    evaluate(gt, results, iou_type="segm")
    assert gt == gt0
    assert results == res0


# ---------------------------------------------------------------------------- hand-made cases
def _single(gt_boxes: list[list[float]], preds: list[tuple[list[float], float, int]], **kw: Any) -> Metrics:
    gt = {
        "images": [{"id": 1, "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": int(b[4]) if len(b) > 4 else 1,
                "bbox": b[:4],
                "area": b[2] * b[3],
            }
            for i, b in enumerate(gt_boxes)
        ],
    }
    res = [{"image_id": 1, "category_id": c, "bbox": b, "score": s} for b, s, c in preds]
    return evaluate(gt, res, **kw)


def test_perfect_predictions_score_one() -> None:
    m = _single(
        [[10, 10, 100, 100], [200, 200, 150, 150, 2]], [([10, 10, 100, 100], 0.9, 1), ([200, 200, 150, 150], 0.8, 2)]
    )
    assert m.map == pytest.approx(1.0)
    assert m.map50 == pytest.approx(1.0)
    assert m.map_small == -1.0  # no small objects: undefined, as pycocotools
    assert {r["name"]: r["ap"] for r in m.per_class()} == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    assert m.as_dict()["map"] == m.stats[0]
    assert list(m.as_dict()) == list(STAT_NAMES)


def test_empty_predictions_give_zero() -> None:
    m = _single([[10, 10, 100, 100]], [])
    assert m.map == 0.0
    assert m.mar_100 == 0.0
    assert np.isnan(m.f1_threshold()["threshold"])


def test_unknown_prediction_images_are_reported() -> None:
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": []}
    res = [{"image_id": i, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5} for i in (1, 5, 6)]
    with pytest.raises(InvalidInputError, match=r"2 image id\(s\) not in the ground truth.*5, 6"):
        evaluate(gt, res)


def test_unknown_categories_are_warned_about() -> None:
    m = _single([[10, 10, 100, 100]], [([10, 10, 100, 100], 0.9, 1), ([0, 0, 5, 5], 0.9, 42)])
    assert any("42" in w and "not in the ground truth" in w for w in m.warnings)
    assert m.map == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"iou_type": "keypoints"}, "iou_type must be one of"),
        ({"max_dets": (1, 10)}, "max_dets must be three positive integers"),
        ({"max_dets": (0, 10, 100)}, "max_dets must be three positive integers"),
        ({"area_ranges": {"all": (0, 1)}}, "area_ranges must include"),
        ({"area_ranges": {"all": (5, 1)}}, "low <= high"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidInputError, match=error):
        _single([[10, 10, 100, 100]], [], **kwargs)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AnnotationParseError, match="not valid JSON"):
        evaluate(tmp_path / "bad.json", [])
    with pytest.raises(InvalidInputError, match=r"not found|does not exist"):
        evaluate(tmp_path / "missing.json", [])
    gt = {"images": [{"id": 1}], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]}
    with pytest.raises(AnnotationParseError, match="bbox"):
        evaluate(gt, [])


def test_box_iou_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    d = np.round(rng.uniform(0, 50, (40, 4)), 1)
    g = np.round(rng.uniform(0, 50, (30, 4)), 1)
    crowd = rng.random(30) < 0.3
    ref = mask_utils.iou(d.tolist(), g.tolist(), crowd.astype(int).tolist())
    ours = box_iou_pairs(np.repeat(d, 30, 0), np.tile(g, (40, 1)), np.tile(crowd, 40)).reshape(40, 30)
    assert np.array_equal(ours, ref)  # bit for bit


def test_confusion_matrix_counts() -> None:
    m = _single(
        [[10, 10, 100, 100, 1], [300, 300, 100, 100, 2], [200, 10, 50, 50, 1]],
        [
            ([10, 10, 100, 100], 0.9, 1),  # correct a
            ([300, 300, 100, 100], 0.8, 1),  # b predicted as a
            ([500, 10, 50, 50], 0.7, 2),  # false positive b
            ([200, 10, 50, 50], 0.1, 1),  # below conf: the third GT is missed
        ],
    )
    cm = m.confusion_matrix(iou_threshold=0.5, conf_threshold=0.25)
    assert cm.labels == ["a", "b", "background"]
    expected = np.array(
        [
            [1, 0, 1],  # a: one right, one missed
            [1, 0, 0],  # b: predicted as a
            [0, 1, 0],  # background predicted as b
        ]
    )
    np.testing.assert_array_equal(cm.matrix, expected)
    assert cm.to_dict()["matrix"] == expected.tolist()
    cm_low = m.confusion_matrix(conf_threshold=0.0)
    assert cm_low.matrix[0, 0] == 2
    assert cm_low.matrix[0, 2] == 0


def test_confusion_matrix_ignores_predictions_on_crowd() -> None:
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 80, 80], "area": 6400, "iscrowd": 1}],
    }
    res = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]
    cm = evaluate(gt, res).confusion_matrix()
    assert cm.matrix.sum() == 0


def test_f1_threshold() -> None:
    # a: 2 GT; detections 0.9 TP, 0.6 FP, 0.3 TP -> F1 at 0.9 = 2/3, at 0.6 = 0.5, at 0.3 = 0.8
    m = _single(
        [[10, 10, 100, 100], [300, 300, 100, 100]],
        [([10, 10, 100, 100], 0.9, 1), ([500, 10, 50, 50], 0.6, 1), ([300, 300, 100, 100], 0.3, 1)],
    )
    best = m.f1_threshold()
    assert best["threshold"] == pytest.approx(0.3)
    assert best["f1"] == pytest.approx(0.8)
    assert best["precision"] == pytest.approx(2 / 3)
    assert best["recall"] == pytest.approx(1.0)


def test_pr_curve_and_per_class() -> None:
    gt, results = make_set(1)
    m = evaluate(gt, results)
    recall, precision = m.pr_curve()
    assert recall.shape == precision.shape == (101,)
    assert np.all(np.diff(precision) <= 1e-12)  # interpolated: non-increasing
    _, p7 = m.pr_curve(7)  # no ground truth
    assert np.isnan(p7).all()
    rows = m.per_class(sort=True)
    assert [r["category_id"] for r in m.per_class()] == [1, 2, 3, 4, 7]
    assert np.isnan(rows[-1]["ap"])
    assert rows[-1]["category_id"] == 7
    ref = reference(gt, results)
    k = m.category_ids.index(2)
    p = ref.eval["precision"][:, :, k, 0, -1]
    assert m.per_class()[k]["ap"] == pytest.approx(p[p > -1].mean())
    with pytest.raises(InvalidInputError, match="category_id must be one of"):
        m.pr_curve(99)
    with pytest.raises(InvalidInputError, match="iou_threshold must be one of"):
        m.pr_curve(1, iou_threshold=0.52)


def test_summary_and_json() -> None:
    gt, results = make_set(0)
    m = evaluate(gt, results)
    text = m.summary()
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in text
    assert "c1" in text
    payload = json.loads(m.to_json())
    assert payload["stats"] == pytest.approx(list(m.stats))
    assert payload["map50"] == pytest.approx(m.map50)
    assert {r["category_id"] for r in payload["per_class"]} == {1, 2, 3, 4, 7}


def test_plots_written(tmp_path: Path) -> None:
    gt, results = make_set(0, n_images=8)
    paths = evaluate(gt, results).plot(tmp_path / "plots")
    assert [p.name for p in paths] == ["pr_curve.png", "confusion_matrix.png", "per_class_ap.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(q.name for q in (tmp_path / "plots").iterdir()) == sorted(p.name for p in paths)  # no temp files
    assert all(p.stat().st_mode & 0o077 == 0o066 & ~_umask() for p in paths)  # not mkstemp's 0600


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_dataset_inputs_equal_pycocotools(tmp_path: Path, iou_type: str) -> None:
    """Ground truth and predictions as ``Dataset`` objects (read by detectkit.formats)."""
    from detectkit.dataset import Dataset
    from detectkit.formats import coco

    gt, results = make_set(3, n_images=12, segm=iou_type == "segm")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    gt_ds = Dataset.from_coco(tmp_path / "gt.json")
    with pytest.warns(UserWarning, match="9"):  # the results hold a category (9) the ground truth lacks
        pred_ds = coco.read_results(tmp_path / "dt.json", dataset=gt_ds)
    ref = reference(gt, results, iou_type)
    np.testing.assert_allclose(evaluate(gt_ds, pred_ds, iou_type=iou_type).stats, ref.stats, atol=1e-6, rtol=0)
    mixed = evaluate(tmp_path / "gt.json", pred_ds, iou_type=iou_type)  # path + Dataset
    np.testing.assert_allclose(mixed.stats, ref.stats, atol=1e-6, rtol=0)


def test_evaluate_detector_maps_classes_by_name(tmp_path: Path) -> None:
    """``Detector.evaluate`` path: run a detector over a Dataset; classes matched by name."""
    import cv2

    from detectkit import Detections
    from detectkit.dataset import Dataset
    from detectkit.models.detector import Detector

    images = tmp_path / "images"
    images.mkdir()
    gt = {
        "images": [{"id": i, "file_name": f"f{i}.png", "width": 64, "height": 48} for i in (1, 2, 3)],
        "categories": [{"id": 5, "name": "a"}, {"id": 9, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 5, "bbox": [4, 4, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 9, "bbox": [10, 8, 30, 30], "area": 900, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 5, "bbox": [40, 2, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    for im in gt["images"]:
        cv2.imwrite(str(images / im["file_name"]), np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    ds = Dataset.from_coco(tmp_path / "gt.json", images=images)
    boxes = {
        "f1.png": ([[4, 4, 24, 24]], [0]),
        "f2.png": ([[10, 8, 40, 38], [0, 0, 5, 5]], [1, 0]),  # one hit, one false positive
        "f3.png": ([], []),
    }

    class FakeDetector:
        def __init__(self) -> None:
            self.names = {0: "a", 1: "b"}  # detector class ids differ from the dataset's category ids
            self.calls: list[str] = []

        def detect(self, source: Any) -> Detections:
            name = Path(source).name
            self.calls.append(name)
            xyxy, cls = boxes[name]
            return Detections(xyxy=np.array(xyxy, float).reshape(-1, 4), confidence=[0.9] * len(cls), class_id=cls)

    fake = FakeDetector()
    m = Detector.evaluate(fake, ds)  # type: ignore[arg-type]
    assert sorted(fake.calls) == ["f1.png", "f2.png", "f3.png"]
    results = [
        {"image_id": 1, "category_id": 5, "bbox": [4, 4, 20, 20], "score": 0.9},
        {"image_id": 2, "category_id": 9, "bbox": [10, 8, 30, 30], "score": 0.9},
        {"image_id": 2, "category_id": 5, "bbox": [0, 0, 5, 5], "score": 0.9},
    ]
    np.testing.assert_allclose(m.stats, reference(gt, results).stats, atol=1e-6, rtol=0)
    assert m.names == {5: "a", 9: "b"}


def test_custom_area_ranges_equal_pycocotools() -> None:
    gt, results = make_set(6)
    ranges = {"all": (0.0, 1e10), "small": (0.0, 500.0), "medium": (500.0, 5000.0), "large": (5000.0, 1e10)}
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ref = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
        ref.params.areaRng = [list(v) for v in ranges.values()]
        ref.params.areaRngLbl = list(ranges)
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    assert_same(evaluate(gt, results, area_ranges=ranges), ref)


@pytest.mark.slow
def test_real_detector_evaluate_on_shapes() -> None:
    """A real (untrained, offline-built) YOLO through Detector.evaluate on the shipped shapes set."""
    from detectkit.dataset import Dataset
    from detectkit.models.detector import Detector

    root = Path(__file__).resolve().parents[1] / "datasets" / "shapes"
    ds = Dataset.from_coco(root / "annotations" / "instances_val.json", images=root / "images" / "val")
    subset = ds.select([r.id for r in ds.images[:2]])
    m = Detector("yolov8n.yaml", conf=0.001, imgsz=320).evaluate(subset)
    assert isinstance(m, Metrics)
    assert m.num_images == 2
    assert m.category_ids == tuple(sorted(c.id for c in ds.categories))
    assert all(-1.0 <= v <= 1.0 for v in m.stats)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask & 0o077


def test_files_with_nan_literals_read_like_json_does(tmp_path: Path) -> None:
    """msgspec rejects the NaN literal that Python's json (and pycocotools) accept: the reader falls back."""
    gt, results = make_set(11)
    gt["info"] = {"note": float("nan")}
    (tmp_path / "gt.json").write_text(json.dumps(gt))  # json writes NaN
    (tmp_path / "res.json").write_text(json.dumps(results))
    assert "NaN" in (tmp_path / "gt.json").read_text()
    from_files = evaluate(tmp_path / "gt.json", tmp_path / "res.json")
    in_memory = evaluate(gt, results)
    np.testing.assert_array_equal(from_files.stats, in_memory.stats)
