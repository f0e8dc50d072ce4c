"""detectkit.video.writer: H.264 fragmented MP4 written in place (playable without close)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.errors import InvalidInputError
from detectkit.video.writer import StreamingVideoWriter, count_frames, open_video_writer

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parents[2]


def _frame(i: int, size_wh: tuple[int, int] = (96, 64)) -> np.ndarray:
    w, h = size_wh
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (30, 140, 220)  # orange-ish BGR half
    img[:, w // 2 :] = (200, 60, 20)
    cv2.rectangle(img, (4 + 2 * i, 4), (24 + 2 * i, 24), (255, 255, 255), -1)
    return img


def test_round_trip_frames_colours_and_h264(tmp_path: Path) -> None:
    target = tmp_path / "a.mp4"
    with StreamingVideoWriter(target, fps=12.5, size_wh=(96, 64)) as writer:
        for i in range(20):
            writer.write(_frame(i))
    assert writer.frames == 20
    assert count_frames(target) == 20
    cap = cv2.VideoCapture(str(target))
    ok, first = cap.read()
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert ok
    assert abs(fps - 12.5) < 1e-3
    # BT.601 limited range tagged, so decoders convert back to nearly the same colours
    assert np.abs(first[8:56, 30:40].astype(int) - (30, 140, 220)).mean() < 6
    assert np.abs(first[8:56, 60:90].astype(int) - (200, 60, 20)).mean() < 6
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (96, 64)


def test_odd_size_gray_and_bgra_frames(tmp_path: Path) -> None:
    target = tmp_path / "odd.m4v"
    with StreamingVideoWriter(target, fps=10, size_wh=(33, 21)) as writer:
        writer.write(np.zeros((21, 33), np.uint8))
        writer.write(np.zeros((21, 33, 4), np.uint8))
        assert writer.encoded_size_wh == (32, 20)
        with pytest.raises(InvalidInputError, match="size_wh"):
            writer.write(np.zeros((20, 32, 3), np.uint8))
        with pytest.raises(InvalidInputError, match="uint8"):
            writer.write(np.zeros((21, 33, 3), np.float32))
    assert count_frames(target) == 2
    with pytest.raises(InvalidInputError, match="after close"):
        writer.write(np.zeros((21, 33, 3), np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": "x.avi"}, "must end in"),
        ({"fps": 0}, "fps"),
        ({"fps": "fast"}, "fps"),
        ({"size_wh": (1, 10)}, "size_wh"),
        ({"crf": 60}, "crf"),
        ({"threads": -1}, "threads"),
        ({"keyframe_seconds": 0}, "keyframe_seconds"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    options: dict[str, object] = {"path": "v.mp4", "fps": 10, "size_wh": (32, 32), **kwargs}
    options["path"] = tmp_path / str(options["path"])
    with pytest.raises(InvalidInputError, match=match):
        StreamingVideoWriter(**options)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_abort_deletes_and_fallback_for_other_extensions(tmp_path: Path) -> None:
    writer = StreamingVideoWriter(tmp_path / "gone.mp4", fps=10, size_wh=(32, 32))
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.abort()
    assert not (tmp_path / "gone.mp4").exists()
    assert type(open_video_writer(tmp_path / "b.mp4", fps=5, size_wh=(32, 32))).__name__ == "StreamingVideoWriter"
    other = open_video_writer(tmp_path / "c.avi", fps=5, size_wh=(32, 32))
    assert type(other).__name__ == "VideoWriter"  # OpenCV MJPG, atomic on close
    other.abort()


def test_killed_writer_process_leaves_all_but_the_last_frame(tmp_path: Path) -> None:
    """SIGKILL with no close(): every frame but the one the muxer holds is on disk and decodes."""
    target = tmp_path / "killed.mp4"
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from detectkit.video.writer import StreamingVideoWriter
        w = StreamingVideoWriter({str(target)!r}, fps=30, size_wh=(160, 120))
        for i in range(45):
            w.write(np.random.default_rng(i).integers(0, 255, (120, 160, 3), dtype=np.uint8))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert count_frames(target) == 44
