"""`detectkit detect --track/--zone/--line --save-video` end to end, `eval --mot`, and a run
stopped by Ctrl-C / SIGTERM / SIGKILL still leaving a playable video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _video_gen import load_generator

from detectkit import Detections
from detectkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
genvideo = load_generator()


def _frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    return n


class _MovingBoxDetector:
    """Stands in for the YOLO detector: one box moving right 10 px a frame (so counts are known)."""

    backend = "fake"

    def __init__(self, model: Any, **kwargs: Any) -> None:
        self.frame = 0

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            x = 5 + 10 * self.frame
            self.frame += 1
            out.append(
                Detections(
                    xyxy=[[x, 30, x + 20, 50]],
                    confidence=[0.9],
                    class_id=[1],
                    names={1: "square"},
                    image_size_wh=(img.shape[1], img.shape[0]),
                )
            )
        return out


def _clip(path: Path, frames: int = 12, size_wh: tuple[int, int] = (128, 96)) -> Path:
    w, h = size_wh
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(frames):
        writer.write(np.full((h, w, 3), (40 + 5 * i) % 256, np.uint8))
    writer.release()
    return path


def test_track_zone_line_json_and_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("detectkit.models.detector.Detector", _MovingBoxDetector)
    clip = _clip(tmp_path / "clip.avi")
    out = tmp_path / "out"
    code = main(
        ["detect", str(clip), "--track", "--tracker", "bytetrack", "--save-video", "--save-images", "--out", str(out),
         "--line", "60,0,60,96", "--zone", "0,0,40,0,40,96,0,96", "--json", "-q"]
    )  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    summary = payload["summary"]
    assert summary["tracker"] == "bytetrack"
    assert set(summary["timing"]["ms"]) == {"decode", "detect", "track", "draw", "encode"}
    assert summary["timing"]["fps"] > 0
    assert summary["sources"][0]["lines"] == [{"name": "line1", "in": {}, "out": {"square": 1}}]
    assert summary["sources"][0]["zones"][0]["left"] == {"square": 1}
    lines = (out / "detections.jsonl").read_text().splitlines()
    assert len(lines) == 12
    records = [json.loads(x) for x in lines]
    ids = {i for r in records for i in r["detections"]["tracker_id"]}
    assert ids == {1}  # one object, one id
    assert records[-1]["lines"][0]["out"] == 1
    assert records[0]["zones"][0]["name"] == "zone1"
    video = out / "videos" / "clip.mp4"
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["clip.mp4"]
    assert _frames(video) == 12
    assert len(list((out / "images").glob("clip_*.jpg"))) == 12
    mot = (out / "mot" / "clip.txt").read_text().splitlines()
    assert mot[0].startswith("2,1,")  # frame 2 (ByteTrack confirms on the 2nd frame), id 1
    assert len(mot) == sum(len(r["detections"]["tracker_id"]) for r in records)
    assert records[3]["annotated_image"].endswith("clip_000003.jpg")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--line", "1,2,3"], "--line needs at least 2"),
        (["--line", "0,0,10,10,20,20"], "exactly two points"),
        (["--zone", "0,0,10,10"], "--zone needs at least 3"),
        (["--reconnect", "-5", "--track"], "--reconnect"),
        (["--track", "--save-dataset", "ds"], "--save-dataset"),
    ],
)
def test_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, extra: list[str], message: str
) -> None:
    monkeypatch.setattr("detectkit.models.detector.Detector", _MovingBoxDetector)
    clip = _clip(tmp_path / "clip.avi", frames=2)
    assert main(["detect", str(clip), "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_source_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("detectkit.models.detector.Detector", _MovingBoxDetector)
    assert main(["detect", str(tmp_path / "nope.mp4"), "--track", "-q"]) == 1
    assert "nope.mp4 does not exist" in capsys.readouterr().err


_SLOW_RUN = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from detectkit import Detections
    import detectkit.models.detector as d

    class Slow:
        backend = "fake"
        def __init__(self, model, **kw):
            self.n = 0
        def detect_batch(self, images):
            self.n += 1
            if self.n == 8:
                open(sys.argv[1], "w").close()  # tell the test we are well under way
            time.sleep(0.05)
            return [Detections(xyxy=[[10, 10, 40, 40]], confidence=[0.9]) for _ in images]

    d.Detector = Slow
    from detectkit.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


def _start_slow_run(tmp_path: Path, clip: Path, out: Path) -> subprocess.Popen[str]:
    """``detect CLIP --track --save-video`` in a subprocess, returned once its first frame is done."""
    marker = tmp_path / "started"
    script = tmp_path / "run.py"
    script.write_text(_SLOW_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, str(script), str(marker), "detect", str(clip), "--track", "--save-video", "--out", str(out)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not marker.exists():
        err = proc.communicate()[1] if proc.poll() is not None else "no progress"
        if proc.poll() is None:
            proc.kill()
        raise AssertionError(err)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_a_playable_video(tmp_path: Path, sig: signal.Signals) -> None:
    clip = _clip(tmp_path / "long.avi", frames=400)
    out = tmp_path / "out"
    proc = _start_slow_run(tmp_path, clip, out)
    try:
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    video = out / "videos" / "long.mp4"
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["long.mp4"]  # moved into place, no temp file
    n = _frames(video)
    assert 8 <= n < 400  # playable, with the frames processed before the signal
    records = (out / "detections.jsonl").read_text().splitlines()
    assert len(records) == n  # every frame written to the video has its JSON line
    json.loads(records[-1])


def test_sigkilled_run_leaves_a_playable_video(tmp_path: Path) -> None:
    """SIGKILL runs no handler and no close(): the fragmented MP4 on disk must play anyway."""
    av = pytest.importorskip("av")
    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (128, 96))
    for i in range(400):
        writer.write(np.full((96, 128, 3), (40 + 5 * i) % 256, np.uint8))
    writer.release()
    out = tmp_path / "out"
    proc = _start_slow_run(tmp_path, src, out)
    try:
        time.sleep(0.5)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    video = out / "videos" / "clip.mp4"
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["clip.mp4"]  # written in place
    n = _frames(video)
    assert 1 <= n < 400  # OpenCV decodes the frames encoded before the kill
    with av.open(str(video)) as container:  # and so does FFmpeg through PyAV, as H.264
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == n


@pytest.mark.slow
def test_demo_detector_tracks_the_generated_clip_end_to_end(tmp_path: Path, capsys: Any) -> None:
    """The real demo detector on a generated clip with a crossing: the CLI writes ids, eval --mot scores them."""
    seq = tmp_path / "seq"
    genvideo.generate_video(seq, seed=1, size_wh=(416, 256), frames=36, objects=1, crossing_pairs=1)
    out = tmp_path / "out"
    assert main(["detect", str(seq / "video.mp4"), "--track", "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["eval", "--mot", str(seq), str(out / "detections.jsonl"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert main(["eval", "--mot", str(seq / "gt" / "gt.txt"), str(out / "mot" / "video.txt"), "--json"]) == 0
    from_text = json.loads(capsys.readouterr().out)
    assert from_text["id_switches"] == metrics["id_switches"]
    assert abs(from_text["hota"] - metrics["hota"]) < 2e-3  # boxes rounded to 0.01 px in the text
    assert metrics["id_switches"] == 0
    assert metrics["hota"] > 0.6
    assert metrics["idf1"] > 0.75
    assert metrics["pred_ids"] <= metrics["gt_ids"] + 1


def test_live_url_drops_frames_and_reports_them(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """A fast 'camera' (a fake rtsp capture, 600 frames at 1000 FPS) and a slow detector: the CLI
    keeps up with the newest frame and reports the dropped ones."""
    import threading

    class Capture:
        def __init__(self) -> None:
            self.n = 0

        def isOpened(self) -> bool:
            return True

        def read(self) -> tuple[bool, Any]:
            if self.n >= 600:
                return False, None
            time.sleep(0.001)
            self.n += 1
            return True, np.zeros((96, 128, 3), np.uint8)

        def release(self) -> None:
            pass

    class SlowDetector(_MovingBoxDetector):
        def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
            time.sleep(0.02)
            return super().detect_batch(images)

    monkeypatch.setattr("detectkit.video.sources._open_cv2", lambda source: Capture())
    monkeypatch.setattr("detectkit.models.detector.Detector", SlowDetector)
    code = main(["detect", "rtsp://camera.local/stream", "--json", "-q"])
    payload = json.loads(capsys.readouterr().out)
    # the stream ended (dead camera, no --reconnect): reported as a failure, exit 1
    assert code == 1
    assert "the stream ended" in payload["failures"][0]["error"]
    src = payload["summary"]["sources"]
    assert src[0]["read"] == 600
    assert src[0]["dropped"] > 100
    assert src[0]["delivered"] + src[0]["dropped"] == 600
    assert payload["summary"]["images"] == src[0]["frames"] == src[0]["delivered"]
    assert not [t for t in threading.enumerate() if t.name.startswith("detectkit-reader")]


def test_video_mode_uses_one_onnx_thread_and_restores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    class Recording(_MovingBoxDetector):
        def __init__(self, model: Any, **kwargs: Any) -> None:
            super().__init__(model, **kwargs)
            seen.append(os.environ.get("DETECTKIT_ORT_THREADS"))

    monkeypatch.setattr("detectkit.models.detector.Detector", Recording)
    monkeypatch.delenv("DETECTKIT_ORT_THREADS", raising=False)
    clip = _clip(tmp_path / "clip.avi", frames=2)
    assert main(["detect", str(clip), "--track", "-q"]) == 0
    assert main(["detect", str(clip), "-q"]) == 0  # not video mode: untouched
    monkeypatch.setenv("DETECTKIT_ORT_THREADS", "2")
    assert main(["detect", str(clip), "--track", "-q"]) == 0  # the user's choice wins
    assert seen == ["1", None, "2"]
    assert os.environ["DETECTKIT_ORT_THREADS"] == "2"
