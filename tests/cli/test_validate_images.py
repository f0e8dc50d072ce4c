"""validate finds images the way convert does, or says in ONE line what to pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectkit.cli import main
from detectkit.formats import coco

SHAPES = Path(__file__).resolve().parents[2] / "datasets" / "shapes"


def test_project_sample_validates_clean(capsys: pytest.CaptureFixture[str]) -> None:
    ann = SHAPES / "annotations" / "instances_val.json"  # images in ../images/val
    assert main(["validate", str(ann)]) == 0
    assert "OK: 60 images" in capsys.readouterr().out
    assert all(r.path is not None for r in coco.read(ann).images)


def test_images_nowhere_is_one_line_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ann = tmp_path / "x.json"
    shutil.copy(SHAPES / "annotations" / "instances_val.json", ann)
    assert main(["validate", str(ann)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    assert "60 of 60 image files not found" in out[0]
    assert "--images DIR" in out[0]
    assert "60 error(s)" in out[1]
    assert main(["validate", str(ann), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errors"] == 60
    assert len(payload["problems"]) == 1
    assert main(["validate", str(ann), "--images", str(SHAPES / "images" / "val")]) == 0
