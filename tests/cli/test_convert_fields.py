"""convert carries COCO attributes where the target holds them and reports what it cannot hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.cli import main
from detectkit.formats import convert, read

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
KEYPOINTS = DATA / "coco_keypoints" / "person_keypoints_val.json"


def _convert_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["convert", *args, "--json", "--no-images"]) == 0
    out = capsys.readouterr().out
    return dict(json.loads(out[out.index("{") :]))


def test_keypoints_and_attributes_lost_by_yolo_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _convert_json([str(KEYPOINTS), str(tmp_path / "y"), "--to", "yolo"], capsys)
    assert payload["lost_fields"] == {"keypoints": 2, "num_keypoints": 2, "attributes": 1}
    assert any("keypoints of 2 object(s)" in n for n in payload["notes"])  # type: ignore[union-attr]


def test_attributes_are_carried_into_cvat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _convert_json([str(KEYPOINTS), str(tmp_path / "a.xml"), "--to", "cvat"], capsys)
    assert payload["lost_fields"] == {"keypoints": 2, "num_keypoints": 2}
    back = read(tmp_path / "a.xml")
    attrs = [a for a in back.table.data["attributes"].tolist() if a]
    assert attrs == [{"occluded": "False", "pose": "standing"}]  # CVAT attribute values are text


def test_coco_keeps_everything_and_api_convert_reports(tmp_path: Path) -> None:
    summary = convert(KEYPOINTS, tmp_path / "c.json", to="coco")
    assert not any("not representable" in n for n in summary.notes)
    ann = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["annotations"]
    assert ann[0]["keypoints"] == [433, 94, 2, 434, 90, 2, 0, 0, 0]
    assert ann[0]["attributes"] == {"occluded": False, "pose": "standing"}
    summary = convert(KEYPOINTS, tmp_path / "y", to="yolo")
    assert any("keypoints of 2 object(s)" in n for n in summary.notes)


def test_skipped_shapes_are_in_skipped_source_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _convert_json([str(DATA / "labelme_sample"), str(tmp_path / "l.json"), "--to", "coco"], capsys)
    skipped = payload["skipped_source_records"]
    assert isinstance(skipped, list)
    assert any("'line'" in s and "skipped" in s for s in skipped)
