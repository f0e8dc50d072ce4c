"""Sliced inference: parity with sahi, speed against sahi and supervision, AP sliced vs whole image.

Three parts, one run, the shipped demo detector (``weights/demo-shapes.pt``) everywhere:

1. **Parity** — ``Detector.detect(image, slicing=SliceConfig(..., edge_aware=False))`` against
   sahi's ``get_sliced_prediction`` (same checkpoint, conf, imgsz, tiles, overlap, full-image
   pass, merge): number of boxes, share of sahi's boxes matched by one of ours within 1 px on
   every side, largest coordinate difference. Then what the edge-aware merge changes.
2. **Speed** — a 3840 x 2160 image of ``datasets/generate_large.py``, 320 px tiles, overlap
   0.2 (``--tile``), network input ``--imgsz`` (default: the tile, i.e. native resolution) for everyone.
   sahi 0.12 ``get_sliced_prediction`` (GREEDYNMM/IOS, its default full-image pass; batch
   1 = its default, and batch 8), supervision's ``InferenceSlicer`` (NMS, an Ultralytics
   callback, batch 1 = its default, and batch 8), detectkit torch and onnx (edge-aware merge,
   full-image pass, batch 8). Runners are interleaved, rotating who goes first, so machine
   load hits all alike; medians of ``--runs`` of wall time and of process CPU time (on a
   loaded machine the CPU time is the steadier figure); ratios against detectkit onnx.
   torch and onnxruntime get ``--threads`` compute threads each (default 1).
3. **Accuracy** — COCO AP (detectkit's COCO-exact eval, maxDets 1/100/1000) on ``--count``
   generated 3000 x 2000 images with 7-40 px shapes: whole-image detection vs sliced (edge-
   aware off = sahi's merge, and on), conf 0.01, 320 px tiles upsampled to the model's 416.

    python benchmarks/bench_slice.py [--runs 3] [--count 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, offline

offline()

import numpy as np  # noqa: E402

CHECKPOINT = ROOT / "weights" / "demo-shapes.pt"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate_large", ROOT / "datasets" / "generate_large.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sahi_model(conf: float, imgsz: int) -> Any:
    from sahi import AutoDetectionModel

    return AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(CHECKPOINT), confidence_threshold=conf, device="cpu", image_size=imgsz
    )


def _sahi(model: Any, img: np.ndarray, *, postprocess: str, metric: str, batch: int = 1, tile: int = 320) -> Any:
    from sahi.predict import get_sliced_prediction

    from detectkit.detections import Detections

    preds = get_sliced_prediction(
        np.ascontiguousarray(img[..., ::-1]),  # sahi takes RGB
        model,
        slice_height=tile,
        slice_width=tile,
        overlap_height_ratio=0.2,
        overlap_width_ratio=0.2,
        postprocess_type=postprocess,
        postprocess_match_metric=metric,
        postprocess_match_threshold=0.5,
        verbose=0,
        batch_size=batch,
    ).object_prediction_list
    return Detections(
        xyxy=np.array([p.bbox.to_xyxy() for p in preds], np.float32).reshape(-1, 4),
        confidence=np.array([p.score.value for p in preds], np.float32),
        class_id=np.array([p.category.id for p in preds], np.int64),
    )


def _match(a: Any, b: Any, atol: float = 1.0) -> tuple[float, float]:
    """(share of a's boxes with a same-class box of b within atol px, largest error of the best matches)."""
    if len(a) == 0:
        return (1.0 if len(b) == 0 else 0.0), 0.0
    if len(b) == 0:
        return 0.0, float("inf")
    err = np.abs(a.xyxy[:, None, :].astype(float) - b.xyxy[None, :, :]).max(axis=2)
    err[a.class_id[:, None] != b.class_id[None, :]] = np.inf
    best = err.min(axis=1)
    return float((best <= atol).mean()), float(best.max())


# ------------------------------------------------------------------------------------------ parity
def parity(gen: Any) -> dict[str, Any]:
    from detectkit import Detector
    from detectkit.slicing import SliceConfig

    img = gen.generate_large_image(0, 1, size_wh=(1600, 1000), fill=0.6)[0]
    det = Detector(backend="torch")
    model = _sahi_model(det.conf, int(det.imgsz))  # type: ignore[arg-type]
    out: dict[str, Any] = {"image_wh": [1600, 1000], "tiles": "320x320, overlap 0.2, full-image pass"}
    for postprocess, metric, merge in (("GREEDYNMM", "IOS", "nmm"), ("NMS", "IOU", "nms"), ("NMS", "IOS", "nms")):
        theirs = _sahi(model, img, postprocess=postprocess, metric=metric)
        cfg = SliceConfig(slice_wh=320, overlap=0.2, merge=merge, match_metric=metric.lower(), edge_aware=False)
        ours = det.detect(img, slicing=cfg)
        share, worst = _match(theirs, ours)
        aware = det.detect(
            img, slicing=SliceConfig(slice_wh=320, overlap=0.2, merge=merge, match_metric=metric.lower())
        )
        kept, _ = _match(aware, theirs, atol=0.5)
        row = {
            "sahi_boxes": len(theirs),
            "ours_boxes": len(ours),
            "sahi_matched_within_1px": share,
            "max_px": worst,
            "edge_aware_boxes": len(aware),
            "edge_aware_unchanged_share": kept,
        }
        out[f"{postprocess}/{metric}"] = row
        print(
            f"parity {postprocess}/{metric}: sahi {len(theirs)} boxes, ours {len(ours)}; "
            f"{100 * share:.1f} % of sahi's within 1 px (max {worst:.4f} px); "
            f"edge-aware: {len(aware)} boxes, {100 * kept:.1f} % unchanged"
        )
    return out


# ------------------------------------------------------------------------------------------- speed
def _interleaved(
    runners: dict[str, Callable[[], object]], runs: int, warmup: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall seconds and median CPU seconds (all threads of this process) per runner."""
    for fn in runners.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t, c = time.perf_counter(), time.process_time()
            runners[name]()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return (
        {name: statistics.median(v) for name, v in times.items()},
        {name: statistics.median(v) for name, v in cpu.items()},
    )


def speed(gen: Any, runs: int, warmup: int, imgsz: int, tile: int = 320) -> dict[str, Any]:
    import supervision as sv
    import torch
    from ultralytics import YOLO

    from detectkit import Detector
    from detectkit.slicing import SliceConfig, slice_boxes

    img = gen.generate_large_image(0, 2, size_wh=(3840, 2160))[0]
    overlap_px = int(0.2 * tile)
    n_tiles = len(slice_boxes((3840, 2160), tile, overlap_px))
    conf = 0.25
    torch_det = Detector(backend="torch", imgsz=imgsz, conf=conf)
    onnx_det = Detector(backend="onnx", imgsz=imgsz, conf=conf)
    cfg = SliceConfig(slice_wh=tile, overlap=0.2, batch_size=8)
    sahi_model = _sahi_model(conf, imgsz)
    yolo = YOLO(str(CHECKPOINT))

    def sv_callback(tiles: Any) -> Any:
        batch = tiles if isinstance(tiles, list) else [tiles]
        res = yolo.predict(batch, imgsz=imgsz, conf=conf, verbose=False)
        out = [sv.Detections.from_ultralytics(r) for r in res]
        return out if isinstance(tiles, list) else out[0]

    slicer1 = sv.InferenceSlicer(callback=sv_callback, slice_wh=tile, overlap_wh=overlap_px, iou_threshold=0.5)
    slicer8 = sv.InferenceSlicer(
        callback=sv_callback, slice_wh=tile, overlap_wh=overlap_px, iou_threshold=0.5, batch_size=8
    )
    counts: dict[str, int] = {}

    def record(name: str, fn: Callable[[], Any]) -> Callable[[], object]:
        def run() -> object:
            r = fn()
            counts[name] = len(r)
            return r

        return run

    runners = {
        "detectkit onnx": record("detectkit onnx", lambda: onnx_det.detect(img, slicing=cfg)),
        "detectkit torch": record("detectkit torch", lambda: torch_det.detect(img, slicing=cfg)),
        "sahi (batch 1)": record(
            "sahi (batch 1)", lambda: _sahi(sahi_model, img, postprocess="GREEDYNMM", metric="IOS", tile=tile)
        ),
        "sahi (batch 8)": record(
            "sahi (batch 8)", lambda: _sahi(sahi_model, img, postprocess="GREEDYNMM", metric="IOS", batch=8, tile=tile)
        ),
        "supervision (batch 1)": record("supervision (batch 1)", lambda: slicer1(img)),
        "supervision (batch 8)": record("supervision (batch 8)", lambda: slicer8(img)),
    }
    med, cpu = _interleaved(runners, runs, warmup)
    ref, ref_cpu = med["detectkit onnx"], cpu["detectkit onnx"]
    print(f"\nspeed: 3840x2160, {n_tiles} tiles of {tile} px (overlap 0.2), imgsz {imgsz}, median of {runs} runs")
    print(f"{'':24s}{'wall s':>8s}{'/ ours onnx':>12s}{'CPU s':>8s}{'/ ours onnx':>12s}{'boxes':>7s}")
    for name, sec in med.items():
        print(
            f"{name:24s}{sec:8.2f}{sec / ref:12.2f}{cpu[name]:8.2f}{cpu[name] / ref_cpu:12.2f}{counts.get(name, 0):7d}"
        )
    return {
        "image_wh": [3840, 2160],
        "tile": tile,
        "tiles": n_tiles,
        "imgsz": imgsz,
        "runs": runs,
        "median_seconds": med,
        "median_cpu_seconds": cpu,
        "threads": {"torch": torch.get_num_threads(), "onnxruntime": os.environ.get("DETECTKIT_ORT_THREADS")},
        "boxes": counts,
        "ratio_vs_detectkit_onnx": {k: v / ref for k, v in med.items()},
        "ratio_vs_detectkit_torch": {k: v / med["detectkit torch"] for k, v in med.items()},
    }


# ---------------------------------------------------------------------------------------- accuracy
def accuracy(gen: Any, count: int) -> dict[str, Any]:
    from detectkit import Detector
    from detectkit.metrics import evaluate
    from detectkit.slicing import SliceConfig

    with tempfile.TemporaryDirectory() as tmp:
        meta = gen.generate_large_dataset(tmp, seed=0, count=count)
        gt = json.loads((Path(tmp) / "annotations" / "instances_large.json").read_text())
        det = Detector(backend="onnx", conf=0.01)
        modes: dict[str, Any] = {
            "whole image": None,
            "sliced, plain merge (sahi)": SliceConfig(slice_wh=320, overlap=0.2, edge_aware=False),
            "sliced, edge-aware merge": SliceConfig(slice_wh=320, overlap=0.2),
        }
        out: dict[str, Any] = {"images": count, "objects": meta["objects"], "image_wh": meta["size_wh"]}
        print(f"\naccuracy: {count} images {meta['size_wh'][0]}x{meta['size_wh'][1]}, {meta['objects']} objects")
        for label, cfg in modes.items():
            results = []
            t = time.perf_counter()
            for rec in gt["images"]:
                dets = det.detect(Path(tmp) / "images" / rec["file_name"], slicing=cfg)
                for (x1, y1, x2, y2), s, c in zip(dets.xyxy.tolist(), dets.confidence.tolist(), dets.class_id.tolist()):
                    results.append(
                        {
                            "image_id": rec["id"],
                            "category_id": int(c) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": s,
                        }
                    )
            sec = time.perf_counter() - t
            m = evaluate(gt, results, max_dets=(1, 100, 1000)) if results else None
            row = {
                "map": m.map if m else 0.0,
                "map50": m.map50 if m else 0.0,
                "detections": len(results),
                "seconds": sec,
            }
            out[label] = row
            print(f"{label:30s} AP {row['map']:.3f}  AP50 {row['map50']:.3f}  ({len(results)} boxes, {sec:.1f} s)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=None, help="network input of the speed part (default: the tile)")
    parser.add_argument("--tile", type=int, default=320, help="tile size of the speed part")
    parser.add_argument("--count", type=int, default=2, help="images of the accuracy part")
    parser.add_argument("--parts", default="parity,speed,accuracy")
    parser.add_argument("--threads", type=int, default=1, help="compute threads of torch and onnxruntime")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    import torch

    # one compute thread for torch and for onnxruntime (equal footing on a shared machine; 2 spinning
    # onnxruntime threads on an oversubscribed machine cost twice the CPU per tile)
    torch.set_num_threads(args.threads)
    os.environ["DETECTKIT_ORT_THREADS"] = str(args.threads)
    gen = _generator()
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {}
    if "parity" in parts:
        report["parity"] = parity(gen)
    if "speed" in parts:
        report["speed"] = speed(gen, args.runs, args.warmup, args.imgsz or args.tile, args.tile)
    if "accuracy" in parts:
        report["accuracy"] = accuracy(gen, args.count)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
