"""Visualisation tour: the pictures in ``docs/images/`` come from this script.

    python examples/visualise.py [--out DIR]        (default: out/visualise)

Writes, each a JPEG at most 900 px wide:

* ``dataset_grid.jpg`` — six images of the shipped shapes dataset drawn with their labels
  (``Dataset`` + ``annotate``), in a ``grid``;
* ``cam_heatmap.jpg`` (600 px wide) — the ImageNet classifier's Grad-CAM box and heatmap on ``bus.jpg``
  (``Classifier.localize`` + ``annotate``);
* ``compare.jpg`` — ground truth vs predictions at IoU 0.5 (``compare``): the shipped
  ``demo-shapes`` detector when its weights are installed, else the labels with simulated
  mistakes (jittered boxes, one miss, one false alarm — printed as such);
* ``crops_gallery.jpg`` — every labelled object of one image (``crops_gallery``);
* ``privacy.jpg`` — faces pixelated and blurred (``pixelate`` / ``blur``) on ``zidane.jpg``
  (face boxes hand-placed for the demo).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))

# hand-placed face boxes on Ultralytics' zidane.jpg (1280 x 720)
ZIDANE_FACES = [[478, 205, 668, 458], [893, 48, 1078, 300]]


def _small(image: np.ndarray, width: int = 900) -> np.ndarray:
    import cv2

    if image.shape[1] <= width:
        return image
    scale = width / image.shape[1]
    return cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def _simulated_predictions(gt: object, seed: int = 0) -> object:
    """The labels with typical mistakes: jittered boxes, the last object missed, one false alarm."""
    from detectkit import Detections

    assert isinstance(gt, Detections)
    rng = np.random.default_rng(seed)
    keep = gt[: max(0, len(gt) - 1)]
    wh = keep.xyxy[:, 2:] - keep.xyxy[:, :2]
    jitter = rng.normal(0, 0.06, keep.xyxy.shape) * np.concatenate([wh, wh], axis=1)
    xyxy = keep.xyxy + jitter
    xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)
    false_alarm = [[20.0, 20.0, 90.0, 80.0]]
    return Detections(
        xyxy=np.concatenate([xyxy, false_alarm]),
        confidence=np.concatenate([rng.uniform(0.6, 0.95, len(keep)), [0.41]]),
        class_id=np.concatenate([keep.class_id, gt.class_id[:1]]),
        names=gt.names,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "visualise")
    args = parser.parse_args(argv)

    import ultralytics

    from detectkit import Classifier, Dataset, Detections
    from detectkit.image import load_image
    from detectkit.models import weights
    from detectkit.viz import annotate, blur, compare, crops_gallery, grid, pixelate, save

    out: Path = args.out
    ds = Dataset.read(ROOT / "datasets" / "shapes" / "data.yaml")
    samples = [(rec, dets) for rec, dets in ds if len(dets) >= 2][:6]

    tiles = [annotate(load_image(rec.path), dets) for rec, dets in samples]
    save(
        _small(grid(tiles, columns=3, titles=[rec.file_name for rec, _ in samples])),
        out / "dataset_grid.jpg",
        quality=85,
    )

    bus = load_image(ultralytics.ASSETS / "bus.jpg")
    cam = Classifier("mobilenet_v2-imagenet").localize(bus, top_k=1)
    save(_small(annotate(bus, cam), 600), out / "cam_heatmap.jpg", quality=85)
    print(f"cam_heatmap.jpg: {cam.labels[0]} {float(cam.confidence[0]):.2f} at {cam.xyxy[0].round().tolist()}")  # type: ignore[index]

    rec, gt = max(samples, key=lambda item: len(item[1]))  # the busiest picture
    image = load_image(rec.path)
    try:
        weights.resolve("demo-shapes")
    except Exception:
        preds = _simulated_predictions(gt)
        source = "simulated predictions (demo-shapes weights not installed)"
    else:
        from detectkit import Detector

        preds = Detector("demo-shapes").detect(image)
        source = "demo-shapes detector"
    assert isinstance(preds, Detections)
    save(_small(compare(image, gt, preds, iou_threshold=0.5)), out / "compare.jpg", quality=85)
    print(f"compare.jpg: {rec.file_name}, labels vs {source}")

    save(_small(crops_gallery(image, gt, cell_size=160, padding=0.25)), out / "crops_gallery.jpg", quality=85)

    zidane = load_image(ultralytics.ASSETS / "zidane.jpg")
    faces = Detections(xyxy=ZIDANE_FACES, class_id=[0, 0], names={0: "face"})
    privacy = grid([pixelate(zidane, faces), blur(zidane, faces, padding=0.1)], columns=2, titles=["pixelate", "blur"])
    save(_small(privacy), out / "privacy.jpg", quality=85)
    print(f"wrote {len(list(out.glob('*.jpg')))} pictures to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
