"""Two-stage recognition: a detector finds boxes, the ImageNet classifier labels every box.

Part 1 runs ``Pipeline(Detector("demo-shapes"), Classifier())`` on a sample image of the
project's shapes dataset and prints, per box, the detector's class and the classifier's crop
label (ImageNet labels of synthetic shapes are only a demonstration of the mechanics).

Part 2 shows the second stage on its own, where it matters: boxes from any source (an
annotation file, another detector) on a collage of real photos — a cat, a cup of coffee and a
bus — are classified in one batch, and each box gets the right ImageNet label.

Writes ``two_stage.jpg`` (the collage with boxes and crop labels) and ``two_stage.json``.

    python examples/two_stage_pipeline.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "datasets" / "shapes" / "images" / "val"


def collage() -> tuple[np.ndarray, Any]:
    """A white canvas holding three real photos, and their boxes as ``Detections``."""
    import skimage.data
    import ultralytics

    from detectkit import Detections
    from detectkit.image import load_image, resize

    photos = [
        Path(skimage.data.__file__).parent / "chelsea.png",
        Path(skimage.data.__file__).parent / "coffee.png",
        Path(ultralytics.ASSETS) / "bus.jpg",
    ]
    images = []
    for path in photos:
        img = load_image(path)
        images.append(resize(img, (round(img.shape[1] * 400 / img.shape[0]), 400)))
    width = 20 + sum(img.shape[1] + 20 for img in images)
    canvas = np.full((460, width, 3), 255, np.uint8)
    boxes, x = [], 20
    for img in images:
        w = img.shape[1]
        canvas[30:430, x : x + w] = img
        boxes.append([x, 30, x + w, 430])
        x += w + 20
    return canvas, Detections(xyxy=boxes, confidence=[1.0, 1.0, 1.0], names={0: "object"})


def run(out_dir: Path) -> dict[str, Any]:
    from detectkit import Classifier, Pipeline, annotate
    from detectkit.models.weights import known_models
    from detectkit.viz import save

    out_dir.mkdir(parents=True, exist_ok=True)
    classifier = Classifier()
    summary: dict[str, Any] = {}

    samples = sorted(SHAPES.glob("*.jpg"))
    if "demo-shapes" in known_models() and samples:
        from detectkit import Detector

        pipeline = Pipeline(Detector("demo-shapes"), classifier, padding=0.1, top_k=1)
        dets = pipeline.detect(samples[0])
        print(f"part 1: {pipeline}")
        for box, crop in zip(dets, dets.data["crop_label"][:, 0].tolist()):
            print(f"  {box.label:>10} {box.confidence:.2f} -> crop label {crop!r}")
        summary["shapes"] = {"image": samples[0].name, "boxes": len(dets)}
    else:
        print("part 1 skipped: the demo-shapes detector is not in weights/manifest.json yet")

    image, boxes = collage()
    stage = Pipeline(_NoDetector(), classifier, padding=0.0, top_k=3)
    labelled = stage.classify_boxes(image, boxes)
    print("part 2: boxes on a collage of real photos, classified in one batch")
    rows = []
    for xyxy, labels, scores in zip(
        labelled.xyxy.tolist(), labelled.data["crop_label"].tolist(), labelled.data["crop_confidence"].tolist()
    ):
        rows.append({"xyxy": xyxy, "labels": labels, "confidence": [round(s, 4) for s in scores]})
        print(f"  box {[round(v) for v in xyxy]} -> " + ", ".join(f"{a} {b:.2f}" for a, b in zip(labels, scores)))
    summary["collage"] = rows
    drawn = save(annotate(image, labelled, crop_names=classifier.names), out_dir / "two_stage.jpg")
    summary["annotated_image"] = str(drawn)
    target = out_dir / "two_stage.json"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    os.replace(tmp, target)
    print(f"results in {out_dir}")
    return summary


class _NoDetector:
    """Part 2 brings its own boxes; the pipeline's first stage is not used."""

    def detect(self, image: Any) -> Any:  # pragma: no cover - never called
        raise NotImplementedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "two_stage")
    args = parser.parse_args(argv)
    run(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
