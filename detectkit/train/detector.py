"""Train a YOLO detector with Ultralytics from any dataset detectkit reads; evaluate it our way.

>>> from detectkit.train import train_detector
>>> result = train_detector("annotations/instances.json", epochs=30, imgsz=416)  # doctest: +SKIP
>>> result.map50_95, result.name  # doctest: +SKIP
(0.61, 'instances-yolov8n')
>>> Detector(result.name).detect("new.jpg")  # doctest: +SKIP

1. The dataset (COCO, YOLO, VOC, LabelMe, CVAT: anything :meth:`Dataset.read` reads) is split
   into train / val (``val=`` a second dataset, else the records' own ``split`` when both
   exist, else a stratified ``val_split``) and written by our YOLO writer into the cache
   (``cache_dir()/train/data/<key>``, images as symlinks, class names kept in id order). Nothing
   is written next to your data; the same dataset and split reuse the cached conversion.
2. Ultralytics trains on it offline (``amp=False``: no AMP-check download; no plots: no font
   download; outputs only under ``out``), printing one line per epoch on stderr. Ultralytics
   saves ``weights/last.pt`` after every epoch, so after Ctrl-C ``resume=True`` continues from the
   last finished epoch.
3. The best checkpoint is evaluated on the val split with detectkit's COCO-exact metrics
   (``conf=0.001``), the report (``report/``: PR curves, confusion matrix, per-class AP,
   ``metrics.json``) is written, and the weights are registered in the user manifest (sha256,
   classes, imgsz, mAP50 / mAP50-95, source dataset, date) so ``Detector(name)`` loads them.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectkit.errors import InvalidInputError, ModelLoadError

__all__ = ["DetectorTrainResult", "prepare_yolo_data", "train_detector"]


@dataclass(frozen=True)
class DetectorTrainResult:
    """What :func:`train_detector` wrote and measured.

    Attributes:
        weights: the best checkpoint (``out/weights/best.pt``).
        name: user-manifest name, or None.
        map50, map50_95: detectkit's COCO metrics on the val split.
        metrics: the full :class:`detectkit.metrics.Metrics`.
        out: the training folder; report: the report folder.
        data_yaml: the converted dataset's ``data.yaml`` (in the cache).
        convert_seconds, train_seconds: wall time of the conversion and of Ultralytics' training.
    """

    weights: Path
    name: str | None
    map50: float
    map50_95: float
    metrics: Any
    out: Path
    report: Path
    data_yaml: Path
    convert_seconds: float
    train_seconds: float
    epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"val mAP50-95 {self.map50_95:.4f}, mAP50 {self.map50:.4f} (detectkit COCO metrics); "
            f"weights {self.weights}; report {self.report}" + (f"; registered as {self.name!r}" if self.name else "")
        )


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def _fingerprint(path: Path) -> str:
    """Path + size + mtime of the annotation source (files) so edits invalidate the cached conversion."""
    items = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*") if p.suffix.lower() in (".json", ".txt", ".xml", ".yaml", ".yml"))[
            :20000
        ]
    )
    return _key(*[(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in items if p.is_file()])


def _splits(data: Any, val: Any, val_split: float, seed: int) -> tuple[Any, Any]:
    from detectkit.dataset import Dataset

    ds = data if isinstance(data, Dataset) else Dataset.read(data)
    if val is not None:
        val_ds = val if isinstance(val, Dataset) else Dataset.read(val)
        if sorted(val_ds.names.values()) != sorted(ds.names.values()):
            raise InvalidInputError(
                f"val classes {sorted(val_ds.names.values())} differ from {sorted(ds.names.values())}"
            )
        return ds, val_ds
    kinds = {r.split for r in ds.images}
    if {"train", "val"} <= kinds:
        return (
            ds.select(lambda r: r.split == "train"),
            ds.select(lambda r: r.split == "val"),
        )
    if not 0.0 < val_split < 1.0:
        raise InvalidInputError(f"val_split must be in (0, 1), got {val_split!r}")
    parts = ds.split(train=1.0 - val_split, val=val_split, seed=seed)
    if "val" not in parts or not len(parts["val"]) or not len(parts.get("train", [])):
        raise InvalidInputError(
            f"dataset has too few images ({len(ds)}) for a val split of {val_split}; "
            "pass val= (a separate val dataset) or set val_split higher"
        )
    return parts["train"], parts["val"]


def prepare_yolo_data(train: Any, val: Any, folder: Path) -> Path:
    """Write ``train`` and ``val`` as one YOLO dataset (images/{train,val} symlinked) in ``folder``.

    Category ids become YOLO ids 0..C-1 in id order, names kept; val categories are matched to
    the train categories by name. Returns the ``data.yaml`` path.
    """
    from detectkit.dataset import Dataset

    missing = [r.file_name for d in (train, val) for r in d.images if r.path is None or not Path(r.path).is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} image(s) have no readable file (e.g. {missing[:3]}): training needs the images "
            "(for COCO JSON keep them beside it or read it with Dataset.from_coco(path, images=...))"
        )
    unknown = sorted(set(val.names.values()) - set(train.names.values()))
    if unknown:  # merge() below unifies categories by name
        raise InvalidInputError(f"val classes {unknown} are not training classes {sorted(train.names.values())}")
    train = train.with_images([r._replace(split="train") for r in train.images])
    val = val.with_images([r._replace(split="val") for r in val.images])
    merged: Dataset = train.merge(val)
    merged.write(folder, format="yolo", link_images=True, overwrite=True)
    return folder / "data.yaml"


class _EpochPrinter:
    """Ultralytics callback: one progress line per epoch on stderr."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.start = time.perf_counter()

    def __call__(self, trainer: Any) -> None:
        if not self.verbose or trainer.epoch >= trainer.epochs:  # the final re-validation calls again
            return
        losses = getattr(trainer, "tloss", None)
        loss = float(losses.sum()) if losses is not None and hasattr(losses, "sum") else float("nan")
        metrics = getattr(trainer, "metrics", {}) or {}
        m = metrics.get("metrics/mAP50-95(B)")
        extra = f" ultralytics val mAP50-95 {m:.3f}" if isinstance(m, float) else ""
        print(
            f"epoch {trainer.epoch + 1}/{trainer.epochs} loss {loss:.3f}{extra} "
            f"({time.perf_counter() - self.start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )


def _resolve_model(model: str) -> tuple[str, str]:
    """(what YOLO() loads, architecture label)."""
    from detectkit.models import weights as weights_mod

    resolved = weights_mod.resolve(model)
    if resolved.path is None:
        return model, Path(model).stem
    if resolved.suffix not in (".pt", ".yaml", ".yml"):
        raise ModelLoadError(f"train needs a .pt checkpoint or a .yaml model config, got {model!r}")
    return str(resolved.path), str(resolved.architecture or Path(str(resolved.path)).stem)


def train_detector(
    data: Any,
    *,
    model: str = "yolov8n.yaml",
    epochs: int = 10,
    imgsz: int = 640,
    batch: int = 16,
    val: Any = None,
    val_split: float = 0.1,
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int = 0,
    register: bool = True,
    verbose: bool = True,
    **ultralytics_args: Any,
) -> DetectorTrainResult:
    """Train, evaluate with our metrics, report, register; see the module docs.

    Args:
        data: a dataset path (any format) or a ``Dataset``.
        model: ``yolov8n.yaml`` (from scratch, offline), a ``.pt`` checkpoint or a manifest name
            (fine-tune, e.g. ``"demo-shapes"``).
        epochs, imgsz, batch: as Ultralytics'.
        val: a val dataset; else the records' splits, else ``val_split`` (stratified, seeded).
        out: training folder (default ``cache_dir()/train/detect/<name>``).
        name: model name (default ``<dataset>-<model>``), registered in the user manifest.
        resume: continue the interrupted run in ``out`` from ``weights/last.pt``.
        seed, workers: as Ultralytics' (``workers=0``: no dataloader processes).
        register: write the user-manifest entry.
        verbose: one line per epoch on stderr.
        ultralytics_args: more ``YOLO.train`` arguments (e.g. ``lr0=1e-3``, ``mosaic=0``).

    Raises:
        InvalidInputError: bad options or data. ModelLoadError: unknown model.
        KeyboardInterrupt: re-raised after telling how to resume.
    """
    from detectkit.dataset import Dataset
    from detectkit.models import cache_dir, prepare_ultralytics

    for label, value in (("epochs", epochs), ("imgsz", imgsz), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{label} must be a positive int, got {value!r}")
    source = data if isinstance(data, Dataset) else Path(data)
    if not isinstance(source, Dataset) and not source.exists():
        raise InvalidInputError(f"dataset {source} does not exist")
    weights_in, arch = _resolve_model(model)
    stem = "dataset" if isinstance(source, Dataset) else (source.stem if source.is_file() else source.name)
    model_name = name or f"{stem}-{arch}"
    folder = Path(out) if out is not None else cache_dir() / "train" / "detect" / model_name
    last = folder / "weights" / "last.pt"
    if resume and not last.is_file():
        raise InvalidInputError(f"nothing to resume: {last} does not exist (train without --resume first)")

    t0 = time.perf_counter()
    train_ds, val_ds = _splits(data, val, val_split, seed)
    key = _key(
        "v1",
        "dataset" if isinstance(source, Dataset) else _fingerprint(source),
        val if val is None or isinstance(val, Dataset) else _fingerprint(Path(val)),
        val_split,
        seed,
        len(train_ds),
        len(val_ds),
    )
    data_dir = cache_dir() / "train" / "data" / key
    data_yaml = data_dir / "data.yaml"
    if not data_yaml.is_file() or isinstance(source, Dataset):
        data_yaml = prepare_yolo_data(train_ds, val_ds, data_dir)
    convert_seconds = time.perf_counter() - t0

    YOLO = prepare_ultralytics().YOLO
    yolo = YOLO(str(last) if resume else weights_in)
    yolo.add_callback("on_fit_epoch_end", _EpochPrinter(verbose))
    folder.parent.mkdir(parents=True, exist_ok=True)
    args: dict[str, Any] = {
        "data": str(data_yaml),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "device": "cpu",
        "workers": workers,
        "project": str(folder.parent.resolve()),
        "name": folder.name,
        "exist_ok": True,
        "amp": False,
        "plots": False,
        "seed": seed,
        "verbose": False,
        **ultralytics_args,
    }
    t1 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Ultralytics' chatter never mixes with our stdout
            if resume:
                yolo.train(resume=True)
            else:
                yolo.train(**args)
    except KeyboardInterrupt:
        if last.is_file():
            print(
                f"interrupted: the last finished epoch is in {last}; continue with "
                f"`detectkit train detector {data} --out {folder} --resume`",
                file=sys.stderr,
            )
        raise
    train_seconds = time.perf_counter() - t1
    trainer = getattr(yolo, "trainer", None)
    best = Path(getattr(trainer, "best", "") or folder / "weights" / "best.pt")
    if not best.is_file():
        best = last

    from detectkit.models.detector import Detector

    metrics = Detector(best, conf=0.001, imgsz=imgsz).evaluate(val_ds)
    report = folder / "report"
    if report.exists():
        shutil.rmtree(report)
    report.mkdir(parents=True)
    metrics.plot(report)
    (report / "metrics.json").write_text(metrics.to_json(), encoding="utf-8")
    reg_name = None
    if register:
        from detectkit.models.user_models import register_model

        reg_name = model_name
        per_class = {r["name"]: r["ap"] for r in metrics.per_class()}
        register_model(
            reg_name,
            best,
            {
                "task": "detect",
                "framework": "ultralytics",
                "architecture": arch,
                "classes": {str(i): n for i, (_, n) in enumerate(sorted(train_ds.names.items()))},
                "imgsz": imgsz,
                "source": f"detectkit train detector {'<Dataset>' if isinstance(source, Dataset) else source} "
                f"(model {model}, {epochs} epochs, {len(train_ds)} train / {len(val_ds)} val images)",
                "date": datetime.date.today().isoformat(),
                "quality": {
                    "map50": metrics.map50,
                    "map50_95": metrics.map,
                    "split": "val",
                    "images": len(val_ds),
                    "per_class_map50_95": per_class,
                    "measured_with": "detectkit COCO metrics (conf=0.001)",
                },
            },
        )
    return DetectorTrainResult(
        weights=best,
        name=reg_name,
        map50=float(metrics.map50),
        map50_95=float(metrics.map),
        metrics=metrics,
        out=folder,
        report=report,
        data_yaml=data_yaml,
        convert_seconds=convert_seconds,
        train_seconds=train_seconds,
        epochs=epochs,
    )
