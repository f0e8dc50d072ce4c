"""``detectkit classify`` end to end (one subprocess run, the rest in-process), and ``detect --classifier``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skimage.data
import ultralytics

from detectkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SKIMAGE = Path(skimage.data.__file__).parent
COFFEE = SKIMAGE / "coffee.png"
BUS = Path(ultralytics.ASSETS) / "bus.jpg"
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "in"
    images.mkdir()
    shutil.copy(SKIMAGE / "chelsea.png", images / "a_chelsea.png")
    shutil.copy(COFFEE, images / "b_coffee.png")
    (images / "c_empty.jpg").write_bytes(b"")
    (images / "d_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (images / "notes.txt").write_text("not an image, not picked up")
    return images


def test_folder_json_localize_out_in_a_subprocess(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "detectkit",
            "classify",
            str(folder),
            str(tmp_path / "missing.jpg"),
            "--top-k",
            "3",
            "--localize",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    payload = json.loads(proc.stdout)  # stdout holds only the JSON document
    failed = sorted(Path(f["source"]).name for f in payload["failures"])
    assert failed == ["c_empty.jpg", "d_corrupt.png", "missing.jpg"]
    for name in failed:
        assert name in proc.stderr
    results = payload["results"]
    assert [Path(r["source"]).name for r in results] == ["a_chelsea.png", "b_coffee.png"]
    assert results[0]["classification"]["labels"][0] in CAT_CLASSES
    assert results[1]["classification"]["labels"][0] == "espresso"
    assert len(results[1]["classification"]["labels"]) == 3
    loc = results[1]["localization"]
    assert loc["labels"] == ["espresso"]
    assert len(loc["xyxy"]) == 1
    assert "data" not in loc  # heatmaps stay out of the JSON
    assert payload["summary"]["images"] == 2
    assert payload["summary"]["failed"] == 3
    lines = (out / "classifications.jsonl").read_text().splitlines()
    assert [Path(json.loads(line)["source"]).name for line in lines] == ["a_chelsea.png", "b_coffee.png"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a_chelsea_cam.jpg", "b_coffee_cam.jpg"]
    assert not list(out.glob(".*.tmp"))


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(COFFEE), "--top-k", "2"]) == 0
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith(f"{COFFEE}: espresso 0.99")
    assert first.count(",") == 1  # two classes
    assert "1 image(s) classified; 0 failed" in captured.out


def test_quiet_and_batches(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "c_empty.jpg").unlink()
    (folder / "d_corrupt.png").unlink()
    shutil.copy(BUS, folder / "e_bus.jpg")
    assert main(["classify", str(folder), "--batch-size", "2", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top-k", "0"], "--top-k must be >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--threshold", "0"], "--threshold must be in (0, 1]"),
        (["--weights", "x.pth"], "--weights needs --model"),
        (["--device", "warp-drive"], "device must be a torch device"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(COFFEE), *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_model_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(COFFEE), "--model", "no-such-classifier"]) == 1
    err = capsys.readouterr().err
    assert "unknown classifier 'no-such-classifier'" in err
    assert "mobilenet_v2-imagenet" in err


def test_missing_source_argument_is_usage() -> None:
    with pytest.raises(SystemExit) as info:
        main(["classify"])
    assert info.value.code == 2


def test_detect_with_classifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    import torchvision

    small = tmp_path / "mobilenet_v3_small-00000000.pth"  # a small random classifier keeps this fast
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=4).state_dict(), small)
    code = main(
        [
            "detect",
            str(BUS),
            "--model",
            "yolov8n.yaml",
            "--conf",
            "0",
            "--imgsz",
            "64",
            "--classifier",
            str(small),
            "--json",
            "-q",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    dets = payload["results"][0]["detections"]
    n = len(dets["xyxy"])
    assert n > 0
    labels = dets["data"]["crop_label"]
    assert len(labels) == n
    assert all(len(row) == 1 and row[0] in {"0", "1", "2", "3"} for row in labels)
    assert len(dets["data"]["crop_confidence"]) == n


def test_empty_folder_has_no_progress_bar_or_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["classify", str(tmp_path / "empty")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("detectkit classify: error: folder")
    assert "holds no images" in captured.err
    assert "0img" not in captured.err
    assert captured.out.startswith("0 image(s) classified; 1 failed;")
    assert "ms/image" not in captured.out
