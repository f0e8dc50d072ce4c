"""Anonymise faces in four real photos with the shipped CenterFace model, and draw what it found.

Writes two pictures (the README shows them):

* ``anonymize_faces.jpg``: each photo with its faces blurred (padding 15 %, the CLI's defaults);
* ``faces_detected.jpg``: the same photos with the face boxes, confidences and the five
  landmarks drawn (what was covered, and why).

Run: ``python examples/anonymize_photos.py [--out docs/images]``. The photos ship with
scikit-image (astronaut), matplotlib (grace_hopper) and ultralytics (zidane, bus).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import matplotlib.cbook
import skimage.data
import ultralytics

from detectkit.image import load_image
from detectkit.models.anonymize import Anonymizer
from detectkit.viz import annotate, grid, save

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = [
    Path(skimage.data.__file__).parent / "astronaut.png",
    Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    Path(ultralytics.ASSETS) / "zidane.jpg",
    Path(ultralytics.ASSETS) / "bus.jpg",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "anonymize")
    args = parser.parse_args(argv)
    anon = Anonymizer(method="blur", padding=0.15)
    covered, drawn, titles = [], [], []
    for path in PHOTOS:
        image = load_image(path)
        out, report = anon(image)
        faces, _ = anon.detect(image)
        picture = annotate(image, faces)
        for points in faces.data["landmarks"]:
            for x, y in points:
                cv2.circle(picture, (round(float(x)), round(float(y))), 3, (0, 255, 0), -1)
        covered.append(out)
        drawn.append(picture)
        titles.append(f"{path.name}: {report.faces} face(s)")
    cell = (420, 360)
    save(grid(covered, columns=4, cell_size_wh=cell, titles=titles), args.out / "anonymize_faces.jpg", quality=88)
    save(grid(drawn, columns=4, cell_size_wh=cell, titles=titles), args.out / "faces_detected.jpg", quality=88)
    total = sum(int(t.split(": ")[1].split()[0]) for t in titles)
    print(f"{total} faces covered in {len(PHOTOS)} photos; pictures in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
