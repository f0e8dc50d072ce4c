"""Classify a real photo with the shipped ImageNet classifier and localise the top class.

The default photo is Ultralytics' ``bus.jpg``. Prints the top-5 classes and the CAM box, and
writes the photo with the heatmap and box drawn on it (``<stem>_cam.jpg``) plus the results
(``<stem>_classify.json``) to the output folder. ``make demo`` calls :func:`run`.

    python examples/classify_and_localize.py [IMAGE] [--out DIR] [--top-k 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def default_image() -> Path:
    """Ultralytics' bus photo (ships with the installed package)."""
    import ultralytics

    return Path(ultralytics.ASSETS) / "bus.jpg"


def run(out_dir: Path, image: Path | None = None, *, top_k: int = 5) -> dict[str, Any]:
    """Classify + localise ``image``, draw the heatmap and box, save under ``out_dir``.

    Returns:
        A summary dict: the top-k labels and scores, the box, and the written files.
    """
    from detectkit import Classifier, annotate
    from detectkit.image import load_image
    from detectkit.viz import save

    path = Path(image) if image is not None else default_image()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    classifier = Classifier()  # the shipped ImageNet-1k MobileNetV2
    picture = load_image(path)
    result = classifier.classify(picture, top_k=top_k)
    box = classifier.localize(picture)  # one box for the top class, heatmap in box.data["heatmap"]
    seconds = time.perf_counter() - started

    drawn = out_dir / f"{path.stem}_cam.jpg"
    save(annotate(picture, box), drawn)
    summary = {
        "image": str(path),
        "top_k": [
            {"label": lab, "confidence": round(c, 4)} for lab, c in zip(result.labels, result.confidence.tolist())
        ],
        "localized": {"label": box.labels[0], "xyxy": [round(v, 1) for v in box.xyxy[0].tolist()]},
        "heatmap_size_hw": list(box.data["heatmap"].shape[1:]),
        "annotated_image": str(drawn),
        "seconds": round(seconds, 2),
    }
    target = out_dir / f"{path.stem}_classify.json"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    os.replace(tmp, target)

    print(f"classifier: {classifier}")
    print(f"{path.name}: " + ", ".join(f"{t['label']} {t['confidence']:.3f}" for t in summary["top_k"]))
    print(f"  CAM box for {summary['localized']['label']!r}: {summary['localized']['xyxy']}  -> {drawn}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", type=Path, default=None, help="photo (default: Ultralytics bus.jpg)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "classify")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)
    run(args.out, args.image, top_k=args.top_k)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
