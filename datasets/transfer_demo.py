"""Transfer learning vs training from scratch on ~100 images per class (the README's table).

Makes the grey shape-crops dataset (``make_shape_crops.py --gray``: 100 train crops per class,
5 classes, plus 40 held-out test crops per class from other images), fine-tunes MobileNetV2
from the shipped ImageNet weights and trains the same architecture from random weights with
the same budget (epochs, image size, augmentation, 20 % of the train crops as val split for
early stopping), then scores both on the held-out test crops with ``Classifier(name)``.

    python datasets/transfer_demo.py --out .cache/transfer-demo --epochs 6 --imgsz 128 --which pre|scratch|both
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    from make_shape_crops import make_crops

    from detectkit.image import load_image
    from detectkit.models.classifier import Classifier
    from detectkit.train.classifier import classification_report, train_classifier
    from detectkit.train.data import read_labelled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".cache/transfer-demo"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--which", choices=("pre", "scratch", "both"), default="both")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    data = args.out / "crops"
    if not (data / "test").is_dir():
        make_crops(data / "train", split="train", per_class=100, gray=True)
        make_crops(data / "test", split="test", per_class=40, gray=True)
    test = read_labelled(data / "test")
    results = {}
    for which in ("pre", "scratch") if args.which == "both" else (args.which,):
        start = time.perf_counter()
        res = train_classifier(
            data / "train",
            epochs=args.epochs,
            imgsz=args.imgsz,
            pretrained=which == "pre",
            out=args.out / which,
            name=f"shape-crops-{which}",
            threads=args.threads,
            patience=args.epochs,
        )
        clf = Classifier(res.name)
        import numpy as np

        probs = np.concatenate(
            [clf.predict_proba([load_image(p) for p in test.paths[i : i + 32]]) for i in range(0, len(test), 32)]
        )
        names = {v: k for k, v in clf.names.items()}
        order = [names[c] for c in test.classes]
        report = classification_report(test.labels, probs[:, order], test.classes)
        results[which] = {
            "val_top1": res.top1,
            "test_top1": report["top1"],
            "test_per_class_recall": report["per_class_recall"],
            "epochs_run": res.epochs_run,
            "best_epoch": res.best_epoch,
            "train_minutes": round((time.perf_counter() - start) / 60, 1),
            "weights": str(res.weights),
        }
        print(which, json.dumps(results[which]), flush=True)
    (args.out / f"results-{args.which}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
