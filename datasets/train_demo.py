"""Train the shipped demo detector ``demo-shapes`` offline on CPU and register it in the manifest.

Steps: regenerate the "shapes" dataset (``datasets/generate.py``) into ``.cache/shapes``, train a
YOLO built from ``yolov8n.yaml`` (no pretrained weights, nothing downloaded) with Ultralytics on
the CPU, validate it with Ultralytics' own ``val`` on the val split, then write
``weights/demo-shapes.pt`` (half-precision, optimizer state stripped) and its entry in
``weights/manifest.json`` (sha256, classes, imgsz, measured mAP50 / mAP50-95, training time).

Usage (35 epochs took 65 min on a busy shared 2-core machine; see datasets/README.md)::

    nice -n 5 .venv/bin/python datasets/train_demo.py --train 400 --val 60 --epochs 35

``--no-install`` trains and reports without touching ``weights/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
os.environ.setdefault("MPLBACKEND", "Agg")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402

from detectkit._setup_fonts import ensure_ultralytics_fonts  # noqa: E402

MODEL_NAME = "demo-shapes"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if i else line for i, line in enumerate(text.splitlines()))


def update_manifest(manifest: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace one model entry with a targeted text edit; other entries keep their exact text.

    The manifest is shared: other engineers' entries (and their formatting) are never rewritten.
    The edited text is parsed back and checked before it atomically replaces the file.
    """
    block = _indent(json.dumps(entry, indent=2), 4)
    if not manifest.exists():
        _write_text_atomic(manifest, json.dumps({"schema": 1, "models": {name: entry}}, indent=2) + "\n")
        return
    text = manifest.read_text(encoding="utf-8")
    data = json.loads(text)
    decoder = json.JSONDecoder()
    key = json.dumps(name)
    if name in data.get("models", {}):
        start = text.index(key + ":", text.index('"models"'))
        value_start = text.index("{", start)
        _, end = decoder.raw_decode(text, value_start)
        new_text = text[:value_start] + block + text[end:]
    else:
        models_at = text.index('"models"')
        brace = text.index("{", models_at)
        rest = text[brace + 1 :].lstrip()
        sep = "" if rest.startswith("}") else ","
        new_text = text[: brace + 1] + f"\n    {key}: {block}{sep}" + text[brace + 1 :]
    expected = dict(data)
    expected["models"] = {**data.get("models", {}), name: entry}
    if json.loads(new_text) != expected:
        raise RuntimeError(f"targeted edit of {manifest} did not give the expected manifest")
    _write_text_atomic(manifest, new_text)


def _train_progress(run_dir: Path) -> tuple[float, int]:
    """Training wall time (s) and epochs done, from Ultralytics' results.csv (cumulative ``time`` column)."""
    lines = (run_dir / "results.csv").read_text(encoding="utf-8").strip().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    last = lines[-1].split(",")
    return float(last[header.index("time")]), int(float(last[header.index("epoch")]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the demo-shapes detector on CPU.")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--train", type=int, default=400, help="number of train images")
    parser.add_argument("--val", type=int, default=60, help="number of val images")
    parser.add_argument("--epochs", type=int, default=35)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data-dir", default=str(ROOT / ".cache" / "shapes"))
    parser.add_argument("--project", default=str(ROOT / ".cache" / "train_demo"))
    parser.add_argument("--run-name", default="demo-shapes")
    parser.add_argument("--weights-dir", default=str(ROOT / "weights"))
    parser.add_argument("--no-install", action="store_true", help="do not write weights/ or the manifest")
    parser.add_argument(
        "--init",
        default="yolov8n.yaml",
        help="model to start from: yolov8n.yaml (from scratch, the default) or a checkpoint to train further",
    )
    parser.add_argument("--hours", type=float, default=None, help="train for this long (Ultralytics `time`)")
    parser.add_argument("--prior-minutes", type=float, default=0.0, help="training time of the --init run (minutes)")
    parser.add_argument("--note", default="", help="appended to the manifest's source text")
    parser.add_argument("--lr0", type=float, default=None, help="initial learning rate (default: Ultralytics auto)")
    parser.add_argument(
        "--from-run",
        action="store_true",
        help="skip training: validate and install best.pt of an earlier run (same --project/--run-name)",
    )
    args = parser.parse_args(argv)

    ensure_ultralytics_fonts(os.environ["YOLO_CONFIG_DIR"])
    data_dir = Path(args.data_dir)
    splits = {"train": args.train, "val": args.val}
    meta_file = data_dir / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    if (meta.get("seed"), meta.get("splits"), meta.get("generator_version")) != (
        args.seed,
        splits,
        generate.GENERATOR_VERSION,
    ):
        t0 = time.time()
        meta = generate.generate_dataset(data_dir, seed=args.seed, splits=splits, progress=True)
        print(f"dataset generated in {time.time() - t0:.1f} s", flush=True)

    from ultralytics import YOLO  # type: ignore[attr-defined]

    run_dir = Path(args.project) / args.run_name
    if not args.from_run:
        model = YOLO(args.init)
        extra: dict[str, Any] = {} if args.lr0 is None else {"optimizer": "AdamW", "lr0": args.lr0, "warmup_epochs": 0}
        if args.hours is not None:
            extra["time"] = args.hours
        model.train(
            data=str(data_dir / "data.yaml"),
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            workers=args.workers,
            device="cpu",
            amp=False,
            plots=False,
            pretrained=args.init.endswith(".pt"),  # load the weights when training further
            project=args.project,
            name=args.run_name,
            exist_ok=True,
            seed=args.seed,
            deterministic=True,
            patience=0,
            nbs=args.batch,  # one optimizer step per batch (the default nbs=64 accumulates 4 batches of 16)
            val=False,  # validate once at the end (saves minutes per run on CPU)
            cache="ram",
            close_mosaic=max(1, args.epochs // 5),
            fliplr=0.5,
            flipud=0.5,
            degrees=0.0,
            verbose=False,
            **extra,
        )

    train_seconds, epochs_done = _train_progress(run_dir)
    best = run_dir / "weights" / "best.pt"
    print(f"trained in {train_seconds / 60:.1f} min -> {best}", flush=True)

    val_model = YOLO(str(best))
    metrics = val_model.val(
        data=str(data_dir / "data.yaml"),
        split="val",
        imgsz=args.imgsz,
        batch=args.batch,
        device="cpu",
        plots=False,
        project=args.project,
        name=args.run_name + "-val",
        exist_ok=True,
        verbose=False,
    )
    map50, map50_95 = float(metrics.box.map50), float(metrics.box.map)
    maps = metrics.box.maps  # per-class mAP50-95, indexed by class id
    per_class = {name: round(float(maps[i]), 4) for i, name in enumerate(generate.CLASSES)}
    print(f"val mAP50 {map50:.4f}  mAP50-95 {map50_95:.4f}  per class {per_class}", flush=True)
    if args.no_install:
        return 0

    weights_dir = Path(args.weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / f"{MODEL_NAME}.pt"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=weights_dir)
    os.close(fd)
    shutil.copyfile(best, tmp)  # best.pt is already stripped by Ultralytics (fp16, no optimizer)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, target)
    size = target.stat().st_size
    how = "yolov8n.yaml from scratch" if args.init == "yolov8n.yaml" else f"trained further from {args.init}"
    entry = {
        "file": target.name,
        "sha256": _sha256(target),
        "task": "detect",
        "framework": "ultralytics",
        "architecture": "yolov8n",
        "classes": {str(i): n for i, n in enumerate(generate.CLASSES)},
        "imgsz": args.imgsz,
        "source": (
            f"trained by detectkit from datasets/generate.py (seed {args.seed}, "
            f"generator v{meta['generator_version']}, "
            f"{args.train} train / {args.val} val images) with datasets/train_demo.py: {how}, "
            f"{epochs_done} epochs at imgsz {args.imgsz} on CPU{args.note}"
        ),
        "licence": "AGPL-3.0 (Ultralytics model code); trained weights and synthetic data by detectkit",
        "quality": {
            "map50": round(map50, 4),
            "map50_95": round(map50_95, 4),
            "split": "val",
            "images": args.val,
            "objects": meta["counts"]["val"]["objects"],
            "per_class_map50_95": per_class,
            "measured_with": "ultralytics val (conf=0.001, iou=0.7)",
            "train_minutes": round(args.prior_minutes + train_seconds / 60, 1),
            "file_bytes": size,
        },
        "default": True,
    }
    update_manifest(weights_dir / "manifest.json", MODEL_NAME, entry)
    print(f"wrote {target} ({size / 1e6:.2f} MB) and its manifest entry", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
