"""Sliced inference: parity with sahi, speed against sahi and supervision, AP sliced vs whole image.

Three parts, one run, the shipped demo detector (``weights/demo-shapes.pt``) everywhere:

1. **Parity** — ``Detector.detect(image, slicing=SliceConfig(..., edge_aware=False))`` against
   sahi's ``get_sliced_prediction`` (same checkpoint, conf, imgsz, tiles, overlap, full-image
   pass, merge): number of boxes, share of sahi's boxes matched by one of ours within 1 px on
   every side, largest coordinate difference. Then what the edge-aware merge changes.
2. **Speed** — a 3840 x 2160 image of ``datasets/generate_large.py``, 320 px tiles, overlap
   0.2 (``--tile``), network input ``--imgsz`` (default: the tile, i.e. native resolution), conf
   0.25, for everyone. Rows (``RUNNERS``): ours with ``backend="auto"`` (the product default
   of ``detect --slice``), openvino, onnx and torch (edge-aware NMM, full-image pass, batch 8);
   sahi 0.12 ``get_sliced_prediction`` with its ultralytics model (GREEDYNMM/IOS, its default
   full-image pass; batch 1 = its default, and batch 8); supervision's ``InferenceSlicer``
   (NMS, an Ultralytics predict callback; batch 1 = its default, and batch 8). Each row runs
   in its own process (``--rounds`` processes, order rotated; idle onnxruntime threads would
   slow whoever runs next in one process), ``--runs`` timed calls each after a warm-up;
   medians of wall and process CPU time, and ``sahi default / row``. ``--threads 0`` (default)
   leaves every runtime its own thread default; run it under ``/work/bin/bench``-style
   exclusive use of the machine.
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
    # the other backends against ours torch (same settings, GREEDYNMM/IOS, edge-aware off)
    cfg = SliceConfig(slice_wh=320, overlap=0.2, edge_aware=False)
    ref = det.detect(img, slicing=cfg)
    for backend in ("onnx", "openvino"):
        other = Detector(backend=backend).detect(img, slicing=cfg)
        share, worst = _match(ref, other)
        back, _ = _match(other, ref)
        out[f"{backend} vs torch"] = {
            "torch_boxes": len(ref),
            "boxes": len(other),
            "torch_matched_within_1px": share,
            "matched_within_1px": back,
        }
        print(
            f"ours {backend} vs ours torch: {len(other)} vs {len(ref)} boxes; {100 * share:.1f} % of torch's "
            f"within 1 px of one of {backend}'s, {100 * back:.1f} % the other way"
        )
    return out


# ------------------------------------------------------------------------------------------- speed
#: The speed rows: (name, what it is). Every row: the same checkpoint, image, tiles, overlap, conf
#: and network input size; each runs in its own process (idle onnxruntime threads spin and would
#: slow the runtimes measured after them in one process).
RUNNERS: dict[str, str] = {
    "ours auto": "Detector(backend='auto'): the backend measured fastest here (cached); edge-aware NMM, batch 8",
    "ours openvino": "Detector(backend='openvino'): static-shape THROUGHPUT tile engine, uint8 tiles, batch 8",
    "ours onnx": "Detector(backend='onnx'): onnxruntime, one session.run per batch of 8 tiles",
    "ours torch": "Detector(backend='torch'): Ultralytics predict on lists of 8 tiles (the sahi-parity path)",
    "sahi default": "sahi 0.12.8 get_sliced_prediction, ultralytics model, GREEDYNMM/IOS, batch 1 (its default)",
    "sahi batch 8": "the same with batch_size=8",
    "supervision default": "supervision InferenceSlicer, Ultralytics predict callback, NMS, batch 1 (its default)",
    "supervision batch 8": "the same with batch_size=8 (callback gets lists)",
}


def _runner(name: str, img: np.ndarray, tile: int, imgsz: int, conf: float) -> tuple[Callable[[], Any], str]:
    """(function running one sliced prediction, the backend it uses)."""
    overlap_px = int(0.2 * tile)
    if name.startswith("ours"):
        from detectkit import Detector
        from detectkit.slicing import SliceConfig

        det = Detector(backend=name.split()[1], imgsz=imgsz, conf=conf)  # type: ignore[arg-type]
        cfg = SliceConfig(slice_wh=tile, overlap=0.2, batch_size=8)
        return (lambda: det.detect(img, slicing=cfg)), det.backend
    if name.startswith("sahi"):
        model = _sahi_model(conf, imgsz)
        batch = 8 if name.endswith("8") else 1
        return (
            lambda: _sahi(model, img, postprocess="GREEDYNMM", metric="IOS", batch=batch, tile=tile)
        ), "ultralytics (torch)"
    import supervision as sv
    from ultralytics import YOLO

    yolo = YOLO(str(CHECKPOINT))

    def callback(tiles: Any) -> Any:
        batch = tiles if isinstance(tiles, list) else [tiles]
        res = yolo.predict(batch, imgsz=imgsz, conf=conf, verbose=False)
        out = [sv.Detections.from_ultralytics(r) for r in res]
        return out if isinstance(tiles, list) else out[0]

    slicer = sv.InferenceSlicer(
        callback=callback,
        slice_wh=tile,
        overlap_wh=overlap_px,
        iou_threshold=0.5,
        batch_size=8 if name.endswith("8") else 1,
    )
    return (lambda: slicer(img)), "ultralytics (torch)"


def worker(name: str, runs: int, warmup: int, imgsz: int, tile: int, threads: int = 0) -> dict[str, Any]:
    """One runner in this process: setup, first call, then ``runs`` timed calls (wall and CPU).

    ``threads`` > 0: torch gets that many threads *after* the first call (Ultralytics' predictor
    setup pins torch to ``cores - 1`` threads, i.e. 1 on a 2-core machine, when it first runs);
    onnxruntime/OpenVINO get it through ``$DETECTKIT_ORT_THREADS``. 0: every runtime as shipped.
    """
    import torch

    gen = _generator()
    img = gen.generate_large_image(0, 2, size_wh=(3840, 2160))[0]
    t = time.perf_counter()
    fn, backend = _runner(name, img, tile, imgsz, conf=0.25)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    if threads > 0:
        torch.set_num_threads(threads)
        fn()  # warm the new thread pool
    for _ in range(warmup - 1):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "backend": backend,
        "setup_s": setup,
        "first_s": first,
        "wall": wall,
        "cpu": cpu,
        "boxes": len(result),
        "torch_threads": torch.get_num_threads(),
    }


def speed(runs: int, warmup: int, imgsz: int, tile: int = 320, rounds: int = 2, only: str = "") -> dict[str, Any]:
    """Every runner in its own process, ``rounds`` times (rotating the order), ``runs`` calls each."""
    import subprocess

    from detectkit.slicing import slice_boxes

    names = [n for n in RUNNERS if not only or n in only.split(",")]
    n_tiles = len(slice_boxes((3840, 2160), tile, int(0.2 * tile)))
    got: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv = [sys.executable, __file__, "--worker", name, "--runs", str(runs), "--warmup", str(warmup)]
            argv += ["--imgsz", str(imgsz), "--tile", str(tile)]
            argv += ["--threads", os.environ.get("DETECTKIT_ORT_THREADS", "0")]
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            doc = json.loads(out.strip().splitlines()[-1])
            row = got.setdefault(name, {**doc, "wall": [], "cpu": []})
            row["wall"] += doc["wall"]
            row["cpu"] += doc["cpu"]
            row["first_s"] = min(row["first_s"], doc["first_s"])
            row["setup_s"] = max(row["setup_s"], doc["setup_s"])  # auto measures the backends once
    med = {n: statistics.median(got[n]["wall"]) for n in names}
    cpu = {n: statistics.median(got[n]["cpu"]) for n in names}
    ref = med.get("sahi default")
    threads = os.environ.get("DETECTKIT_ORT_THREADS") or "every runtime as shipped"
    print(
        f"\nspeed: 3840x2160 image, {n_tiles} tiles of {tile} px (overlap 0.2), network input {imgsz}, conf 0.25, "
        f"weights/demo-shapes.pt everywhere; threads: {threads}; each row in its own process, "
        f"median of {rounds} x {runs} calls after a warm-up"
    )
    print(f"{'':22s}{'wall s':>8s}{'CPU s':>8s}{'sahi/this':>11s}{'boxes':>7s}{'load':>8s}{'1st call':>10s}  backend")
    for n in names:
        ratio = f"{ref / med[n]:.2f}x" if ref else "-"
        g = got[n]
        print(
            f"{n:22s}{med[n]:8.2f}{cpu[n]:8.2f}{ratio:>11s}{g['boxes']:7d}"
            f"{g['setup_s']:7.1f}s{g['first_s']:9.2f}s  {g['backend']}"
            + (f", torch {g['torch_threads']} thread(s)" if "torch" in g["backend"] else "")
        )
    print("rows:")
    for n in names:
        print(f"  {n:20s} {RUNNERS[n]}")
    return {
        "image_wh": [3840, 2160],
        "tile": tile,
        "tiles": n_tiles,
        "imgsz": imgsz,
        "runs": runs * rounds,
        "threads": threads,
        "median_seconds": med,
        "median_cpu_seconds": cpu,
        "rows": {n: {k: v for k, v in got[n].items() if k not in ("wall", "cpu")} for n in names},
        "speedup_vs_sahi_default": {n: ref / med[n] for n in names} if ref else {},
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
    parser.add_argument("--runs", type=int, default=3, help="timed calls per runner and round")
    parser.add_argument("--rounds", type=int, default=2, help="processes per runner (order rotated)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=None, help="network input of the speed part (default: the tile)")
    parser.add_argument("--tile", type=int, default=320, help="tile size of the speed part")
    parser.add_argument("--only", default="", help="comma-separated speed rows (default: all)")
    parser.add_argument("--count", type=int, default=2, help="images of the accuracy part")
    parser.add_argument("--parts", default="parity,speed,accuracy")
    parser.add_argument(
        "--threads", type=int, default=0, help="compute threads of torch, onnxruntime, OpenVINO (0: their defaults)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one speed row, JSON on stdout
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["DETECTKIT_ORT_THREADS"] = str(args.threads)
    if args.worker:
        doc = worker(args.worker, args.runs, args.warmup, args.imgsz or args.tile, args.tile, args.threads)
        print(json.dumps(doc))
        return 0
    gen = _generator()
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {}
    if "parity" in parts:
        report["parity"] = parity(gen)
    if "speed" in parts:
        report["speed"] = speed(args.runs, args.warmup, args.imgsz or args.tile, args.tile, args.rounds, args.only)
    if "accuracy" in parts:
        report["accuracy"] = accuracy(gen, args.count)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
