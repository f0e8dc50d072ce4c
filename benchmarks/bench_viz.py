"""Visualisation speed: detectkit.viz vs supervision and Ultralytics, side by side in one run.

1. A 1920x1080 frame with 100 boxes + labels. Peers draw in place, so their timing includes
   the ``image.copy()`` a caller needs to keep the original (detectkit copies internally).
   Goal: detectkit <= 1.2x supervision ``BoxAnnotator`` + ``LabelAnnotator``.
2. The same frame with 20 instance masks (detectkit vs supervision ``MaskAnnotator`` + boxes).
3. Video at 720p: decode fps of a generated clip vs annotate fps (20 boxes + labels per frame).
   Goal: annotation keeps up with decoding.

Timings are medians over interleaved repeats. Run: ``.venv/bin/python benchmarks/bench_viz.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "ultralytics"))

import cv2
import numpy as np

from detectkit import Detections
from detectkit.viz import VideoWriter, annotate

REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
INNER = int(os.environ.get("BENCH_INNER", "10"))


def _scene(n: int, w: int, h: int, seed: int = 0) -> tuple[np.ndarray, Detections]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    image = np.dstack([(x // 4) % 256, (y // 3) % 256, ((x + y) // 6) % 256]).astype(np.uint8)
    image = cv2.add(image, rng.integers(0, 30, image.shape, dtype=np.uint8))
    xy = rng.uniform(0, 1, (n, 2)) * [w * 0.95, h * 0.95]
    wh = rng.uniform(0.02, 0.15, (n, 2)) * [w, h]
    xyxy = np.concatenate([xy, np.minimum(xy + wh, [w - 1, h - 1])], axis=1)
    names = {i: f"class_{i}" for i in range(80)}
    dets = Detections(xyxy=xyxy, confidence=rng.uniform(0.25, 1.0, n), class_id=rng.integers(0, 80, n), names=names)
    return image, dets


def _time(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median ms per call, peers interleaved so machine noise hits all alike."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(INNER):
                fn()
            samples[name].append((time.perf_counter() - t0) / INNER * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


def _table(title: str, ms: dict[str, float], base: str) -> None:
    print(f"\n{title}")
    print(f"{'implementation':<52} {'ms/frame':>9} {'vs ' + base:>24}")
    for name, value in ms.items():
        print(f"{name:<52} {value:9.2f} {value / ms[base]:23.2f}x")


def bench_boxes() -> dict[str, float]:
    import supervision as sv
    from ultralytics.utils.plotting import Annotator

    image, dets = _scene(100, 1920, 1080)
    sdets = dets.to_supervision()
    labels = [f"{n} {c:.2f}" for n, c in zip(dets.labels, dets.confidence.tolist(), strict=True)]  # type: ignore[union-attr]
    box, label = sv.BoxAnnotator(thickness=2), sv.LabelAnnotator()
    smart = sv.LabelAnnotator(smart_position=True)

    def supervision_plain() -> np.ndarray:
        scene = image.copy()
        box.annotate(scene, sdets)
        return label.annotate(scene, sdets, labels=labels)

    def supervision_smart() -> np.ndarray:
        scene = image.copy()
        box.annotate(scene, sdets)
        return smart.annotate(scene, sdets, labels=labels)

    xyxy = dets.xyxy.tolist()
    colors = [tuple(int(v) for v in np.random.default_rng(int(k)).integers(0, 255, 3)) for k in dets.class_id]

    def ultralytics_annotator() -> np.ndarray:
        ann = Annotator(image.copy(), line_width=2, pil=False)
        for b, text, c in zip(xyxy, labels, colors, strict=True):
            ann.box_label(b, text, color=c)
        return ann.result()

    ms = _time(
        {
            "supervision Box+Label (copy incl.)": supervision_plain,
            "detectkit annotate (in-frame, de-overlapped labels)": lambda: annotate(image, dets),
            "supervision Box+Label smart_position=True": supervision_smart,
            "ultralytics Annotator.box_label (copy incl.)": ultralytics_annotator,
        }
    )
    _table("1920x1080, 100 boxes + labels", ms, "supervision Box+Label (copy incl.)")
    return ms


def bench_masks() -> dict[str, float]:
    import supervision as sv

    image, dets = _scene(20, 1920, 1080, seed=1)
    mask = np.zeros((20, 1080, 1920), bool)
    for i, (x1, y1, x2, y2) in enumerate(dets.xyxy.astype(int).tolist()):
        m = np.zeros((1080, 1920), np.uint8)
        cv2.ellipse(
            m, ((x1 + x2) // 2, (y1 + y2) // 2), (max(1, (x2 - x1) // 2), max(1, (y2 - y1) // 2)), 0, 0, 360, 1, -1
        )
        mask[i] = m.astype(bool)
    dets = Detections(xyxy=dets.xyxy, confidence=dets.confidence, class_id=dets.class_id, mask=mask, names=dets.names)
    sdets = dets.to_supervision()
    masker, box, label = sv.MaskAnnotator(opacity=0.45), sv.BoxAnnotator(), sv.LabelAnnotator()
    labels = [f"{n} {c:.2f}" for n, c in zip(dets.labels, dets.confidence.tolist(), strict=True)]  # type: ignore[union-attr]

    def supervision_masks() -> np.ndarray:
        scene = image.copy()
        masker.annotate(scene, sdets)
        box.annotate(scene, sdets)
        return label.annotate(scene, sdets, labels=labels)

    ms = _time(
        {
            "supervision Mask+Box+Label (copy incl.)": supervision_masks,
            "detectkit annotate (fill + outline + labels)": lambda: annotate(image, dets),
        }
    )
    _table("1920x1080, 20 instance masks + boxes + labels", ms, "supervision Mask+Box+Label (copy incl.)")
    return ms


def bench_video(frames: int = 90) -> dict[str, float]:
    w, h = 1280, 720
    image, dets = _scene(20, w, h, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        with VideoWriter(clip, fps=30, size_wh=(w, h)) as writer:
            for i in range(frames):
                writer.write(np.roll(image, 8 * i, axis=1))

        def decode() -> list[np.ndarray]:
            cap = cv2.VideoCapture(str(clip))
            out = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                out.append(frame)
            cap.release()
            return out

        decoded: list[np.ndarray] = []
        t_decode = []
        for _ in range(3):
            t0 = time.perf_counter()
            decoded = decode()
            t_decode.append(time.perf_counter() - t0)
        assert len(decoded) == frames, len(decoded)
        t_annotate = []
        for _ in range(3):
            t0 = time.perf_counter()
            for frame in decoded:
                annotate(frame, dets)
            t_annotate.append(time.perf_counter() - t0)
        t_pipeline = []
        for _ in range(3):
            t0 = time.perf_counter()
            cap = cv2.VideoCapture(str(clip))
            with VideoWriter(Path(tmp) / "out.mp4", fps=30, size_wh=(w, h)) as writer:
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    writer.write(annotate(frame, dets))
            cap.release()
            t_pipeline.append(time.perf_counter() - t0)
    fps = {
        "decode (cv2.VideoCapture, mp4v)": frames / statistics.median(t_decode),
        "annotate (20 boxes + labels)": frames / statistics.median(t_annotate),
        "decode + annotate + encode (mp4v)": frames / statistics.median(t_pipeline),
    }
    print(f"\n1280x720 video, {frames} frames")
    print(f"{'stage':<52} {'fps':>9} {'vs decode':>24}")
    base = fps["decode (cv2.VideoCapture, mp4v)"]
    for name, value in fps.items():
        print(f"{name:<52} {value:9.1f} {value / base:23.2f}x")
    return fps


def main() -> int:
    print(
        f"detectkit.viz benchmark (median of {REPEATS} x {INNER} calls; python {sys.version.split()[0]}, "
        f"OpenCV {cv2.__version__}, {os.cpu_count()} CPUs)"
    )
    boxes = bench_boxes()
    bench_masks()
    fps = bench_video()
    ratio = boxes["detectkit annotate (in-frame, de-overlapped labels)"] / boxes["supervision Box+Label (copy incl.)"]
    keeps_up = fps["annotate (20 boxes + labels)"] >= fps["decode (cv2.VideoCapture, mp4v)"]
    print(f"\ngoal 1: detectkit / supervision = {ratio:.2f}x (goal <= 1.2x): {'met' if ratio <= 1.2 else 'NOT met'}")
    print(f"goal 2: annotate keeps up with 720p decode: {'met' if keeps_up else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
