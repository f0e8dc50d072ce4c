"""Auto-labelling: predictions -> dataset + COCO results with scores; `detectkit detect --save-dataset`."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit import Detections, InvalidInputError
from detectkit.formats import coco, yolo
from detectkit.formats.autolabel import save_predictions


def _images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        cv2.imwrite(str(p), np.full((40, 60, 3), 30 * i, np.uint8))
        paths.append(p)
    return paths


def _preds() -> list[Detections]:
    return [
        Detections(
            xyxy=[[1, 2, 20, 30], [30, 5, 59, 39]], confidence=[0.9, 0.4], class_id=[0, 2], names={0: "a", 2: "c"}
        ),
        Detections.empty(names={0: "a", 2: "c"}),
        Detections(xyxy=[[0.5, 0.5, 10.25, 11]], confidence=[0.75], class_id=[2], names={0: "a", 2: "c"}),
    ]


def test_coco_dataset_and_results_match_and_evaluate(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    paths = _images(tmp_path / "imgs", 3)
    summary = save_predictions(
        list(zip(paths, _preds())), tmp_path / "out", format="coco", names={0: "a", 1: "b", 2: "c"}
    )
    assert summary.path == tmp_path / "out"
    gt = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [i["file_name"] for i in gt["images"]] == ["img0.png", "img1.png", "img2.png"]  # the empty image too
    assert [(i["width"], i["height"]) for i in gt["images"]] == [(60, 40)] * 3
    assert [(c["id"], c["name"]) for c in gt["categories"]] == [(1, "a"), (2, "b"), (3, "c")]  # 0-based -> 1
    assert all("score" not in a for a in gt["annotations"])
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["score"] for r in res] == pytest.approx([0.9, 0.4, 0.75])
    assert [r["category_id"] for r in res] == [1, 3, 3]
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(tmp_path / "out" / "annotations.json"))
        ev = COCOeval(api, api.loadRes(str(tmp_path / "out" / "results.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # the results are exactly the auto-labels


def test_yolo_dataset_has_no_score_column_and_links_images(tmp_path: Path) -> None:
    paths = _images(tmp_path / "imgs", 3)
    summary = save_predictions(list(zip(paths, _preds())), tmp_path / "out", format="yolo")
    assert summary.images_linked == 3
    assert (tmp_path / "out" / "images" / "img0.png").exists()
    lines = (tmp_path / "out" / "labels" / "img0.txt").read_text().splitlines()
    assert [len(line.split()) for line in lines] == [5, 5]  # trains as ground truth
    assert (tmp_path / "out" / "labels" / "img1.txt").read_text() == ""
    back = yolo.read(tmp_path / "out")
    assert back.names == {0: "a", 2: "c"}
    np.testing.assert_allclose(back.boxes(3), [[0.5, 0.5, 10.25, 11]], atol=1e-3)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    coco.write(back, tmp_path / "gt.json")
    gt_ids = {c["name"]: c["id"] for c in json.loads((tmp_path / "gt.json").read_text())["categories"]}
    assert {r["category_id"] for r in res} == {gt_ids["a"], gt_ids["c"]}  # ids line up after YOLO -> COCO


def test_refuses_ground_truth_and_existing_output(tmp_path: Path) -> None:
    paths = _images(tmp_path / "imgs", 1)
    with pytest.raises(InvalidInputError, match="predictions"):
        save_predictions([(paths[0], Detections(xyxy=[[0, 0, 1, 1]]))], tmp_path / "o")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(InvalidInputError, match="not empty"):
        save_predictions([(paths[0], _preds()[0])], tmp_path / "busy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "imgs"]


@pytest.mark.slow
def test_detect_cli_save_dataset(tmp_path: Path) -> None:
    from detectkit.cli import main

    _images(tmp_path / "imgs", 2)
    code = main(
        [
            "detect",
            str(tmp_path / "imgs"),
            "--model",
            "yolov8n.yaml",
            "--imgsz",
            "64",
            "--conf",
            "0.0",
            "--save-dataset",
            str(tmp_path / "ds"),
            "--format",
            "coco",
            "-q",
        ]
    )
    assert code == 0
    gt = json.loads((tmp_path / "ds" / "annotations.json").read_text())
    assert [i["file_name"] for i in gt["images"]] == ["img0.png", "img1.png"]
    res = json.loads((tmp_path / "ds" / "results.json").read_text())
    assert len(res) == len(gt["annotations"])
    assert all(0 <= r["score"] <= 1 for r in res)
