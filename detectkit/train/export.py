"""Export detectors and classifiers to ONNX / OpenVINO, optionally INT8, behind an accuracy guard.

>>> from detectkit.train import export_model
>>> result = export_model("demo-shapes", format="openvino", int8=True,
...                       calibration="datasets/shapes", out="demo-int8.xml")  # doctest: +SKIP
>>> result.drop_points  # mAP50-95 points lost against the torch model  # doctest: +SKIP
0.4

* Detectors (Ultralytics checkpoints or manifest names): the ONNX export is Ultralytics' (dynamic
  shapes, cached, :func:`detectkit.models.detector.onnx_export`); OpenVINO reads it and saves an IR.
  The files load with ``Detector(path)``, which keeps our letterbox, decoding and NMS.
* Classifiers (torchvision state dicts, manifest names): ``torch.onnx.export`` with a dynamic
  batch axis; names and pre-processing travel in the file's metadata, so ``Classifier(path)``
  loads it alone.
* INT8 is **static** quantisation with calibration images: NNCF post-training quantisation for
  OpenVINO (the detector's box-decoding tail, DFL and sigmoid stay in float, as Ultralytics'
  own OpenVINO INT8 export does), onnxruntime ``quantize_static`` (QDQ, per-channel weights) for
  ONNX. Dynamic quantisation is not offered: it turns convolutions into slow ``ConvInteger``
  ops (onnxruntime issue 12558).
* **Accuracy guard**: every INT8 export is evaluated on a labelled val set (``val``, else the
  calibration dataset) next to the source model — COCO mAP50-95 with our metrics for detectors,
  top-1 for classifiers — and refused with :class:`AccuracyGuardError`, writing nothing, when it
  loses more than ``max_drop`` points. The measured drop goes in the user manifest entry.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._checks import check_choice
from detectkit.errors import DetectkitError, InvalidInputError, MissingDependencyError, ModelLoadError

__all__ = ["FORMATS", "AccuracyGuardError", "ExportResult", "export_model"]

FORMATS = ("onnx", "openvino")
_DEFAULT_CALIBRATION = 100
_SPEED_RUNS = 10


class AccuracyGuardError(DetectkitError):
    """An INT8 export lost more accuracy than allowed; nothing was written.

    Attributes:
        reference: the source model's score (mAP50-95 or top-1, in [0, 1]).
        quantized: the INT8 model's score.
        drop_points: ``(reference - quantized) * 100``.
        max_drop: the budget in points.
    """

    def __init__(self, message: str, *, reference: float, quantized: float, max_drop: float) -> None:
        super().__init__(message)
        self.reference = reference
        self.quantized = quantized
        self.drop_points = (reference - quantized) * 100
        self.max_drop = max_drop


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and measured.

    Attributes:
        path: the exported file (``.onnx`` or the IR ``.xml``; its ``.bin`` lies beside it).
        format: ``"onnx"`` or ``"openvino"``.
        task: ``"detect"`` or ``"classify"``.
        int8: whether it is INT8-quantised.
        name: the user-manifest name it was registered under (loadable by name), or None.
        metric: ``"map50_95"`` or ``"top1"`` when a guard evaluation ran, else None.
        reference: the source model's score on the val set, in [0, 1].
        score: the exported model's score.
        drop_points: ``(reference - score) * 100``.
        calibration_images: images used for INT8 calibration.
        val_images: images of the guard evaluation.
        entry: the user-manifest entry written.
        speed_ms: for detector INT8 exports, end-to-end milliseconds per image on this machine of
            ``"int8"`` (this file) and ``"fp32"`` (the FP32 model on the same runtime), measured
            one after the other with ``Detector`` (see :func:`detectkit.models.backend_choice.measure_backend`).
        advice: which of the two to deploy here, from ``speed_ms`` (None when not measured).
    """

    path: Path
    format: str
    task: str
    int8: bool
    name: str | None = None
    metric: str | None = None
    reference: float | None = None
    score: float | None = None
    drop_points: float | None = None
    calibration_images: int = 0
    val_images: int = 0
    entry: dict[str, Any] = field(default_factory=dict)
    speed_ms: dict[str, float] = field(default_factory=dict)
    advice: str | None = None

    def __str__(self) -> str:
        kind = f"{self.format} {'INT8' if self.int8 else 'FP32'} {self.task}"
        text = f"exported {kind} model to {self.path}"
        if self.metric is not None and self.reference is not None and self.score is not None:
            text += (
                f"; {self.metric} {self.score:.4f} vs {self.reference:.4f} for the source model "
                f"({self.drop_points:+.2f} points drop, {self.val_images} val images)"
            )
        if self.name:
            text += f"; registered as {self.name!r}"
        if self.advice:
            text += f"\n{self.advice}"
        return text


# ---------------------------------------------------------------------------------------- inputs
def _task_of(model: str, task: str | None) -> tuple[str, Any]:
    from detectkit.models import weights as weights_mod

    resolved = weights_mod.resolve(model)
    if task is None:
        task = resolved.task or ("detect" if resolved.suffix in (".pt", ".yaml", ".yml") else "classify")
    if task not in ("detect", "classify"):
        raise InvalidInputError(f"export supports detect and classify models, {model!r} is a {task!r} model")
    return task, resolved


def _image_paths(source: str | os.PathLike[str], what: str) -> list[Path]:
    """Image files of a dataset (any format ``Dataset.read`` reads), a class-folder tree or a folder."""
    from detectkit.image import list_images

    path = Path(source)
    if not path.exists():
        raise InvalidInputError(f"{what} {path} does not exist")
    with contextlib.suppress(DetectkitError, ValueError, OSError):
        from detectkit.dataset import Dataset

        ds = Dataset.read(path)
        files = [r.path for r in ds.images if r.path is not None and Path(r.path).is_file()]
        if files:
            return [Path(p) for p in files]
    if path.is_dir():
        found = list_images(path, recursive=True)
        if found:
            return found
    raise InvalidInputError(f"{what} {path}: no readable images found (a dataset, a class-folder tree or a folder)")


def _pick(paths: Sequence[Path], n: int, seed: int = 0) -> list[Path]:
    if len(paths) <= n:
        return list(paths)
    idx = np.random.default_rng(seed).choice(len(paths), n, replace=False)
    return [paths[i] for i in sorted(idx.tolist())]


def _detector_inputs(paths: Sequence[Path], imgsz: int) -> list[np.ndarray]:
    from detectkit.image import letterbox, load_image, normalize

    return [normalize(letterbox(load_image(p), (imgsz, imgsz), auto=False).image)[None] for p in paths]


def classifier_input(image: np.ndarray, pre: Any) -> np.ndarray:
    """The float32 ``(3, crop, crop)`` network input of a BGR image, as ``Classifier`` builds it."""
    import torch
    from torchvision.transforms import functional as tvf

    bgr = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    x = tvf.resize(bgr, [pre.resize_size], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
    x = tvf.convert_image_dtype(tvf.center_crop(x, [pre.crop_size, pre.crop_size]).flip(0), torch.float)
    return np.asarray(tvf.normalize(x, mean=list(pre.mean), std=list(pre.std)).numpy(), dtype=np.float32)


# ---------------------------------------------------------------------------------------- writers
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging

    loggers = [logging.getLogger(n) for n in ("nncf", "ultralytics", "onnxruntime", "")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        # NNCF's progress bars and exporters' chatter go to stderr: stdout may carry --json output
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _classifier_onnx(clf: Any, target: Path) -> Path:
    import onnx
    import torch

    from detectkit.models.exported import classifier_metadata

    size = clf.preprocess.crop_size
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            clf.model.float().eval(),
            (torch.zeros(1, 3, size, size),),
            str(target),
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    meta = classifier_metadata(
        dict(clf.names),
        resize_size=clf.preprocess.resize_size,
        crop_size=size,
        mean=clf.preprocess.mean,
        std=clf.preprocess.std,
        architecture=clf.architecture,
    )
    proto = onnx.load(str(target))
    for key, value in meta.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(proto, str(target))
    return target


def _copy_metadata(src: Path, dst: Path) -> None:
    import onnx

    from detectkit.models.openvino_runtime import read_onnx_metadata

    proto = onnx.load(str(dst))
    have = {p.key for p in proto.metadata_props}
    for key, value in read_onnx_metadata(src).items():
        if key not in have:
            prop = proto.metadata_props.add()
            prop.key, prop.value = key, value
    onnx.save(proto, str(dst))


def _detector_ignored_scope(nncf: Any) -> Any:
    """Keep the Detect head's box decoding in float (names from Ultralytics' ONNX graph)."""
    return nncf.IgnoredScope(
        patterns=[r".*/dfl/.*", r".*/model\.\d+/(Add|Sub|Mul|Div|Concat|Split|Sigmoid|Softmax)[^/]*$"],
        types=["Sigmoid", "Softmax"],
        validate=False,
    )


def _openvino_int8(fp32_onnx: Path, samples: list[np.ndarray], target: Path, task: str) -> Path:
    from detectkit.models.openvino_runtime import import_openvino, read_onnx_metadata, save_ir

    ov = import_openvino()
    try:
        import nncf
    except ImportError:
        raise MissingDependencyError("nncf", extra="openvino", purpose="INT8 quantisation for OpenVINO") from None
    model = ov.Core().read_model(str(fp32_onnx))
    with _quiet():
        quantized = nncf.quantize(
            model,
            nncf.Dataset(samples),
            preset=nncf.QuantizationPreset.MIXED if task == "detect" else nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(samples),
            ignored_scope=_detector_ignored_scope(nncf) if task == "detect" else None,
        )
    return save_ir(quantized, target, read_onnx_metadata(fp32_onnx))


def _onnx_int8(fp32_onnx: Path, samples: list[np.ndarray], target: Path, task: str) -> Path:
    try:
        from onnxruntime import quantization as q
    except ImportError:
        raise MissingDependencyError("onnxruntime", extra="onnx", purpose="INT8 quantisation for ONNX") from None
    import onnx

    proto = onnx.load(str(fp32_onnx))
    input_name = proto.graph.input[0].name
    exclude: list[str] = []
    if task == "detect":
        import re

        pattern = re.compile(r".*(/dfl/|/model\.\d+/(Add|Sub|Mul|Div|Concat|Split|Sigmoid|Softmax)[^/]*$)")
        exclude = [n.name for n in proto.graph.node if pattern.match(n.name)]

    class Reader(q.CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    with _quiet():
        q.quantize_static(
            str(fp32_onnx),
            str(target),
            Reader(),
            quant_format=q.QuantFormat.QDQ,
            per_channel=True,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=q.CalibrationMethod.MinMax,
        )
    _copy_metadata(fp32_onnx, target)
    return target


def _openvino_fp32(fp32_onnx: Path, target: Path) -> Path:
    from detectkit.models.openvino_runtime import import_openvino, read_onnx_metadata, save_ir

    ov = import_openvino()
    return save_ir(ov.Core().read_model(str(fp32_onnx)), target, read_onnx_metadata(fp32_onnx))


# ---------------------------------------------------------------------------------------- guard
def _detector_score(model: str | Path, val: Any, imgsz: int, backend: str) -> float:
    from detectkit.models.detector import Detector

    detector = Detector(model, conf=0.001, imgsz=imgsz, backend=backend)
    return float(detector.evaluate(val).map)


def _classifier_score(model: Any, val: Any) -> float:
    from detectkit.image import load_image

    names = {v: k for k, v in model.names.items()}
    unknown = sorted(set(val.classes) - set(names))
    if unknown:
        raise InvalidInputError(
            f"val set {val.source}: classes {unknown[:5]} are not classes of the model "
            f"(it has e.g. {sorted(names)[:5]}); the guard needs a val set labelled with the model's classes"
        )
    want = np.array([names[val.classes[i]] for i in val.labels.tolist()], np.int64)
    got: list[int] = []
    for start in range(0, len(val), 32):
        images = [load_image(p) for p in val.paths[start : start + 32]]
        got += model.predict_proba(images).argmax(1).tolist()
    return float(np.mean(np.array(got) == want)) if len(want) else float("nan")


def _detector_val(source: str | os.PathLike[str]) -> Any:
    from detectkit.dataset import Dataset

    ds = Dataset.read(source)
    missing = [r.file_name for r in ds.images if r.path is None or not Path(r.path).is_file()]
    if missing:
        raise InvalidInputError(
            f"val dataset {source}: {len(missing)} image(s) have no readable file (e.g. {missing[:3]}); "
            "the accuracy guard runs the model on them (for COCO JSON, keep the images beside it)"
        )
    if ds.num_objects == 0:
        raise InvalidInputError(f"val dataset {source} has no labelled objects; the accuracy guard needs labels")
    return ds


# ---------------------------------------------------------------------------------------- main
def export_model(
    model: str | os.PathLike[str],
    *,
    format: str = "onnx",
    int8: bool = False,
    calibration: str | os.PathLike[str] | None = None,
    val: str | os.PathLike[str] | None = None,
    imgsz: int | None = None,
    max_drop: float = 1.0,
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    calibration_size: int = _DEFAULT_CALIBRATION,
    task: str | None = None,
    register: bool = True,
    measure_speed: bool = True,
) -> ExportResult:
    """Export a detector or classifier, optionally INT8 with the accuracy guard.

    Args:
        model: a manifest name (shipped or your own), a ``.pt`` checkpoint (detector) or a
            torchvision state dict / classifier manifest name.
        format: ``"onnx"`` or ``"openvino"`` (IR ``.xml`` + ``.bin``).
        int8: static INT8 quantisation (needs ``calibration``).
        calibration: images for calibration: a detection dataset (any format), a class-folder
            tree / CSV for classifiers, or a plain folder of images.
        val: the labelled set of the accuracy guard (a detection dataset with image files, or a
            class-folder tree / CSV for classifiers); default: ``calibration``.
        imgsz: detector input size (default: the manifest's, else 640). Classifiers keep theirs.
        max_drop: the guard's budget in points (mAP50-95 x 100 for detectors, top-1 % for
            classifiers).
        out: output file (``.onnx`` / ``.xml``); default ``<model>[-int8].<ext>`` in the
            current folder.
        name: register the export in the user manifest under this name (default: the output
            file's stem); loadable with ``Detector(name)`` / ``Classifier(name)``.
        calibration_size: at most this many calibration images (a seeded random subset).
        task: ``"detect"`` or ``"classify"`` when it cannot be inferred (e.g. an Ultralytics ``-cls`` .pt).
        register: write the user-manifest entry.
        measure_speed: for detector INT8 exports, time the INT8 file against the FP32 model on the
            same runtime here (a few seconds) and say which to deploy (``speed_ms``, ``advice``).

    Returns:
        :class:`ExportResult`.

    Raises:
        AccuracyGuardError: the INT8 model lost more than ``max_drop`` points (nothing written).
        InvalidInputError: bad options or inputs (named).
        MissingDependencyError: onnx/onnxruntime (``onnx`` extra) or openvino/nncf (``openvino`` extra).
    """
    from detectkit.models import cache_dir

    format = check_choice(format, "format", FORMATS)
    if not isinstance(int8, bool):
        raise InvalidInputError(f"int8 must be True or False, got {int8!r}")
    if int8 and calibration is None:
        raise InvalidInputError("INT8 export needs calibration images: pass calibration=")
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or not max_drop >= 0:
        raise InvalidInputError(f"max_drop must be a number of points >= 0, got {max_drop!r}")
    if isinstance(calibration_size, bool) or not isinstance(calibration_size, int) or calibration_size < 1:
        raise InvalidInputError(f"calibration_size must be a positive int, got {calibration_size!r}")
    if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 32):
        raise InvalidInputError(f"imgsz must be an int >= 32, got {imgsz!r}")
    task, resolved = _task_of(os.fspath(model), task)
    if resolved.path is None:
        raise ModelLoadError(f"cannot export {os.fspath(model)!r}: no local weights file")
    suffix = ".xml" if format == "openvino" else ".onnx"
    stem = resolved.name or resolved.path.stem
    target = Path(out) if out is not None else Path.cwd() / f"{stem}{'-int8' if int8 else ''}{suffix}"
    if target.suffix.lower() != suffix:
        raise InvalidInputError(f"out must end in {suffix} for format {format!r}, got {target}")
    target.parent.mkdir(parents=True, exist_ok=True)

    size = imgsz or resolved.imgsz or 640
    clf: Any = None
    val_labelled: Any = None
    val_ds: Any = None
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        # 1. the FP32 ONNX graph
        if task == "detect":
            from detectkit.models.detector import onnx_export

            fp32 = onnx_export(resolved.path, imgsz=size, sha256=resolved.sha256, cache=cache_dir())
        else:
            from detectkit.models.classifier import Classifier

            clf = Classifier(os.fspath(model))
            fp32 = _classifier_onnx(clf, work / "fp32.onnx")
        # 2. calibration + quantisation, or a plain conversion
        n_calib = 0
        tmp_out = work / f"model{suffix}"
        if int8:
            assert calibration is not None
            if task == "classify" and val is None:
                with contextlib.suppress(DetectkitError):
                    from detectkit.train.data import read_labelled

                    val_labelled = read_labelled(calibration)
            paths = _pick(_image_paths(calibration, "calibration"), calibration_size)
            if task == "detect":
                samples = _detector_inputs(paths, size)
            else:
                from detectkit.image import load_image

                samples = [classifier_input(load_image(p), clf.preprocess)[None] for p in paths]
            n_calib = len(samples)
            if format == "openvino":
                _openvino_int8(fp32, samples, tmp_out, task)
            else:
                _onnx_int8(fp32, samples, tmp_out, task)
        elif format == "openvino":
            _openvino_fp32(fp32, tmp_out)
        else:
            shutil.copyfile(fp32, tmp_out)
        # 3. the accuracy guard
        metric = reference = score = drop = None
        n_val = 0
        if int8:
            source_val = val if val is not None else calibration
            assert source_val is not None
            if task == "detect":
                val_ds = _detector_val(source_val)
                metric, n_val = "map50_95", len(val_ds)
                reference = _detector_score(resolved.path, val_ds, size, "torch")
                score = _detector_score(tmp_out, val_ds, size, "openvino" if format == "openvino" else "onnx")
            else:
                from detectkit.models.classifier import Classifier
                from detectkit.train.data import read_labelled

                labelled = read_labelled(val) if val is not None else val_labelled
                if labelled is None:
                    raise InvalidInputError(
                        f"the accuracy guard needs a labelled val set (class folders or CSV): pass val=; "
                        f"calibration {calibration} is not one"
                    )
                metric, n_val = "top1", len(labelled)
                reference = _classifier_score(clf, labelled)
                score = _classifier_score(Classifier(tmp_out), labelled)
            drop = (reference - score) * 100
            if not drop <= max_drop + 1e-9:  # (0.825 - 0.815) * 100 is 1.0000000000000009
                raise AccuracyGuardError(
                    f"INT8 export refused: {metric} {score:.4f} vs {reference:.4f} for the source model, a drop of "
                    f"{drop:.2f} points > --max-drop {max_drop:g} ({n_val} val images, {n_calib} calibration images); "
                    "nothing was written. Try more or more representative calibration images, FP32, or a larger "
                    "--max-drop",
                    reference=reference,
                    quantized=score,
                    max_drop=float(max_drop),
                )
        # 4. move into place (the .bin before the .xml that names it)
        if format == "openvino":
            os.replace(tmp_out.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(tmp_out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    speed: dict[str, float] = {}
    advice = None
    if int8 and task == "detect" and measure_speed:
        speed, advice = _speed_advice(target, fp32, format, size)

    entry: dict[str, Any] = {
        "task": task,
        "framework": format,
        "architecture": str(resolved.architecture or (clf.architecture if clf is not None else "yolo")),
        "classes": {str(k): v for k, v in (_names_of(target, task)).items()},
        "imgsz": int(size if task == "detect" else clf.preprocess.crop_size),
        "source": f"detectkit export of {os.fspath(model)} ({format}, {'INT8' if int8 else 'FP32'})",
        "date": datetime.date.today().isoformat(),
        "int8": int8,
    }
    if clf is not None:
        entry["resize_size"] = int(clf.preprocess.resize_size)
    if metric is not None:
        entry["quality"] = {
            "metric": metric,
            "value": score,
            "source_model_value": reference,
            "drop_points": drop,
            "max_drop_points": float(max_drop),
            "val_images": n_val,
            "calibration_images": n_calib,
            "val": os.fspath(val if val is not None else calibration),  # type: ignore[arg-type]
        }
    if speed:
        from detectkit.models.backend_choice import fingerprint

        entry["speed_ms"] = {"int8": speed["int8"], "fp32": speed["fp32"], "measured_on": fingerprint()}
    reg_name = None
    if register:
        from detectkit.models.user_models import register_model

        reg_name = name or target.stem
        register_model(reg_name, target, entry)
    return ExportResult(
        path=target,
        format=format,
        task=task,
        int8=int8,
        name=reg_name,
        metric=metric,
        reference=reference,
        score=score,
        drop_points=drop,
        calibration_images=n_calib,
        val_images=n_val,
        entry=entry,
        speed_ms=speed,
        advice=advice,
    )


def _speed_advice(int8_file: Path, fp32_onnx: Path, format: str, imgsz: int) -> tuple[dict[str, float], str | None]:
    """End-to-end ms of the INT8 file and of the FP32 model on the same runtime, and which to deploy.

    Measured rather than assumed: on CPUs with AMX BF16 OpenVINO runs FP32 models in BF16, and its
    INT8 graph of a SiLU network (yolov8) was slower than that on this project's benchmark machine
    (``benchmarks/bench_export.py``); on CPUs without BF16 INT8 is usually the faster one.
    """
    from detectkit.models.backend_choice import measure_backend

    backend = "openvino" if format == "openvino" else "onnx"
    runtime = "OpenVINO" if format == "openvino" else "onnxruntime"
    try:
        speed = {
            "int8": measure_backend(int8_file, backend, imgsz=imgsz, runs=_SPEED_RUNS),
            "fp32": measure_backend(fp32_onnx, backend, imgsz=imgsz, runs=_SPEED_RUNS),
        }
    except (DetectkitError, RuntimeError, OSError):
        return {}, None
    head = f"speed here ({runtime}, end to end per image): INT8 {speed['int8']:.1f} ms, FP32 {speed['fp32']:.1f} ms"
    if speed["int8"] < speed["fp32"]:
        return speed, f"{head}; INT8 is {speed['fp32'] / speed['int8']:.2f}x faster: deploy the INT8 file"
    return speed, (
        f"{head}; FP32 is faster on this machine (CPUs with AMX/AVX-512 BF16 run OpenVINO FP32 models in BF16): "
        f"deploy the FP32 model (export without --int8, or Detector(MODEL, backend='auto')) unless you target "
        "another CPU"
    )


def _names_of(path: Path, task: str) -> dict[int, str]:
    import ast
    import json

    from detectkit.models.openvino_runtime import read_metadata

    meta = read_metadata(path)
    raw = meta.get("names", "{}")
    try:
        doc = json.loads(raw) if task == "classify" else ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return {}
    return {int(k): str(v) for k, v in dict(doc).items()}
