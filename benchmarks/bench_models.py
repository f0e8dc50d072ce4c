"""Detector speed: native Ultralytics predict vs detectkit Detector (torch) vs detectkit ONNX,
plus the same cached .onnx through Ultralytics' own ONNX backend (``YOLO("x.onnx").predict``).

Trained weights only: the shipped ``demo-shapes`` (yolov8n, trained here). Untrained networks
produce denormal activations that hit slow CPU paths in one runtime and not another, so their
ratios say nothing about real models.

Each backend runs in its OWN process (``--worker``): an idle onnxruntime session keeps its
worker threads spinning and slows whatever runs beside it, and one process per backend is how
a user runs them. The processes take turns, ``--rounds`` times, rotating who goes first, so the
load of this shared machine hits every backend alike; the table shows the median per image
over all rounds and the ratio to native Ultralytics. Every call includes decoding the image
from its file path, as a user would call it. Boxes of every backend are compared with native
Ultralytics on the same images before timing (largest coordinate difference, pixels).

Cases: the shapes sample images at the model's own imgsz (416), and Ultralytics' bus.jpg (a
real 1080x810 photo; the demo model finds few boxes there, which is the point: this row
measures the fixed cost of pre-processing and the network at 640).

    python benchmarks/bench_models.py [--runs 20] [--warmup 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
sys.path.insert(0, str(ROOT))

BACKENDS = ("native", "detectkit-torch", "detectkit-onnx", "ultralytics-onnx")


def _cases() -> dict[str, tuple[list[str], int]]:
    """case name -> (image paths, imgsz)."""
    from ultralytics import ASSETS

    shapes = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[:10]
    return {
        "demo-shapes, 10 shapes images @416": ([str(p) for p in shapes], 416),
        "demo-shapes, bus.jpg @640": ([str(Path(ASSETS) / "bus.jpg")], 640),
    }


def _runner(backend: str, imgsz: int, conf: float) -> Any:
    """A callable path -> (N, 4) boxes for one backend (loading happens here, untimed)."""
    from ultralytics import YOLO

    from detectkit.models import weights
    from detectkit.models.detector import Detector

    checkpoint = weights.resolve("demo-shapes").path
    assert checkpoint is not None
    if backend == "native":
        model = YOLO(str(checkpoint))
        return lambda p: model.predict(p, conf=conf, imgsz=imgsz, verbose=False)[0].boxes.xyxy.numpy()
    if backend == "detectkit-torch":
        det = Detector("demo-shapes", conf=conf, imgsz=imgsz)
        return lambda p: det.detect(p).xyxy
    onnx = Detector("demo-shapes", conf=conf, imgsz=imgsz, backend="onnx")  # exports once into the cache
    if backend == "detectkit-onnx":
        return lambda p: onnx.detect(p).xyxy
    if backend == "ultralytics-onnx":
        path = str(onnx.onnx_path)
        del onnx  # only Ultralytics' session stays alive in this process
        model = YOLO(path, task="detect")
        return lambda p: model.predict(p, conf=conf, imgsz=imgsz, verbose=False)[0].boxes.xyxy.numpy()
    raise SystemExit(f"unknown backend {backend!r}")


def worker(backend: str, case: str, runs: int, warmup: int, conf: float) -> dict[str, Any]:
    """Time one backend on one case in this process; returns per-call seconds and the boxes."""
    paths, imgsz = _cases()[case]
    fn = _runner(backend, imgsz, conf)
    boxes = {p: fn(p).tolist() for p in paths}
    for i in range(warmup):
        fn(paths[i % len(paths)])
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(paths[i % len(paths)])
        times.append(time.perf_counter() - t)
    return {"times": times, "boxes": boxes}


def _max_diff(a: dict[str, list[list[float]]], b: dict[str, list[list[float]]]) -> float:
    import numpy as np

    worst = 0.0
    for path, ref in b.items():
        x, y = np.asarray(a[path]).reshape(-1, 4), np.asarray(ref).reshape(-1, 4)
        if x.shape != y.shape:
            return float("inf")
        if len(x):
            worst = max(worst, float(np.abs(x - y).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="native vs detectkit torch vs detectkit onnx, one process each")
    parser.add_argument("--runs", type=int, default=20, help="timed calls per process (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="processes per backend and case (default: %(default)s)")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.runs, args.warmup, args.conf)))
        return 0

    import torch

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; one process per backend, ", end="")
    print(f"{args.rounds} rounds x {args.runs} runs, medians per image")
    print("| case | native ms | dk-torch ms | native/dk-torch | dk-onnx ms | native/dk-onnx | ul-onnx ms |", end="")
    print(" native/ul-onnx | max |Δbox| px vs native: dk-torch / dk-onnx / ul-onnx |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dk-bench-") as tmp:
        env = {**os.environ, "DETECTKIT_CACHE": str(Path(tmp) / "cache"), "PYTHONPATH": str(ROOT)}
        first = True
        for case in _cases():
            times: dict[str, list[float]] = {b: [] for b in BACKENDS}
            boxes: dict[str, Any] = {}
            for r in range(args.rounds):
                order = BACKENDS[r % len(BACKENDS) :] + BACKENDS[: r % len(BACKENDS)]
                for backend in order:
                    cmd = [sys.executable, __file__, "--worker", backend, case, "--runs", str(args.runs)]
                    cmd += ["--warmup", str(args.warmup), "--conf", str(args.conf)]
                    t = time.perf_counter()
                    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                    if proc.returncode != 0:
                        print(proc.stderr[-3000:], file=sys.stderr)
                        return 1
                    if first:  # the first detectkit-onnx/ultralytics-onnx process exported the model
                        print(f"    (first process incl. start-up: {time.perf_counter() - t:.1f} s)", file=sys.stderr)
                        first = False
                    result = json.loads(proc.stdout.strip().splitlines()[-1])
                    times[backend] += result["times"]
                    boxes[backend] = result["boxes"]
            med = {b: statistics.median(v) for b, v in times.items()}
            n = med["native"]
            diffs = " / ".join(f"{_max_diff(boxes[b], boxes['native']):.1e}" for b in BACKENDS[1:])
            print(
                f"| {case} | {1000 * n:.1f} | {1000 * med['detectkit-torch']:.1f} | "
                f"{n / med['detectkit-torch']:.2f}x | {1000 * med['detectkit-onnx']:.1f} | "
                f"{n / med['detectkit-onnx']:.2f}x | {1000 * med['ultralytics-onnx']:.1f} | "
                f"{n / med['ultralytics-onnx']:.2f}x | {diffs} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
