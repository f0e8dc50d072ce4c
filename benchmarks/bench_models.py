"""Detector speed: native Ultralytics predict vs detectkit Detector (torch) vs detectkit ONNX.

A fourth column runs the same cached .onnx through Ultralytics' own ONNX backend
(``YOLO("x.onnx").predict``), the alternative to detectkit's own ONNX pre/post-processing.

Per-image medians, one run. Each detectkit/ONNX peer is timed interleaved with native
predict (rotating who goes first), so machine load hits both sides of every ratio alike; the
ratio columns come from those pairs.

Cases: an untrained yolov8n (built offline from its yaml) on Ultralytics' bus.jpg at imgsz 640,
and the shipped demo detector on the shapes sample images at its own imgsz.
Every call includes image decoding from the file path, as a user would call it.

    python benchmarks/bench_models.py [--runs 30] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
sys.path.insert(0, str(ROOT))


def _interleaved(
    runners: dict[str, Callable[[int], object]], runs: int, warmup: int, n_images: int
) -> dict[str, float]:
    """Median seconds per call of each runner; runner(i) processes image i % n_images."""
    for fn in runners.values():
        for i in range(warmup):
            fn(i % n_images)
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(runs):
        # rotate who goes first: a runner right after an ONNX one otherwise pays for
        # onnxruntime's still-spinning worker threads
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            runners[name](i % n_images)
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def _case(
    label: str, checkpoint: Path, images: list[Path], imgsz: int, conf: float, args: argparse.Namespace
) -> dict[str, float]:
    import numpy as np
    from ultralytics import YOLO

    from detectkit.models.detector import Detector

    native = YOLO(str(checkpoint))
    dk_torch = Detector(checkpoint, conf=conf, imgsz=imgsz)
    t = time.perf_counter()
    dk_onnx = Detector(checkpoint, conf=conf, imgsz=imgsz, backend="onnx")
    setup_onnx = time.perf_counter() - t

    # parity check on the benchmark images before timing
    worst_torch = worst_onnx = 0.0
    for path in images:
        ref = native.predict(str(path), conf=conf, imgsz=imgsz, verbose=False)[0].boxes.xyxy.numpy()
        a, b = dk_torch.detect(path).xyxy, dk_onnx.detect(path).xyxy
        if len(a) == len(ref) and len(ref):
            worst_torch = max(worst_torch, float(np.abs(a - ref).max()))
        elif len(a) != len(ref):
            worst_torch = float("inf")
        if len(b) == len(ref) and len(ref):
            worst_onnx = max(worst_onnx, float(np.abs(b - ref).max()))
        elif len(b) != len(ref):
            worst_onnx = float("inf")

    ul_onnx = YOLO(str(dk_onnx.onnx_path), task="detect")  # Ultralytics' own ONNX AutoBackend, same file
    paths = [str(p) for p in images]

    def native_fn(i: int) -> object:
        return native.predict(paths[i], conf=conf, imgsz=imgsz, verbose=False)

    peers: dict[str, Callable[[int], object]] = {
        "detectkit-torch": lambda i: dk_torch.detect(paths[i]),
        "detectkit-onnx": lambda i: dk_onnx.detect(paths[i]),
        "ultralytics-onnx": lambda i: ul_onnx.predict(paths[i], conf=conf, imgsz=imgsz, verbose=False),
    }
    # Each peer is timed interleaved with native predict, one pair at a time: with all four in one
    # loop, onnxruntime's spinning worker threads (Ultralytics' session) slow whoever runs next.
    med: dict[str, float] = {}
    ratio: dict[str, float] = {}
    for name, fn in peers.items():
        pair = _interleaved({"native": native_fn, name: fn}, args.runs, args.warmup, len(paths))
        med[name] = pair[name]
        ratio[name] = pair[name] / pair["native"]
        med.setdefault("native", pair["native"])
    n = med["native"]
    t_, o, u = med["detectkit-torch"], med["detectkit-onnx"], med["ultralytics-onnx"]
    print(
        f"| {label:<34} | {1000 * n:8.1f} | {1000 * t_:8.1f} | {ratio['detectkit-torch']:6.3f} | {1000 * o:8.1f} |"
        f" {1 / ratio['detectkit-onnx']:6.2f}x | {1000 * u:8.1f} | {1 / ratio['ultralytics-onnx']:6.2f}x |"
        f" {worst_torch:.1e} / {worst_onnx:.1e} |"
    )
    print(f"    (ONNX export + session set-up, once, cached afterwards: {setup_onnx:.1f} s)", file=sys.stderr)
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description="native vs detectkit torch vs detectkit onnx")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    import torch
    from ultralytics import ASSETS, YOLO

    from detectkit.models import weights

    with tempfile.TemporaryDirectory(prefix="dk-bench-") as tmp:
        os.environ["DETECTKIT_CACHE"] = str(Path(tmp) / "cache")  # measure a fresh export, leave no files
        torch.manual_seed(0)
        yolov8n = Path(tmp) / "yolov8n-untrained.pt"
        YOLO("yolov8n.yaml").save(str(yolov8n))

        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {args.runs} runs, medians per image")
        from detectkit.models.detector import _onnx_threads

        print(f"onnxruntime threads {_onnx_threads() or 'default (one per physical core)'}")
        print(
            "| case | native ms | dk-torch ms | dk-torch/native | dk-onnx ms | native/dk-onnx |"
            " ul-onnx ms | native/ul-onnx | max |Δbox| px dk-torch / dk-onnx |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        # untrained: scores are tiny, so a low conf keeps NMS and decoding busy like a real model
        _case("yolov8n (untrained) bus.jpg @640", yolov8n, [Path(ASSETS) / "bus.jpg"], 640, 1e-4, args)
        demo = weights.resolve("demo-shapes")
        samples = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[:10]
        assert demo.path is not None
        _case(f"demo-shapes, 10 samples @{demo.imgsz}", demo.path, samples, demo.imgsz or 640, 0.25, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
