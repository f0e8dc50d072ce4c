"""Prediction categories are matched to the ground truth by name, or a visible id mismatch is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.cli import main
from detectkit.errors import InvalidInputError
from detectkit.metrics import evaluate

NAMES = ["circle", "square", "triangle"]


def _gt_from_zero() -> dict[str, object]:
    """Ground truth numbering classes from 0 (as a YOLO dataset read by detectkit does)."""
    images = [{"id": i, "file_name": f"im{i}.jpg", "width": 200, "height": 200} for i in (1, 2, 3)]
    anns = [
        {"id": k + 1, "image_id": i, "category_id": c, "bbox": [10 + 30 * c, 20, 25, 25], "area": 625, "iscrowd": 0}
        for k, (i, c) in enumerate((i, c) for i in (1, 2, 3) for c in (0, 1, 2))
    ]
    cats = [{"id": c, "name": n} for c, n in enumerate(NAMES)]
    return {"images": images, "annotations": anns, "categories": cats}


def _results_from_one() -> list[dict[str, object]]:
    """Perfect predictions numbered from 1 (COCO's convention, as ``detect --format coco`` writes)."""
    return [
        {"image_id": i, "category_id": c + 1, "bbox": [10 + 30 * c, 20, 25, 25], "score": 0.9}
        for i in (1, 2, 3)
        for c in (0, 1, 2)
    ]


def test_shifted_ids_without_names_are_an_error_naming_the_fix() -> None:
    with pytest.raises(InvalidInputError, match=r"category_offset=-1"):
        evaluate(_gt_from_zero(), _results_from_one())


def test_offset_and_map_fix_the_ids() -> None:
    assert evaluate(_gt_from_zero(), _results_from_one(), category_offset=-1).map == pytest.approx(1.0)
    m = evaluate(_gt_from_zero(), _results_from_one(), category_map={1: 0, 2: 1, 3: 2})
    assert m.map == pytest.approx(1.0)


def test_named_predictions_are_matched_by_name() -> None:
    preds = {"categories": [{"id": c + 1, "name": n} for c, n in enumerate(NAMES)], "annotations": _results_from_one()}
    m = evaluate(_gt_from_zero(), preds)
    assert m.map == pytest.approx(1.0)
    assert any("by name" in w for w in m.warnings)


def test_cli_results_json_takes_names_from_the_sibling_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_gt_from_zero()))
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "results.json").write_text(json.dumps(_results_from_one()))
    assert main(["eval", str(gt), str(pred / "results.json"), "--json"]) == 1
    err = capsys.readouterr().err
    assert "--category-offset -1" in err
    assert "Traceback" not in err
    assert main(["eval", str(gt), str(pred / "results.json"), "--json", "--category-map", "1=0,2=1,3=2"]) == 0
    assert json.loads(capsys.readouterr().out)["map"] == pytest.approx(1.0)
    cats = [{"id": c + 1, "name": n} for c, n in enumerate(NAMES)]
    (pred / "annotations.json").write_text(json.dumps({"images": [], "annotations": [], "categories": cats}))
    assert main(["eval", str(gt), str(pred / "results.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["map"] == pytest.approx(1.0)
    assert main(["eval", str(gt), str(pred / "results.json"), "--category-map", "x"]) != 0
    assert "--category-map" in capsys.readouterr().err
