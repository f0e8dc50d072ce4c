"""One rule for a bad record, in ``detectkit eval`` as in ``detectkit convert``: skipped with a
counted warning naming file and record; ``--strict`` stops at it (exit 1). Both read through
``detectkit.formats`` (one COCO reader, one YOLO parser)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectkit.cli import main
from detectkit.dataset import ImageRecord
from detectkit.errors import AnnotationParseError
from detectkit.formats import coco, yolo
from detectkit.metrics import evaluate

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "formats" / "coco_golden.json"


def _results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Predictions near every ground-truth box (so mAP is not trivially 0)."""
    out = []
    for k, a in enumerate(doc["annotations"]):
        x, y, w, h = a["bbox"]
        ids = {"image_id": a["image_id"], "category_id": a["category_id"]}
        out.append({**ids, "bbox": [x + 1, y, w, h], "score": 0.9})
        out.append({**ids, "bbox": [x, y, w / 2, h], "score": 0.1 * k})
    return out


@pytest.fixture
def bad_gt(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The golden COCO file plus one annotation whose box has 2 numbers (``annotations[5]``)."""
    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    (tmp_path / "clean.json").write_text(json.dumps(doc))
    (tmp_path / "dt.json").write_text(json.dumps(_results(doc)))
    doc["annotations"].append({"id": 999, "image_id": 3, "category_id": 1, "bbox": [1, 2]})
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    return tmp_path / "bad.json", tmp_path / "clean.json", tmp_path / "dt.json"


def test_eval_and_convert_skip_the_same_bad_record(
    bad_gt: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, clean, dt = bad_gt
    assert main(["convert", str(bad), str(tmp_path / "y"), "--to", "yolo"]) == 0
    convert_err = capsys.readouterr().err
    assert main(["eval", str(bad), str(dt), "--json"]) == 0
    captured = capsys.readouterr()
    for err in (convert_err, captured.err):
        assert "annotations[5]" in err
        assert "bbox must have 4 numbers" in err
        assert "Traceback" not in err
    assert "skipped 1 bad record(s)" in captured.err
    assert "--strict" in captured.err  # the library's "strict=True" in the CLI's words
    payload = json.loads(captured.out)
    assert any("annotations[5]" in w for w in payload["warnings"])
    # the skipped record counts for nothing: the numbers of the file without it
    np.testing.assert_array_equal(payload["stats"], evaluate(clean, dt).stats)


def test_strict_stops_at_the_same_bad_record_in_eval_and_convert(
    bad_gt: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, _, dt = bad_gt
    assert main(["convert", str(bad), str(tmp_path / "y"), "--to", "yolo", "--strict"]) == 1
    convert_err = capsys.readouterr().err
    assert main(["eval", str(bad), str(dt), "--strict"]) == 1
    eval_err = capsys.readouterr().err
    for err in (convert_err, eval_err):
        assert err.count("error:") == 1
        assert "annotations[5]" in err
        assert "Traceback" not in err
    with pytest.raises(AnnotationParseError, match=r"annotations\[5\]"):
        evaluate(bad, dt, strict=True)


def test_a_bad_prediction_record_is_skipped_and_counted(bad_gt: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, clean, dt = bad_gt
    results = json.loads(dt.read_text())
    good = evaluate(clean, results)
    results.insert(3, {"image_id": 3, "category_id": 18, "bbox": [1, 2, 3, 4]})  # no score
    (tmp_path / "dt_bad.json").write_text(json.dumps(results))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = evaluate(clean, tmp_path / "dt_bad.json")
    assert any("skipped 1 bad record(s)" in w and "[[3]]" in w and "score" in w for w in m.warnings)
    np.testing.assert_array_equal(m.stats, good.stats)
    with pytest.raises(AnnotationParseError, match=r"\[\[3\]\].*score"):
        evaluate(clean, tmp_path / "dt_bad.json", strict=True)
    with pytest.raises(AnnotationParseError, match="score"):  # a list in memory is an argument: strict
        evaluate(clean, results)


def test_ground_truth_as_predictions_is_an_error_not_an_empty_result(bad_gt: tuple[Path, Path, Path]) -> None:
    _, clean, _ = bad_gt
    with pytest.raises(AnnotationParseError, match=r"none of its 5 result\(s\) is usable \(ground truth given\?\)"):
        evaluate(clean, clean)


def test_ground_truth_needs_no_file_names_or_sizes_for_evaluation(tmp_path: Path) -> None:
    doc = {
        "images": [{"id": 4}, {"id": 9, "file_name": "b.jpg"}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"image_id": 4, "category_id": 1, "bbox": [0, 0, 10, 10]}],
    }
    ds = coco.from_dict(doc, require_files=False)
    assert [(r.id, r.file_name, r.width, r.height) for r in ds.images] == [(4, "", 0, 0), (9, "b.jpg", 0, 0)]
    with warnings.catch_warnings(record=True) as seen:  # convert's rule: both images (and so the box) are bad
        warnings.simplefilter("always")
        assert len(coco.from_dict(doc, source="gt.json").images) == 0
    assert "skipped 3 bad record(s)" in str(seen[0].message)
    m = evaluate(doc, [{"image_id": 4, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}])
    assert m.map == pytest.approx(1.0)
    assert not m.warnings


def test_results_given_as_masks_take_their_boxes_from_the_masks() -> None:
    """pycocotools' ``loadRes``: a result without a box gets ``toBbox`` of its RLE."""
    from pycocotools import mask as mask_utils

    m = np.zeros((20, 30), np.uint8, order="F")
    m[3:9, 5:17] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    uncompressed = {"size": [20, 30], "counts": [3 + 20 * 5, 6, 14, 6]}
    read = coco.results_table(
        [
            {"image_id": 1, "category_id": 2, "segmentation": rle, "score": 0.5},
            {"image_id": 1, "category_id": 2, "segmentation": uncompressed, "score": 0.25, "bbox": []},
            {"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.75},
        ]
    )
    extras = read.table.extras["coco"]
    assert extras["bbox"].tolist()[0] == [5.0, 3.0, 12.0, 6.0]
    assert extras["bbox"].tolist()[1] == mask_utils.toBbox(mask_utils.frPyObjects(uncompressed, 20, 30)).tolist()
    assert extras["box_from_mask"].tolist() == [True, True, False]
    assert extras["score"].dtype == np.float64
    assert read.issues == []


def test_results_table_keeps_ids_and_float64_scores_as_given() -> None:
    doc = {
        "annotations": [{"image_id": 77, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.1 + 0.2}],
        "categories": [{"id": 5, "name": "five"}],
    }
    read = coco.results_table(doc)
    assert read.table.image_index.tolist() == [77]
    assert read.table.class_id.tolist() == [5]
    assert read.table.extras["coco"]["score"].tolist() == [0.1 + 0.2]  # not rounded to float32
    assert read.category_names == {5: "five"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = coco.results_table(doc["annotations"], images={77: 0}, categories={6})
    assert len(checked.table) == 0
    assert "unknown category_id 5" in str(checked.issues[0])


def test_yolo_prediction_labels_parse_by_the_formats_rules(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text(
        "0 0.5 0.5 0.2 0.4 0.91\n"  # box + confidence
        "2 0.1 0.1 0.3 0.1 0.3 0.3 0.55\n"  # triangle + confidence
        "1 0.5 0.5 0.2 0.4\n"  # a box without its confidence: bad
        "1 0.5 0.5 0.2 0.4 0.3 0.2 0.5 0.7\n"  # 7 coordinates + confidence: neither
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        t, issues = yolo.labels_table([f], [ImageRecord(1, "a.jpg", 100, 50)], confidence=True)
    assert [i.line for i in issues] == [3, 4]
    assert len(seen) == 1
    assert t.class_id.tolist() == [0, 2]
    assert t.extras["yolo"]["confidence"].tolist() == [0.91, 0.55]
    np.testing.assert_allclose(t.xyxy, [[40, 15, 60, 35], [10, 5, 30, 15]])
    assert t.data["segmentation"][1] == [[10.0, 5.0, 30.0, 5.0, 30.0, 15.0]]
    with pytest.raises(AnnotationParseError, match=r"a.txt:3"):
        yolo.labels_table([f], [ImageRecord(1, "a.jpg", 100, 50)], confidence=True, strict=True)
