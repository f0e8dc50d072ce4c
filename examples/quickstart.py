"""Quickstart: detect objects in an image, print them, save the results.

    python examples/quickstart.py [IMAGE] [--out DIR]

Uses the shipped demo detector (``demo-shapes``: circles, squares, triangles, stars, crosses)
on one of the sample images in ``datasets/shapes/`` unless you pass an image.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from detectkit import Detector, annotate
from detectkit.image import load_image
from detectkit.viz import save

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "datasets" / "shapes" / "images" / "val" / "val_00000.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", type=Path, default=SAMPLE)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "quickstart")
    args = parser.parse_args(argv)

    detector = Detector()  # 1. a detector (the shipped demo model, sha256-verified)
    dets = detector.detect(args.image)  # 2. detect -> Detections (xyxy, confidence, class_id, names)

    print(f"{args.image.name}: {len(dets)} objects")  # 3. use the results
    for box in dets:
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        print(f"  {box.label:<9} {box.confidence:.2f}  [{x1}, {y1}, {x2}, {y2}]")

    args.out.mkdir(parents=True, exist_ok=True)  # 4. save JSON and an annotated image (atomic writes)
    json_path = args.out / f"{args.image.stem}.json"
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(dets.to_json(indent=2), encoding="utf-8")
    os.replace(tmp, json_path)
    image_path = save(annotate(load_image(args.image), dets), args.out / f"{args.image.stem}.jpg")
    print(f"saved {json_path} and {image_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
