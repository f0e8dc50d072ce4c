"""Tests for ``detectkit anonymize``: images, folders with bad files, videos, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest

from detectkit.cli import main

GRACE = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def test_folder_with_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "grace.jpg").write_bytes(GRACE.read_bytes())
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "--out", str(out), "--method", "pixelate"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err
    assert "Traceback" not in err
    records = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert [(Path(r["source"]).name, r["faces"]) for r in records] == [("grace.jpg", 1)]
    written = cv2.imread(str(out / "images" / "grace.jpg"))
    original = cv2.imread(str(GRACE))
    assert written.shape == original.shape
    assert not np.array_equal(written, original)
    assert not list(out.glob(".*.tmp"))


def test_video_keeps_a_missed_face_covered(tmp_path: Path) -> None:
    """Frames 0-1 show the face, frames 2-3 are grey: the face's box stays covered (held) for --persist frames."""
    img = cv2.resize(cv2.imread(str(GRACE)), (256, 300))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (256, 300))
    for frame in (img, img, np.full_like(img, 127), np.full_like(img, 127)):
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    assert main(["anonymize", str(video), "--out", str(out), "--method", "solid", "--persist", "1", "-q"]) == 0
    records = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert [r["frame_index"] for r in records] == [0, 1, 2, 3]
    assert [r["faces"] for r in records] == [1, 1, 0, 0]
    assert [r["held"] for r in records] == [0, 0, 1, 0]
    cap = cv2.VideoCapture(str(out / "videos" / "clip.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 4
    assert (frames[2] < 40).all(axis=2).sum() > 1000  # the held box is painted black
    assert (frames[3] < 40).all(axis=2).sum() == 0


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anonymize", str(GRACE), "--out", str(tmp_path), "--classes", "person"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["anonymize", str(GRACE), "--out", str(tmp_path), "--padding", "-1"]) == 2
    assert main(["anonymize", str(GRACE), "--out", str(tmp_path), "--persist", "-2"]) == 2


def test_classes_of_a_yolo_model(tmp_path: Path) -> None:
    """--classes covers those classes of --model (here the shipped shapes detector), faces off."""
    image = sorted((Path(__file__).resolve().parents[2] / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[0]
    out = tmp_path / "out"
    code = main(
        ["anonymize", str(image), "--out", str(out), "--classes", "square,circle", "--model", "demo-shapes", "-q"]
    )
    assert code == 0
    (record,) = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert record["faces"] == 0
    assert set(record["objects"]) <= {"square", "circle"}
    assert sum(record["objects"].values()) >= 1
    assert not np.array_equal(cv2.imread(str(out / "images" / image.name)), cv2.imread(str(image)))
