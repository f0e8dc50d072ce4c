"""COCO bbox evaluation end to end from files: detectkit vs pycocotools vs faster-coco-eval.

Generates a COCO-like set in a temp folder (default 5,000 images, ~20,000 ground-truth boxes over
80 categories, 2% crowd, ~47,000 predictions: jittered true positives, confusions and random
false positives), then times each library from the JSON files to the 12 numbers (load ground
truth, load results, evaluate, accumulate, summarize), interleaving the runs and reporting
medians. Also checks that all three agree with pycocotools to 1e-6.

    python benchmarks/bench_eval.py [--images 5000] [--categories 80] [--runs 5] [--pycoco-runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def make_dataset(
    n_images: int, n_cats: int, boxes_per_image: float = 4.0, seed: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground truth and results like a mid-quality detector's (scores 4 decimals, boxes 2)."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for i in range(1, n_images + 1):
        W, H = 640, 480
        images.append({"id": i, "file_name": f"{i:06d}.jpg", "width": W, "height": H})
        for _ in range(rng.poisson(boxes_per_image)):
            w, h = float(rng.uniform(4, 300)), float(rng.uniform(4, 300))
            x, y = float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h))
            c = int(rng.integers(1, n_cats + 1))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "area": round(w * h * 0.8, 2),
                    "iscrowd": int(rng.random() < 0.02),
                }
            )
            if rng.random() < 0.85:
                j = rng.normal(0, 0.08, 4) * [w, h, w, h]
                cc = c if rng.random() < 0.9 else int(rng.integers(1, n_cats + 1))
                dets.append(
                    {
                        "image_id": i,
                        "category_id": cc,
                        "bbox": [
                            round(x + j[0], 2),
                            round(y + j[1], 2),
                            round(max(1, w + j[2]), 2),
                            round(max(1, h + j[3]), 2),
                        ],
                        "score": round(float(rng.random()), 4),
                    }
                )
        for _ in range(rng.poisson(6)):
            w, h = float(rng.uniform(4, 200)), float(rng.uniform(4, 200))
            dets.append(
                {
                    "image_id": i,
                    "category_id": int(rng.integers(1, n_cats + 1)),
                    "bbox": [
                        round(float(rng.uniform(0, W - w)), 2),
                        round(float(rng.uniform(0, H - h)), 2),
                        round(w, 2),
                        round(h, 2),
                    ],
                    "score": round(float(rng.random()) * 0.6, 4),
                }
            )
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, n_cats + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_pycocotools(gt: str, dt: str) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(gt)
        ev = COCOeval(coco, coco.loadRes(dt), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def run_faster_coco_eval(gt: str, dt: str) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(gt)
        ev = COCOeval_faster(coco, coco.loadRes(dt), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def run_detectkit(gt: str, dt: str) -> np.ndarray:
    from detectkit.metrics import evaluate

    return evaluate(gt, dt).stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--categories", type=int, default=80)
    parser.add_argument("--runs", type=int, default=5, help="runs of detectkit and faster-coco-eval")
    parser.add_argument("--pycoco-runs", type=int, default=3, help="runs of pycocotools (slow)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        gt_doc, dt_doc = make_dataset(args.images, args.categories)
        gt_path, dt_path = Path(tmp) / "gt.json", Path(tmp) / "results.json"
        gt_path.write_text(json.dumps(gt_doc))
        dt_path.write_text(json.dumps(dt_doc))
        print(
            f"{len(gt_doc['images'])} images, {len(gt_doc['annotations'])} ground-truth boxes, "
            f"{len(dt_doc)} predictions, {args.categories} categories (bbox, end to end from JSON files)"
        )
        peers: dict[str, Callable[[str, str], np.ndarray]] = {
            "pycocotools": run_pycocotools,
            "faster-coco-eval": run_faster_coco_eval,
            "detectkit": run_detectkit,
        }
        runs = {"pycocotools": args.pycoco_runs, "faster-coco-eval": args.runs, "detectkit": args.runs}
        for fn in peers.values():  # warm-up: imports, first-touch
            if fn is not run_pycocotools:
                fn(str(gt_path), str(dt_path))
        times: dict[str, list[float]] = {name: [] for name in peers}
        stats: dict[str, np.ndarray] = {}
        for r in range(max(runs.values())):
            for name, fn in peers.items():  # interleaved so load changes hit every peer alike
                if r >= runs[name]:
                    continue
                t0 = time.perf_counter()
                stats[name] = fn(str(gt_path), str(dt_path))
                times[name].append(time.perf_counter() - t0)
    ref = stats["pycocotools"]
    base = statistics.median(times["pycocotools"])
    fce = statistics.median(times["faster-coco-eval"])
    print(
        f"\n{'library':<18} {'median s':>9} {'runs':>5} {'vs pycocotools':>15} "
        f"{'vs faster-coco-eval':>20} {'max |d stats|':>14}"
    )
    for name in peers:
        med = statistics.median(times[name])
        diff = float(np.abs(stats[name] - ref).max())
        print(f"{name:<18} {med:9.3f} {len(times[name]):5d} {base / med:14.1f}x {fce / med:19.2f}x {diff:14.1e}")
    print("\nstats (pycocotools order):", np.round(stats["detectkit"], 4).tolist())
    ok = all(float(np.abs(stats[n] - ref).max()) <= 1e-6 for n in peers)
    print("all agree with pycocotools to 1e-6:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
