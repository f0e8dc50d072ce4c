"""End-to-end tests of ``detectkit detect`` (in a subprocess, like a user runs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detectkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


def _run(args: list[str], cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DETECTKIT_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "detectkit", "detect", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "in"
    images.mkdir()
    for p in SAMPLES[:3]:
        shutil.copy(p, images / p.name)
    (images / "empty.jpg").write_bytes(b"")
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (images / "notes.txt").write_text("not an image, not picked up")
    return images


def test_folder_with_bad_files_json_out_and_images(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run(
        [str(folder), str(tmp_path / "missing.jpg"), "--out", str(out), "--save-images", "--json"],
        tmp_path / "cache",
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    payload = json.loads(proc.stdout)  # stdout holds only the JSON document
    failed = sorted(Path(f["source"]).name for f in payload["failures"])
    assert failed == ["corrupt.png", "empty.jpg", "missing.jpg"]
    for name in failed:
        assert name in proc.stderr  # reported by name
    assert [Path(r["source"]).name for r in payload["results"]] == [p.name for p in SAMPLES[:3]]
    summary = payload["summary"]
    assert summary["images"] == 3
    assert summary["failed"] == 3
    assert summary["detections"] == sum(len(r["detections"]["xyxy"]) for r in payload["results"])
    assert summary["detections"] > 0
    assert set(summary["per_class"]) <= {"circle", "square", "triangle", "star", "cross"}
    lines = (out / "detections.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["image_size_wh"] == payload["results"][0]["image_size_wh"]
    assert sorted(p.name for p in (out / "images").iterdir()) == [p.name for p in SAMPLES[:3]]
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "in", "out"}  # nothing else in the cwd


@pytest.mark.slow
def test_single_image_onnx_summary(tmp_path: Path) -> None:
    proc = _run(
        [str(SAMPLES[0]), "--backend", "onnx", "--conf", "0.3", "--classes", "circle,square"], tmp_path, tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 image(s)" in proc.stdout
    assert "0 failed" in proc.stdout
    assert "backend onnx" in proc.stdout
    assert "ONNX" not in proc.stdout  # export chatter stays on stderr
    assert "triangle" not in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["detect"],
        ["detect", "x.jpg", "--conf", "abc"],
        ["detect", "x.jpg", "--backend", "tensorrt"],
        ["detect", "x.jpg", "--save-images"],
        ["detect", "x.jpg", "--vid-stride", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_bad_option_value_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(SAMPLES[0]), "--conf", "5", "--quiet"]) == 2
    assert "conf must be in [0.0, 1.0], got 5.0" in capsys.readouterr().err


def test_unknown_model_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(SAMPLES[0]), "--model", "nope-model"]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'nope-model'" in err
    assert "demo-shapes" in err


def test_empty_folder_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["detect", str(tmp_path / "empty"), "--quiet"]) == 1
    assert "holds no images (use --recursive for sub-folders)" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "empty")]) == 1  # not quiet: no empty progress bar, no rate
    captured = capsys.readouterr()
    assert "0img" not in captured.err
    assert captured.err.startswith("detectkit detect: error: folder")
    assert "0 image(s), 0 detection(s) (none); 1 failed;" in captured.out
    assert "ms/image" not in captured.out


def test_agnostic_nms_flag_reaches_the_detector(capsys: pytest.CaptureFixture[str]) -> None:
    from detectkit import Detector

    args = ["--conf", "0.05", "--iou", "0.5", "--json", "--quiet"]
    counts = {}
    for flag in ([], ["--agnostic-nms"]):
        assert main(["detect", *map(str, SAMPLES[:8]), *args, *flag]) == 0
        results = json.loads(capsys.readouterr().out)["results"]
        counts[bool(flag)] = sum(len(item["detections"]["class_id"]) for item in results)
    det = Detector(conf=0.05, iou=0.5, agnostic_nms=True)
    assert counts[True] == sum(len(det.detect(p)) for p in SAMPLES[:8])
    assert counts[True] < counts[False]
