"""save() (atomic, formats, channel order), VideoWriter round trip."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit import Detections, InvalidInputError
from detectkit.viz import VideoWriter, annotate, class_color, save


def _image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_png_round_trip_exact_and_no_temp_files(tmp_path: Path) -> None:
    img = _image()
    path = save(img, tmp_path / "sub" / "a.png")
    np.testing.assert_array_equal(cv2.imread(str(path)), img)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.png"]


def test_jpeg_quality_and_rgb_channels(tmp_path: Path) -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, :, 0] = 255  # red in RGB
    save(img, tmp_path / "r.jpg", channels="rgb", quality=90)
    back = cv2.imread(str(tmp_path / "r.jpg"))
    assert back[16, 16, 2] > 240  # red lands in OpenCV's R channel
    assert back[16, 16, 0] < 15


def test_rgba_png_keeps_alpha_and_grayscale(tmp_path: Path) -> None:
    rgba = np.dstack([_image(), np.full((48, 64), 100, np.uint8)])
    save(rgba, tmp_path / "a.png")
    assert cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)[0, 0, 3] == 100
    save(rgba, tmp_path / "a.jpg")  # alpha dropped for JPEG
    gray = _image()[:, :, 0]
    save(gray, tmp_path / "g.png")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "g.png"), cv2.IMREAD_UNCHANGED), gray)


def test_failed_write_leaves_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    save(_image(), target)
    before = target.read_bytes()
    with pytest.raises(InvalidInputError):
        save(np.zeros((4, 4), np.float32), target)
    assert target.read_bytes() == before
    with pytest.raises(InvalidInputError, match="path must end"):
        save(_image(), tmp_path / "x.gif")
    with pytest.raises(InvalidInputError, match="quality"):
        save(_image(), tmp_path / "x.jpg", quality=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_video_round_trip(tmp_path: Path, ext: str) -> None:
    """Generate frames, annotate, write, read back: frame count, fps, size and drawn colour survive."""
    w, h, n, fps = 160, 120, 12, 15.0
    target = tmp_path / f"clip{ext}"
    with VideoWriter(target, fps=fps, size_wh=(w, h)) as writer:
        for i in range(n):
            frame = np.full((h, w, 3), 40, np.uint8)
            dets = Detections(xyxy=[[10 + 5 * i, 30, 60 + 5 * i, 90]], confidence=[0.9], class_id=[1])
            writer.write(annotate(frame, dets, labels=False, thickness=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    cap = cv2.VideoCapture(str(target))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == w
        assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == h
        assert abs(cap.get(cv2.CAP_PROP_FPS) - fps) < 0.01
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    assert len(frames) == n
    green = np.array(class_color(1), float)
    last = frames[-1].astype(float)
    x_left = 10 + 5 * (n - 1)
    assert np.abs(last[60, x_left] - green).max() < 60  # box edge still the class colour after compression
    assert np.abs(last[60, 5] - 40).max() < 20


def test_video_writer_checks_and_abort(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="path must end"):
        VideoWriter(tmp_path / "x.gif", fps=10, size_wh=(8, 8))
    with pytest.raises(InvalidInputError, match="fps"):
        VideoWriter(tmp_path / "x.avi", fps=0, size_wh=(8, 8))
    target = tmp_path / "bad.avi"

    def write_wrong_size() -> None:
        with VideoWriter(target, fps=10, size_wh=(32, 24)) as writer:
            writer.write(np.zeros((24, 32, 3), np.uint8))
            writer.write(np.zeros((10, 10, 3), np.uint8))

    with pytest.raises(InvalidInputError, match="size_wh"):
        write_wrong_size()
    assert list(tmp_path.iterdir()) == []  # the partial file was removed


def test_video_odd_size_is_cropped_to_even(tmp_path: Path) -> None:
    target = tmp_path / "odd.avi"
    with VideoWriter(target, fps=10, size_wh=(101, 75)) as writer:
        for _ in range(3):
            writer.write(np.full((75, 101, 3), 200, np.uint8))
    assert writer.encoded_size_wh == (100, 74)
    cap = cv2.VideoCapture(str(target))
    ok, frame = cap.read()
    cap.release()
    assert ok
    assert frame.shape == (74, 100, 3)
    assert np.abs(frame.astype(int) - 200).max() < 10


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        image = save(_image(), tmp_path / "p.png")
        with VideoWriter(tmp_path / "v.avi", fps=5, size_wh=(16, 16)) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
    finally:
        os.umask(old)
    assert image.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "v.avi").stat().st_mode & 0o777 == 0o644


def test_show_displays_rgb_with_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown: list[np.ndarray] = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gca().get_images()[0].get_array()))
    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    from detectkit.viz import show

    show(image, title="blue")
    plt.close("all")
    assert len(shown) == 1
    assert tuple(shown[0][0, 0]) == (0, 0, 255)  # displayed as RGB blue
