"""Detector speed: native Ultralytics predict vs detectkit Detector (torch) vs detectkit ONNX,
plus the same cached .onnx through Ultralytics' own ONNX backend (``YOLO("x.onnx").predict``).

Trained weights only: the shipped ``demo-shapes`` (yolov8n, trained here). Untrained networks
produce denormal activations that hit slow CPU paths in one runtime and not another, so their
ratios say nothing about real models.

Each backend runs in its OWN process (``--worker``): an idle onnxruntime session keeps its
worker threads spinning and slows whatever runs beside it, and one process per backend is how
a user runs them. All workers are started (and load their model) first; then they take turns
in short blocks (``--block`` images each, ``--rounds`` times, rotating who goes first, a pause
between hand-overs so no runtime's spinning threads overlap the next block). Only one worker
computes at a time, and the load of this shared machine hits every backend alike; the table
shows the median per image over all blocks and the ratio to native Ultralytics. Every call
includes decoding the image from its file path, as a user would call it. Boxes of every
backend are compared with native Ultralytics on the same images before timing (largest
coordinate difference, pixels).

Cases: the shapes sample images at the model's own imgsz (416), and Ultralytics' bus.jpg (a
real 1080x810 photo; the demo model finds few boxes there, which is the point: this row
measures the fixed cost of pre-processing and the network at 640).

    python benchmarks/bench_models.py [--rounds 10] [--block 3] [--warmup 3]
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

from _common import ROOT, offline

offline()

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


def worker(backend: str, case: str, warmup: int, conf: float) -> None:
    """Serve one backend on one case over stdin/stdout: ``boxes``, ``run N``, ``quit``.

    Prints ``ready`` once the model is loaded and warmed up; ``run N`` times the next N images
    (cycling through the case's images) and prints the per-call seconds as JSON.
    """
    paths, imgsz = _cases()[case]
    fn = _runner(backend, imgsz, conf)
    for i in range(warmup):
        fn(paths[i % len(paths)])
    print("ready", flush=True)
    nxt = 0
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            return
        if cmd[0] == "boxes":
            print(json.dumps({p: fn(p).tolist() for p in paths}), flush=True)
        elif cmd[0] == "run":
            times = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                fn(paths[nxt % len(paths)])
                times.append(time.perf_counter() - t)
                nxt += 1
            print(json.dumps(times), flush=True)


class _Worker:
    def __init__(self, backend: str, case: str, args: argparse.Namespace, env: dict[str, str]) -> None:
        cmd = [sys.executable, __file__, "--worker", backend, case, "--warmup", str(args.warmup)]
        self.proc = subprocess.Popen(
            [*cmd, "--conf", str(args.conf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        if self._read() != "ready":
            raise SystemExit(f"worker {backend} failed to start")

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._read())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


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
    parser.add_argument("--rounds", type=int, default=10, help="turns per backend (default: %(default)s)")
    parser.add_argument("--block", type=int, default=3, help="images per turn (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker[0], args.worker[1], args.warmup, args.conf)
        return 0

    import torch

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; one process per backend, ", end="")
    print(f"{args.rounds} turns x {args.block} images each, medians per image")
    print("| case | native ms | dk-torch ms | native/dk-torch | dk-onnx ms | native/dk-onnx | ul-onnx ms |", end="")
    print(" native/ul-onnx | max |Δbox| px vs native: dk-torch / dk-onnx / ul-onnx |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dk-bench-") as tmp:
        env = {**os.environ, "DETECTKIT_CACHE": str(Path(tmp) / "cache"), "PYTHONPATH": str(ROOT)}
        for case in _cases():
            workers = {b: _Worker(b, case, args, env) for b in BACKENDS}  # loaded one after the other
            try:
                boxes = {b: w.ask("boxes") for b, w in workers.items()}
                times: dict[str, list[float]] = {b: [] for b in BACKENDS}
                for r in range(args.rounds):
                    for backend in BACKENDS[r % len(BACKENDS) :] + BACKENDS[: r % len(BACKENDS)]:
                        time.sleep(0.05)  # let the previous runtime's spinning threads go idle
                        times[backend] += workers[backend].ask(f"run {args.block}")
            finally:
                for w in workers.values():
                    w.close()
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
