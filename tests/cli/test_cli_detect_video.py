"""`detectkit detect --save-video / --save-images`: drawn through detectkit.viz, video round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detectkit import Detections
from detectkit.cli import main
from detectkit.viz import VideoWriter, class_color


class _FakeDetector:
    """Stands in for the YOLO detector: one fixed box per image (so the drawing is known)."""

    backend = "fake"

    def __init__(self, model: Any, **kwargs: Any) -> None:
        self.model = model

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        return [Detections(xyxy=[[20, 20, 80, 70]], confidence=[0.9], class_id=[2], names={2: "car"}) for _ in images]


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("detectkit.models.detector.Detector", _FakeDetector)


def _video(path: Path, frames: int = 6, fps: float = 12.0) -> Path:
    with VideoWriter(path, fps=fps, size_wh=(128, 96)) as writer:
        for i in range(frames):
            writer.write(np.full((96, 128, 3), 30 + 10 * i, np.uint8))
    return path


@pytest.mark.usefixtures("fake_detector")
def test_save_video_keeps_size_and_duration(tmp_path: Path) -> None:
    clip = _video(tmp_path / "clip.avi")
    out = tmp_path / "out"
    code = main(["detect", str(clip), "--out", str(out), "--save-video", "--vid-stride", "2", "--quiet"])
    assert code == 0
    target = out / "videos" / "clip.mp4"
    assert [p.name for p in (out / "videos").iterdir()] == ["clip.mp4"]  # no temp file left
    cap = cv2.VideoCapture(str(target))
    try:
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (128, 96)
        assert abs(cap.get(cv2.CAP_PROP_FPS) - 6.0) < 0.01  # 12 fps, every 2nd frame: same duration
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    assert len(frames) == 3
    # the box's left edge is drawn in the class colour (yellow); a thin line through a lossy
    # codec keeps its brightness in G and R while the background stays dark grey
    edge = frames[0][45, 19:22].astype(int)
    assert class_color(2) == (25, 225, 255)
    assert ((edge[:, 1] > 150) & (edge[:, 2] > 150)).any()
    assert (frames[0][45, 40] < 60).all()
    assert not (out / "images").exists()


@pytest.mark.usefixtures("fake_detector")
def test_save_images_drawn_with_viz(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((96, 128, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["detect", str(image), "--out", str(out), "--save-images", "--quiet"]) == 0
    drawn = cv2.imread(str(out / "images" / "a.png"))
    assert tuple(drawn[45, 20]) == class_color(2)
    assert [p.name for p in (out / "images").iterdir()] == ["a.png"]


def test_save_video_needs_out(tmp_path: Path) -> None:
    assert main(["detect", str(tmp_path / "x.mp4"), "--save-video"]) == 2
