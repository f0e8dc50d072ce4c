"""`detectkit train`, `detectkit export` and `detectkit augment-preview` end to end."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from detectkit.cli import main


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_export_usage_errors() -> None:
    code, _, err = _run(["export", "demo-shapes", "--int8"])
    assert code == 2
    assert "--int8 needs --calibration" in err
    code, _, err = _run(["export", "no-such-model"])
    assert code == 1
    assert "unknown model 'no-such-model'" in err
    assert "Traceback" not in err


def test_augment_preview_cli(tmp_path: Path) -> None:
    shapes = Path(__file__).resolve().parents[2] / "datasets" / "shapes"
    code, out, _ = _run(
        ["augment-preview", str(shapes), "--images", "2", "--size", "64", "--out", str(tmp_path / "p.jpg")]
    )
    assert code == 0
    assert Path(out.strip()).is_file()
    code, _, err = _run(["augment-preview", str(tmp_path / "missing")])
    assert code == 1
    assert "does not exist" in err


def test_train_usage_errors(tmp_path: Path) -> None:
    code, _, err = _run(["train", "classifier", str(tmp_path), "--epochs", "0"])
    assert code == 2
    assert "--epochs must be >= 1" in err
    code, _, err = _run(["train", "detector", str(tmp_path / "none"), "--val-split", "1.5"])
    assert code == 2


@pytest.mark.slow
def test_train_classifier_then_export_int8_cli(colour_folder: Path, tmp_path: Path) -> None:
    train = ["train", "classifier", str(colour_folder), "--epochs", "2", "--freeze-backbone", "2"]
    train += ["--imgsz", "64", "--batch", "12", "--out", str(tmp_path / "run"), "--name", "cli-colours", "--json"]
    code, out, err = _run(train)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["name"] == "cli-colours"
    assert "epoch 1/2 [head]" in err
    export = ["export", "cli-colours", "--format", "openvino", "--int8", "--calibration", str(colour_folder)]
    export += ["--out", str(tmp_path / "c.xml"), "--max-drop", "100", "--json"]
    code, out, err = _run(export)
    assert code == 0, err
    result = json.loads(out)
    assert result["metric"] == "top1"
    assert result["int8"] is True
    from detectkit.models.classifier import Classifier

    assert dict(Classifier(result["name"]).names) == {0: "blue", 1: "green", 2: "red"}
