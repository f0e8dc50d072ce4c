"""`detectkit eval` end to end: table, --json, --plots, mismatch reports, YOLO inputs."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detectkit.cli import main
from detectkit.metrics import STAT_NAMES


def _coco_set(seed: int = 0, n_images: int = 10) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": f"img{i}.jpg", "width": 320, "height": 240})
        for _ in range(int(rng.integers(0, 5))):
            w, h = int(rng.integers(8, 150)), int(rng.integers(8, 120))
            x, y = int(rng.integers(0, 320 - w)), int(rng.integers(0, 240 - h))
            c = int(rng.choice([1, 2, 3]))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            if rng.random() < 0.8:
                results.append(
                    {
                        "image_id": i,
                        "category_id": c,
                        "bbox": [x + int(rng.integers(-3, 4)), y + int(rng.integers(-3, 4)), w, h],
                        "score": round(float(rng.random()), 3),
                    }
                )
        for _ in range(int(rng.integers(0, 3))):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(rng.choice([1, 2, 3])),
                    "bbox": [int(rng.integers(0, 200)), int(rng.integers(0, 150)), 40, 30],
                    "score": round(float(rng.random()) * 0.5, 3),
                }
            )
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}]
    return {"images": images, "annotations": anns, "categories": cats}, results


def _pycoco_stats(gt: dict[str, Any], results: list[dict[str, Any]]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, dict[str, Any], list[dict[str, Any]]]:
    gt, results = _coco_set()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    return tmp_path / "gt.json", tmp_path / "dt.json", gt, results


def test_table(files: Any, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, dt_path, _, _ = files
    assert main(["eval", str(gt_path), str(dt_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("Average Precision") == 6
    assert out.count("Average Recall") == 6
    names = [line.split()[0] for line in out.splitlines() if line.split()[:1] in (["cat"], ["dog"], ["bird"])]
    assert sorted(names) == ["bird", "cat", "dog"]
    assert "best F1" in out


def test_json_equals_pycocotools(files: Any, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, dt_path, gt, results = files
    assert main(["eval", str(gt_path), str(dt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(payload["stats"], _pycoco_stats(gt, results), atol=1e-6, rtol=0)
    for i, name in enumerate(STAT_NAMES):
        assert payload[name] == payload["stats"][i]
    assert payload["confusion_matrix"]["labels"] == ["cat", "dog", "bird", "background"]
    assert len(payload["per_class"]) == 3


def test_plots(files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, dt_path, _, _ = files
    assert main(["eval", str(gt_path), str(dt_path), "--plots", str(tmp_path / "p"), "--per-class"]) == 0
    out = capsys.readouterr().out
    assert "AP50" in out  # the full per-class table
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "confusion_matrix.png",
        "per_class_ap.png",
        "pr_curve.png",
    ]


def test_mismatched_images_reported(files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, _, _, results = files
    bad = [*results, *({"image_id": i, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5} for i in (77, 78))]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["eval", str(gt_path), str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert "2 image id(s) not in the ground truth" in err
    assert "77, 78" in err
    assert "Traceback" not in err


def test_mismatched_categories_warned(files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, _, _, results = files
    extra = [*results, {"image_id": 1, "category_id": 12, "bbox": [0, 0, 5, 5], "score": 0.5}]
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    assert main(["eval", str(gt_path), str(tmp_path / "extra.json"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "1 prediction(s) of 1 category id(s) not in the ground truth" in captured.err
    assert "12" in captured.err
    assert json.loads(captured.out)["warnings"]


def test_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope.json"), str(tmp_path / "dt.json")]) == 1
    err = capsys.readouterr().err
    assert f"ground truth {tmp_path / 'nope.json'} does not exist (GROUND_TRUTH:" in err  # the argument's name
    (tmp_path / "gt.json").write_text('{"images": [], "annotations": [], "categories": []}')
    assert main(["eval", str(tmp_path / "gt.json"), str(tmp_path / "dt.json")]) == 1
    assert f"predictions {tmp_path / 'dt.json'} do not exist (PREDICTIONS:" in capsys.readouterr().err


def test_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "a.json", "b.json", "--iou-type", "keypoints"])
    assert exc.value.code == 2


def test_yolo_ground_truth_and_predictions(files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """YOLO labels + YOLO predictions with a confidence column give pycocotools' numbers."""
    from detectkit.dataset import Dataset

    gt_path, _, gt, results = files
    Dataset.from_coco(gt_path).to_yolo(tmp_path / "yolo")
    pred_dir = tmp_path / "pred" / "labels"
    pred_dir.mkdir(parents=True)
    cat_index = {c: i for i, c in enumerate(sorted(c["id"] for c in gt["categories"]))}
    lines: dict[int, list[str]] = {im["id"]: [] for im in gt["images"]}
    for r in results:
        x, y, w, h = r["bbox"]
        lines[r["image_id"]].append(
            f"{cat_index[r['category_id']]} {(x + w / 2) / 320:.8f} {(y + h / 2) / 240:.8f} "
            f"{w / 320:.8f} {h / 240:.8f} {r['score']}"
        )
    for image_id, rows in lines.items():
        (pred_dir / f"img{image_id}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
    assert main(["eval", str(tmp_path / "yolo"), str(tmp_path / "pred"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(payload["stats"], _pycoco_stats(gt, results), atol=1e-6, rtol=0)
    assert [r["name"] for r in payload["per_class"]] == ["cat", "dog", "bird"]


def test_format_flags_name_what_detection_cannot_tell(
    files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A COCO file without a ``.json`` name: the error names --gt-format / --pred-format, and with
    them the numbers are pycocotools' again."""
    gt_path, dt_path, gt, results = files
    gt_plain = tmp_path / "instances_val"  # no suffix: the format cannot be told from the name
    dt_plain = tmp_path / "detections.coco"
    gt_plain.write_bytes(gt_path.read_bytes())
    dt_plain.write_bytes(dt_path.read_bytes())
    assert main(["eval", str(gt_plain), str(dt_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot tell the annotation format" in err
    assert "pass --gt-format FORMAT" in err
    assert "format=" not in err
    assert main(["eval", str(gt_plain), str(dt_plain), "--gt-format", "coco"]) == 1
    err = capsys.readouterr().err
    assert "pass --pred-format FORMAT" in err
    assert "--gt-format" not in err
    argv = ["eval", str(gt_plain), str(dt_plain), "--gt-format", "coco", "--pred-format", "coco", "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(payload["stats"], _pycoco_stats(gt, results), atol=1e-6, rtol=0)


def test_format_flag_overrides_detection(files: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder holding YOLO labels and VOC XML is detected as YOLO; --gt-format voc reads its VOC instead."""
    from detectkit.dataset import Dataset
    from detectkit.formats import FORMATS

    gt_path, dt_path, gt, results = files
    both = tmp_path / "both"
    Dataset.from_coco(gt_path).to_yolo(both)
    (both / "Annotations").mkdir()
    (both / "Annotations" / "stray.xml").write_text(
        "<annotation><filename>stray.jpg</filename><size><width>10</width><height>10</height>"
        "<depth>3</depth></size></annotation>"
    )
    assert main(["eval", str(both), str(dt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(payload["stats"], _pycoco_stats(gt, results), atol=1e-6, rtol=0)
    assert main(["eval", str(both), str(dt_path), "--gt-format", "voc", "--json"]) == 1
    assert "error:" in capsys.readouterr().err  # read as VOC: one stray image without boxes
    with pytest.raises(SystemExit) as exc:  # argparse refuses an unknown format (exit 2)
        main(["eval", str(both), str(dt_path), "--gt-format", "kitti"])
    assert exc.value.code == 2
    # the CLI's choices are the library's formats
    from detectkit.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["eval"]  # type: ignore[union-attr]
    action = next(a for a in sub._actions if a.dest == "gt_format")
    assert tuple(action.choices or ()) == FORMATS
