"""Export speed and accuracy: torch vs onnxruntime vs OpenVINO, each FP32 and INT8.

Rows per model: native Ultralytics ``YOLO.predict`` (torch), and ``Detector`` on the ONNX
export (onnxruntime), on OpenVINO (FP32: the same ONNX file, at OpenVINO's default precision --
BF16 on CPUs with AMX / AVX-512 BF16 -- and with f32 forced; INT8: NNCF), and the onnxruntime
INT8 (QDQ) file. Ultralytics' first predict sets torch to (CPUs - 1) threads -- one thread on
a 2-core machine -- so "torch (Ultralytics predict)" is torch as users get it, and the "threads
reset" row gives torch ``--threads`` again after that first call (the stronger peer; ratios in
the notes are against both). Every row is warmed up with two passes over the images it times, and runs
in a **process of its own** (idle onnxruntime / OpenVINO
thread pools spin and slow whatever runs next to them), for ``--rounds`` rounds in rotating
order, so machine load drifts hit every row alike; medians over all rounds.

Columns (medians; "best" = the fastest single call, the least disturbed by other processes on
a shared machine): end to end per image (pre-processing, network, decoding, NMS; images already
decoded) and network only (one letterboxed tensor through the runtime), each as ms and as a
speed-up over torch; mAP50-95 with detectkit's COCO metrics (conf 0.001) on the shapes val
sample (60 images); INT8 files are made by ``export_model`` with its accuracy guard.

Models: the shipped demo detector (trained yolov8n architecture, 5 classes) at its imgsz
416, and the same trained network at imgsz 640 as the "yolov8n-size model at 640" (a trained
network: untrained weights hit denormal slow paths and mislead; yolov8n with 80 classes
differs only in the last 1x1 convolutions of the head).

Classifier: a MobileNetV2 fine-tuned on the shape crops (``--classifier NAME_OR_PTH``) torch
vs ONNX / OpenVINO FP32 / INT8, end to end (resize, crop, normalise, network, softmax) and
top-1 on the held-out crops (``--classifier-val``).

    python benchmarks/bench_export.py [--threads 2] [--runs 20] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, offline

offline()

VAL = ROOT / "datasets" / "shapes"
WORK = ROOT / ".cache" / "bench_export"


# ------------------------------------------------------------------------------------- workers
_MIN: dict[str, float] = {}


def _median_ms(fn: Any, items: list[Any], runs: int, warmup: int = 2, key: str = "") -> float:
    """Median ms per call; the fastest call goes to ``_MIN[key]`` (a loaded machine's best case).

    Warm-up: ``warmup`` passes over every item that is timed, so each runtime has seen each input
    shape (OpenVINO compiles a model for a shape that recurs; torch and onnxruntime warm up too).
    """
    for _ in range(warmup):
        for item in items[: min(runs, len(items))]:
            fn(item)
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(items[i % len(items)])
        times.append(time.perf_counter() - t)
    if key:
        _MIN[key] = min(times) * 1000
    return statistics.median(times) * 1000


def _worker_detector(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from detectkit.dataset import Dataset
    from detectkit.image import letterbox, load_image, normalize

    images = [load_image(p) for p in sorted((VAL / "images" / "val").glob("*.jpg"))]
    out: dict[str, Any] = {}
    if args.backend == "torch":
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(args.threads)
        yolo = YOLO(args.model)
        if args.reset_threads:  # Ultralytics sets torch to (CPUs - 1) threads in its first predict
            yolo.predict(images[0], imgsz=args.imgsz, conf=0.25, verbose=False)
            torch.set_num_threads(args.threads)
        out["e2e_ms"] = _median_ms(
            lambda im: yolo.predict(im, imgsz=args.imgsz, conf=0.25, verbose=False), images, args.runs, key="e2e_min_ms"
        )
        out["torch_threads"] = torch.get_num_threads()  # what the timed calls ran with
        net = yolo.model.eval()
        x = torch.from_numpy(normalize(letterbox(images[0], (args.imgsz, args.imgsz), auto=False).image)[None])
        with torch.inference_mode():
            out["net_ms"] = _median_ms(lambda t: net(t), [x], args.runs, key="net_min_ms")
        from detectkit.models.detector import Detector

        det = Detector(args.model, conf=0.001, imgsz=args.imgsz, backend="torch")
    else:
        from detectkit.models.detector import Detector

        det = Detector(args.model, conf=0.25, imgsz=args.imgsz, backend=args.backend)
        out["e2e_ms"] = _median_ms(lambda im: det.detect_batch([im]), images, args.runs, key="e2e_min_ms")
        runner = det._onnx  # the runtime session, for the network-only column
        assert runner is not None
        x = normalize(letterbox(images[0], (args.imgsz, args.imgsz), auto=False).image)[None]
        name = runner.input_name
        out["net_ms"] = _median_ms(lambda t: runner.session.run(None, {name: t}), [x], args.runs, key="net_min_ms")
        det = Detector(args.model, conf=0.001, imgsz=args.imgsz, backend=args.backend)
    out.update(_MIN)
    if args.map:
        out["map50_95"] = float(det.evaluate(Dataset.read(VAL)).map)
    del np
    return out


def _worker_classifier(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from detectkit.image import load_image
    from detectkit.models.classifier import Classifier
    from detectkit.train.data import read_labelled

    torch.set_num_threads(args.threads)
    clf = Classifier(args.model)
    val = read_labelled(args.val)
    images = [load_image(p) for p in val.paths]
    out: dict[str, Any] = {
        "e2e_ms": _median_ms(lambda im: clf.predict_proba([im]), images, args.runs, key="e2e_min_ms")
    }
    out.update(_MIN)
    names = {v: k for k, v in clf.names.items()}
    want = np.array([names[val.classes[i]] for i in val.labels.tolist()])
    got = np.concatenate([clf.predict_proba(images[i : i + 32]).argmax(1) for i in range(0, len(images), 32)])
    out["top1"] = float(np.mean(got == want))
    return out


def _run_worker(kind: str, model: str, backend: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), DETECTKIT_ORT_THREADS=str(args.threads))
    env["DETECTKIT_OPENVINO_PRECISION"] = str(extra.pop("precision", None) or "default")
    cmd = [sys.executable, __file__, "--worker", kind, "--model", model, "--backend", backend]
    cmd += ["--threads", str(args.threads), "--runs", str(args.runs)]
    for key, value in extra.items():
        if value is True:
            cmd.append(f"--{key}")
        elif value is not None and value is not False:
            cmd += [f"--{key}", str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} {backend} {model} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------- driver
def _exports(args: argparse.Namespace, imgsz: int) -> dict[str, Any]:
    """FP32 ONNX and the INT8 files (guarded) for the demo detector at ``imgsz``; cached in WORK."""
    from detectkit.models import weights
    from detectkit.models.detector import onnx_export
    from detectkit.train.export import export_model

    WORK.mkdir(parents=True, exist_ok=True)
    pt = weights.resolve("demo-shapes").path
    assert pt is not None
    files: dict[str, Any] = {"pt": str(pt), "onnx": str(onnx_export(pt, imgsz=imgsz))}
    for fmt, suffix in (("openvino", ".xml"), ("onnx", ".onnx")):
        target = WORK / f"demo-shapes-{imgsz}-int8{suffix}"
        meta = target.parent / f"{target.name}.guard.json"  # one per format
        if not target.is_file() or not meta.is_file():
            t = time.perf_counter()
            res = export_model(
                "demo-shapes",
                format=fmt,
                int8=True,
                calibration=VAL,
                imgsz=imgsz,
                out=target,
                calibration_size=args.calibration,
                register=False,
            )
            guard = {
                "reference": res.reference,
                "int8": res.score,
                "drop_points": res.drop_points,
                "seconds": time.perf_counter() - t,
            }
            meta.write_text(json.dumps(guard))
        files[f"{fmt}-int8"] = str(target)
        files[f"{fmt}-int8-guard"] = json.loads(meta.read_text())
    return files


def _rounds(jobs: dict[str, tuple[str, str, str, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """Run every job ``--rounds`` times in rotating order; per job the median of each number."""
    names = list(jobs)
    found: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            kind, model, backend, extra = jobs[name]
            extra = dict(extra, map=extra.get("map") and r == 0)
            found[name].append(_run_worker(kind, model, backend, args, **extra))
            print(f"  round {r + 1} {name}: {found[name][-1]}", file=sys.stderr, flush=True)
    out: dict[str, Any] = {}
    for name, rows in found.items():
        keys = {k for row in rows for k in row}
        out[name] = {k: statistics.median([row[k] for row in rows if k in row]) for k in keys}
    return out


def _table(title: str, rows: dict[str, Any], ref: str, cols: list[tuple[str, str]]) -> str:
    lines = [f"\n{title}", "| backend | " + " | ".join(h for _, h in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for key, _ in cols:
            if key.endswith("_x"):
                base = key[:-2]
                value = rows[ref].get(base, float("nan")) / row.get(base, float("nan"))
                cells.append(f"{value:.2f}x")
            elif key in row:
                cells.append(f"{row[key]:.4f}" if key in ("map50_95", "top1") else f"{row[key]:.1f}")
            else:
                cells.append("-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=60, help="calibration images (60)")
    parser.add_argument("--sizes", default="416,640")
    parser.add_argument("--classifier", help="fine-tuned classifier (name or .pth) for the classifier rows")
    parser.add_argument("--classifier-val", help="held-out class-folder tree for the classifier rows")
    parser.add_argument("--classifier-calibration", help="calibration images for the classifier (default: val)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", help="comma-separated substrings of the detector rows to run (torch always runs)")
    parser.add_argument(
        "--reset-threads",
        action="store_true",
        help="worker: give torch --threads again after Ultralytics' first predict (it sets CPUs - 1)",
    )
    # worker mode
    parser.add_argument("--worker", choices=("detector", "classifier"))
    parser.add_argument("--model")
    parser.add_argument("--backend")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--map", action="store_true")
    parser.add_argument("--val")
    args = parser.parse_args()
    if args.worker == "detector":
        print(json.dumps(_worker_detector(args)))
        return 0
    if args.worker == "classifier":
        print(json.dumps(_worker_classifier(args)))
        return 0

    print(
        f"bench_export: {args.threads} threads, {args.runs} runs x {args.rounds} rounds per row, "
        f"each row in its own process; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    report: dict[str, Any] = {"threads": args.threads, "load_at_start": os.getloadavg()[0]}
    cols = [("e2e_ms", "end-to-end ms"), ("e2e_ms_x", "vs torch"), ("net_ms", "network ms"), ("net_ms_x", "vs torch")]
    cols += [("e2e_min_ms", "best e2e ms"), ("e2e_min_ms_x", "vs torch"), ("map50_95", "mAP50-95")]
    for imgsz in [int(s) for s in args.sizes.split(",") if s]:
        files = _exports(args, imgsz)
        jobs = {
            "torch (Ultralytics predict)": ("detector", files["pt"], "torch", {"imgsz": imgsz, "map": True}),
            "torch (Ultralytics predict, threads reset)": (
                "detector",
                files["pt"],
                "torch",
                {"imgsz": imgsz, "reset-threads": True},
            ),
            "onnxruntime FP32": ("detector", files["onnx"], "onnx", {"imgsz": imgsz, "map": True}),
            "onnxruntime INT8": ("detector", files["onnx-int8"], "onnx", {"imgsz": imgsz, "map": True}),
            "OpenVINO FP32 (default: BF16 on AMX)": (
                "detector",
                files["onnx"],
                "openvino",
                {"imgsz": imgsz, "map": True},
            ),
            "OpenVINO FP32 (f32 forced)": (
                "detector",
                files["onnx"],
                "openvino",
                {"imgsz": imgsz, "map": True, "precision": "f32"},
            ),
            "OpenVINO INT8": ("detector", files["openvino-int8"], "openvino", {"imgsz": imgsz, "map": True}),
        }
        if args.only:
            keep = [w.strip() for w in args.only.split(",")]
            jobs = {k: v for k, v in jobs.items() if k == "torch (Ultralytics predict)" or any(w in k for w in keep)}
        rows = _rounds(jobs, args)
        report[f"detector_{imgsz}"] = {"rows": rows, "guard": {k: v for k, v in files.items() if "guard" in k}}
        print(_table(f"demo detector (yolov8n, trained) at imgsz {imgsz}", rows, "torch (Ultralytics predict)", cols))
        for key in ("openvino-int8-guard", "onnx-int8-guard"):
            g = files[key]
            print(
                f"  guard {key[:-6]}: mAP50-95 {g['int8']:.4f} vs torch {g['reference']:.4f} "
                f"({g['drop_points']:+.2f} points drop; export {g['seconds']:.0f} s)"
            )
    if args.classifier and args.classifier_val:
        from detectkit.train.export import export_model

        WORK.mkdir(parents=True, exist_ok=True)
        files = {}
        for fmt, suffix, int8 in (("onnx", ".onnx", False), ("openvino", ".xml", False), ("onnx", ".onnx", True)):
            files[(fmt, int8)] = WORK / f"classifier-{'int8' if int8 else 'fp32'}{suffix}"
        files[("openvino", True)] = WORK / "classifier-int8.xml"
        from detectkit.train.export import AccuracyGuardError

        guards: dict[str, Any] = {}
        calibration = args.classifier_calibration or args.classifier_val
        for (fmt, int8), target in list(files.items()):
            try:
                res = export_model(
                    args.classifier,
                    format=fmt,
                    int8=int8,
                    calibration=calibration if int8 else None,
                    val=args.classifier_val if int8 else None,
                    out=target,
                    calibration_size=args.calibration,
                    register=False,
                    task="classify",
                )
            except AccuracyGuardError as exc:  # the guard refused: no file, no row
                guards[fmt] = {"refused": True, "reference": exc.reference, "int8": exc.quantized}
                guards[fmt]["drop_points"] = exc.drop_points
                del files[(fmt, int8)]
                continue
            if int8:
                guards[fmt] = {"reference": res.reference, "int8": res.score, "drop_points": res.drop_points}
        jobs = {"torch": ("classifier", args.classifier, "torch", {"val": args.classifier_val})}
        for (fmt, int8), target in files.items():
            label = f"{'onnxruntime' if fmt == 'onnx' else 'OpenVINO'} {'INT8' if int8 else 'FP32'}"
            jobs[label] = ("classifier", str(target), fmt, {"val": args.classifier_val})
        rows = _rounds(jobs, args)
        report["classifier"] = {"rows": rows, "guard": guards}
        ccols = [("e2e_ms", "end-to-end ms"), ("e2e_ms_x", "vs torch"), ("e2e_min_ms", "best ms")]
        ccols += [("e2e_min_ms_x", "vs torch"), ("top1", "top-1 (held out)")]
        print(_table("classifier (MobileNetV2 fine-tuned on shape crops)", rows, "torch", ccols))
        print(f"  guard: {guards}")
    report["load_at_end"] = os.getloadavg()[0]
    print(f"load average at the end: {report['load_at_end']:.1f} (a shared machine: ratios, not absolute ms)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
