"""Classification dataset from the shapes generator: one crop per object, a folder per class.

Crops every labelled object (visibility >= 0.6, box side >= 24 px) of generated images with
15 % padding and writes ``OUT/<split>/<class>/<split>_<image>_<k>.jpg`` until every class has
``--per-class`` crops (train split: ``generate.py``'s train stream; test split: its val
stream, so no image is shared). ``--gray`` writes grey crops: the classes are then told
apart by shape only (the generator paints each class in its own base colour 80 % of the time).

    python datasets/make_shape_crops.py --out .cache/shape-crops --per-class 100 --test-per-class 40 --gray
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import CLASSES, generate_image


def make_crops(out: Path, *, split: str, per_class: int, seed: int = 0, gray: bool = False) -> dict[str, int]:
    """Write crops of ``split`` until each class has ``per_class``; returns the counts."""
    counts = dict.fromkeys(CLASSES, 0)
    for name in CLASSES:
        (out / name).mkdir(parents=True, exist_ok=True)
    index = 0
    while min(counts.values()) < per_class and index < 100 * per_class:
        image, objects = generate_image(seed, "train" if split == "train" else "val", index)
        h, w = image.shape[:2]
        for k, obj in enumerate(objects):
            name = CLASSES[obj.class_id]
            x0, y0, x1, y1 = obj.xyxy
            if counts[name] >= per_class or obj.visibility < 0.6 or min(x1 - x0, y1 - y0) < 24:
                continue
            pad = 0.15 * max(x1 - x0, y1 - y0)
            a, b = int(max(0, x0 - pad)), int(max(0, y0 - pad))
            c, d = int(min(w, x1 + pad)), int(min(h, y1 + pad))
            crop = image[b:d, a:c]
            if gray:
                crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(out / name / f"{split}_{index:05d}_{k}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
            counts[name] += 1
        index += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--test-per-class", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gray", action="store_true")
    args = parser.parse_args(argv)
    for split, n in (("train", args.per_class), ("test", args.test_per_class)):
        counts = make_crops(args.out / split, split=split, per_class=n, seed=args.seed, gray=args.gray)
        print(split, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
